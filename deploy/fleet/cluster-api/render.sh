#!/usr/bin/env bash
# Cluster API: regcred-rotator for one workload cluster, as a ClusterResourceSet and the ConfigMap it applies
# (docs/fleet.md). A ClusterResourceSet applies the same objects to every cluster it selects and substitutes
# nothing, so each cluster gets its own: deploy/fleet/kustomize rendered with the cluster's id, and a
# ClusterResourceSet selecting the Cluster labelled regcred-rotator.io/cluster-id=<id>.
#   deploy/fleet/cluster-api/render.sh prod-eu-1 [namespace of the Cluster object] | kubectl apply -f -
#   kubectl label cluster prod-eu-1 regcred-rotator.io/cluster-id=prod-eu-1
set -euo pipefail
id="${1:?usage: render.sh <cluster id> [namespace]}"
ns="${2:-default}"
[[ "$id" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || {
  echo "render.sh: cluster id \"$id\" must be a DNS label" >&2
  exit 2
}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl="${KUBECTL:-kubectl}"

install="$("$kubectl" kustomize "$here/../kustomize" | sed "s/\${CLUSTER_ID}/$id/g")"
"$kubectl" create configmap "regcred-rotator-$id" --namespace "$ns" \
  --from-literal=install.yaml="$install" --dry-run=client -o yaml
cat <<YAML
---
apiVersion: addons.cluster.x-k8s.io/v1beta1
kind: ClusterResourceSet
metadata:
  name: regcred-rotator-$id
  namespace: $ns
spec:
  strategy: Reconcile
  clusterSelector:
    matchLabels:
      regcred-rotator.io/cluster-id: $id
  resources:
    - kind: ConfigMap
      name: regcred-rotator-$id
YAML
