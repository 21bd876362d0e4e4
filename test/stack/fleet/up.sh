# The fleet: two more control planes, clusters b and c, beside the main one (a) — an etcd, an API server and a
# controller-manager each, from the binaries the main cluster runs; no scheduler, no node. A rotator per
# cluster meets the others in the shared store, so the clusters must be as separate as real ones: own etcd,
# own service-account key pair and issuer (a token of one cluster is refused by the others), own audit log;
# one CA, so one admin certificate reaches all three.
#
# Sourced by up.sh, which calls fleet_start early (the clusters come up while the rest of the stack does) and
# fleet_wait before it writes the env file. Run on its own (bash test/stack/fleet/up.sh) it adds the fleet to
# a running stack that lacks it, and adds the fleet's lines to the stack's env file.

# The controllers: enough for what the rotator meets — `default` ServiceAccounts, namespace deletion, owner
# references, the root CA ConfigMap. A caller may set CLUSTER_CONTROLLERS, CLUSTER_KCM_QPS and CLUSTER_DIR
# (the bench cluster does: bench-cluster.sh).
FLEET_CONTROLLERS=serviceaccount-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller

fleet_cluster() { # fleet_cluster NAME: etcd, then API server, then controller-manager, each waited for
  local n=$1 v
  v="PORT_ETCD_${n^^}" && local etcd=${!v}
  v="PORT_ETCD_PEER_${n^^}" && local peer=${!v}
  v="PORT_APISERVER_${n^^}" && local port=${!v}
  local dir="${CLUSTER_DIR:-$FLEET_DIR}/$n" issuer="https://$STACK_IP:$port"
  local qps=${CLUSTER_KCM_QPS:-200}
  mkdir -p "$dir"
  if [[ ! -f $PKI/sa-$n.pub ]]; then
    openssl genrsa -out "$PKI/sa-$n.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa-$n.key" -pubout -out "$PKI/sa-$n.pub" 2>/dev/null
  fi
  start "etcd-$n" "$STACK_BIN/etcd-$ETCD_VERSION" --name "stack-$n" --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd" --advertise-client-urls "http://127.0.0.1:$etcd" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "stack-$n=http://127.0.0.1:$peer" --unsafe-no-fsync=true --log-level=warn
  wait_for "etcd-$n" 30 bash -c "curl -fsS http://127.0.0.1:$etcd/health | grep -q '\"health\":\"true\"'"

  # The main API server's admission and audit configuration (up.sh); the issuer is the API server's own URL,
  # as on managed clusters, whose OIDC discovery it serves.
  start "kube-apiserver-$n" "$STACK_BIN/kube-apiserver-$KUBE_VERSION" \
    --etcd-servers="http://127.0.0.1:$etcd" --bind-address="$STACK_IP" --advertise-address="$STACK_IP" \
    --secure-port="$port" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --service-account-issuer="$issuer" --api-audiences="$issuer" \
    --service-account-key-file="$PKI/sa-$n.pub" --service-account-signing-key-file="$PKI/sa-$n.key" \
    --service-cluster-ip-range=$SERVICE_CIDR --authorization-mode=RBAC \
    --enable-admission-plugins=PodNodeSelector --admission-control-config-file="$STACK_RUN/admission.yaml" \
    --profiling=false --v=0 \
    --audit-policy-file="$STACK_RUN/audit-policy.yaml" --audit-log-path="$STACK_RUN/logs/audit-$n.log" \
    --audit-log-maxsize=500 --audit-log-maxbackup=2 --audit-log-format=json
  kubeconfig "$dir/admin.kubeconfig" admin "$port" "stack-$n"
  kubeconfig "$dir/controller-manager.kubeconfig" controller-manager "$port" "stack-$n"
  wait_for "kube-apiserver-$n" 90 "$KUBECTL" --kubeconfig "$dir/admin.kubeconfig" get --raw /readyz

  start "kube-controller-manager-$n" "$STACK_BIN/kube-controller-manager-$KUBE_VERSION" \
    --kubeconfig="$dir/controller-manager.kubeconfig" --controllers="${CLUSTER_CONTROLLERS:-$FLEET_CONTROLLERS}" \
    --service-account-private-key-file="$PKI/sa-$n.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --concurrent-namespace-syncs=10 \
    --kube-api-qps="$qps" --kube-api-burst=$((2 * qps)) --v=0
  wait_for "kube-controller-manager-$n" 60 \
    "$KUBECTL" --kubeconfig "$dir/admin.kubeconfig" -n default get serviceaccount default
}

FLEET_JOBS=()
fleet_start() { # each cluster in a background job of its own
  local n
  for n in "${FLEET_CLUSTERS[@]}"; do
    fleet_cluster "$n" &
    FLEET_JOBS+=($!)
  done
}
fleet_wait() {
  local j
  for j in "${FLEET_JOBS[@]}"; do wait "$j" || die "a cluster of the fleet did not start (its log is above)"; done
  FLEET_JOBS=()
}

fleet_env() { # the env file's lines about the clusters (only the main one when the fleet is off)
  local n v clusters="a:$KUBECONFIG_FILE"
  echo "export REGCRED_STACK_FLEET='$STACK_FLEET'"
  if [[ $STACK_FLEET == 1 ]]; then
    for n in "${FLEET_CLUSTERS[@]}"; do
      v="PORT_APISERVER_${n^^}"
      echo "export REGCRED_STACK_KUBECONFIG_${n^^}='$FLEET_DIR/$n/admin.kubeconfig'"
      echo "export REGCRED_STACK_APISERVER_${n^^}='https://$STACK_IP:${!v}'"
      echo "export REGCRED_STACK_AUDIT_LOG_${n^^}='$STACK_RUN/logs/audit-$n.log'"
      clusters+=" $n:$FLEET_DIR/$n/admin.kubeconfig"
    done
  fi
  echo "export REGCRED_STACK_CLUSTERS='$clusters'"
}

fleet_rewrite_env() { # replaces the fleet's lines in the running stack's env file (a rename: readers see either)
  { grep -v -E '^export REGCRED_STACK_(FLEET|CLUSTERS|(KUBECONFIG|APISERVER|AUDIT_LOG)_[A-Z])=' "$STACK_RUN/env"; fleet_env; } \
    >"$STACK_RUN/env.fleet"
  mv "$STACK_RUN/env.fleet" "$STACK_RUN/env"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then # run on its own: add the fleet to the running stack
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  source "$HERE/lib.sh"
  [[ -f $STACK_RUN/env ]] || die "the stack is not running: start it with 'npm run stack:up' (it starts the fleet too)"
  for c in "${FLEET_COMPONENTS[@]}"; do
    pid_alive "$c" && die "$c is already running; 'bash $HERE/fleet/down.sh' stops the fleet"
  done
  for n in "${FLEET_CLUSTERS[@]}"; do
    for v in "PORT_ETCD_${n^^}" "PORT_ETCD_PEER_${n^^}"; do
      ! port_open 127.0.0.1 "${!v}" || die "port 127.0.0.1:${!v} is already in use"
    done
    v="PORT_APISERVER_${n^^}" && { ! port_open "$STACK_IP" "${!v}" || die "port $STACK_IP:${!v} is already in use"; }
  done
  STACK_FLEET=1
  t0=$SECONDS
  fleet_start
  fleet_wait
  fleet_rewrite_env
  log "fleet up in $((SECONDS - t0))s; its lines are in $STACK_RUN/env"
fi
