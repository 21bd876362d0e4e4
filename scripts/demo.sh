#!/usr/bin/env bash
# `npm run demo`: the rotator's main job, end to end, on the local stack and its node.
#  1. start the stack (building what is missing) and build the CLI (dist/, which the demo runs); 2. three
#  namespaces whose `default` ServiceAccounts already use a foreign pull secret; 3. registry credentials in
#  OpenBao; 4. plan + provision, and a pod on the node pulling the private image with the provisioned secret;
#  5. new credentials in OpenBao, rotate, revoke the old credential at the registry: the running pod's
#  container restarts and pulls again, a new pod pulls with the new secret; 6. `status` and `doctor`; 7. the
#  rotator in the cluster: our image, deploy/, a Job from the CronJob (scripts/demo-in-cluster.ts;
#  DEMO_IN_CLUSTER=0 skips it).
# Leaves the stack running if it was running before; otherwise stops it (DEMO_KEEP_STACK=1 keeps it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source test/stack/lib.sh
[[ -x node_modules/.bin/node ]] || die "run 'npm ci' first"

started=0
if ! bash test/stack/status.sh >/dev/null 2>&1; then
  bash test/stack/up.sh
  started=1
fi
cleanup() { [[ $started == 1 && ${DEMO_KEEP_STACK:-0} != 1 ]] && bash test/stack/down.sh >/dev/null 2>&1; true; }
trap cleanup EXIT
source "$STACK_RUN/env"
K="$REGCRED_STACK_KUBECTL"
NODE="$ROOT/node_modules/.bin/node"
# The demo runs the built CLI (dist/, what the package's bin and the image run), built here first.
rotator() { "$NODE" "$ROOT/dist/cli/main.js" --config "$DEMO/config.yaml" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
bao() { curl -fsS --cacert "$REGCRED_STACK_CA" -H "X-Vault-Token: $REGCRED_STACK_BAO_ROOT_TOKEN" "$@"; }
pod_line() { # pod_line NS POD: phase, restarts, image, pull secrets
  "$K" -n "$1" get pod "$2" -o jsonpath='{.metadata.namespace}/{.metadata.name}: {.status.phase}, restarts {.status.containerStatuses[0].restartCount}, image {.spec.containers[0].image}, pull secrets [{.spec.imagePullSecrets[*].name}]{"\n"}'
}
wait_running() { # wait_running NS POD [RESTARTS]
  for _ in $(seq 1 150); do
    local s r
    s="$("$K" -n "$1" get pod "$2" -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}' 2>/dev/null || true)"
    r="$("$K" -n "$1" get pod "$2" -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null || true)"
    [[ -n $s && ${r:-0} -ge ${3:-0} ]] && return 0
    sleep 0.2
  done
  "$K" -n "$1" describe pod "$2" | tail -15
  die "pod $1/$2 did not start"
}
IMAGE="$REGCRED_STACK_REGISTRY_BASIC/regcred/busybox:1"

"$NODE" scripts/build.ts
DEMO="$(mktemp -d /tmp/regcred-demo-XXXXXX)"
say "namespaces demo-web, demo-api, demo-batch (label team=demo), each with a foreign pull secret 'team-mirror'"
for ns in demo-web demo-api demo-batch; do
  "$K" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  "$K" create namespace "$ns" >/dev/null
  "$K" label namespace "$ns" team=demo >/dev/null
  # Pods of this namespace may run on the stack's node (see test/stack/up.sh, PodNodeSelector).
  "$K" annotate namespace "$ns" scheduler.alpha.kubernetes.io/node-selector=regcred-stack.io/node=true >/dev/null
  until "$K" -n "$ns" get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
  "$K" -n "$ns" create secret docker-registry team-mirror --docker-server=mirror.example.com \
    --docker-username=mirror --docker-password=not-a-real-password >/dev/null
  "$K" -n "$ns" patch serviceaccount default --type=merge -p '{"imagePullSecrets":[{"name":"team-mirror"}]}' >/dev/null
done
"$K" create namespace regcred-rotator --dry-run=client -o yaml | "$K" apply -f - >/dev/null

say "registry user demo-one (Basic registry $REGCRED_STACK_REGISTRY_BASIC), its credentials in OpenBao (KV v2 secret/regcred/demo)"
PASS1="$(rand 20)" PASS2="$(rand 20)"
bash test/stack/registry-user.sh add demo-one <<<"$PASS1"
bao -X POST -d "{\"data\":{\"username\":\"demo-one\",\"password\":\"$PASS1\"}}" \
  "$REGCRED_STACK_BAO_ADDR/v1/secret/data/regcred/demo" >/dev/null
cat >"$DEMO/config.yaml" <<YAML
stores:
  openbao:
    type: vault
    address: $REGCRED_STACK_BAO_ADDR
    auth: { method: token, tokenEnv: VAULT_TOKEN }
targets:
  - name: demo
    store: openbao
    registry: $REGCRED_STACK_REGISTRY_BASIC
    credentials:
      json: { key: regcred/demo } # username + password fields of one KV secret
    secretName: regcred
    namespaces:
      selector: team=demo
      exclude: [demo-batch]
# One node here: it has the new data within seconds (test/node/zero-failed-pulls.test.ts measures 5 s);
# the default, 30 s, leaves margin for many busy nodes.
rotation: { retainSuperseded: "0", settleSeconds: 5 }
YAML
export VAULT_TOKEN="$REGCRED_STACK_BAO_ROOT_TOKEN"
cat "$DEMO/config.yaml"

say "regcred-rotator plan   (what would happen; nothing is written)"
rotator plan --log-level warn

say "regcred-rotator --rotate-now   (provision)"
rotator --rotate-now --summary --log-level warn

say "a pod on the node pulls the private image $IMAGE with the provisioned secret"
"$K" -n demo-web run web --image="$IMAGE" --image-pull-policy=Always --restart=Always -- sleep 36000 >/dev/null
wait_running demo-web web
pod_line demo-web web

say "new credentials (registry user demo-two) in OpenBao; rotate"
bash test/stack/registry-user.sh add demo-two <<<"$PASS2"
bao -X POST -d "{\"data\":{\"username\":\"demo-two\",\"password\":\"$PASS2\"}}" \
  "$REGCRED_STACK_BAO_ADDR/v1/secret/data/regcred/demo" >/dev/null
rotator --rotate-now --summary --verbose --log-level warn
for ns in demo-web demo-api demo-batch; do
  echo "$ns: default SA imagePullSecrets = [$("$K" -n "$ns" get serviceaccount default -o jsonpath='{.imagePullSecrets[*].name}')]"
done

say "the old credential (demo-one) is revoked at the registry; pods keep pulling"
bash test/stack/registry-user.sh revoke demo-one
# Kill the running container: the kubelet restarts it and, with imagePullPolicy Always, pulls again with the
# pod's original pull secret — the old name, which the rotator kept and gave the new credentials.
cid="$("$K" -n demo-web get pod web -o jsonpath='{.status.containerStatuses[0].containerID}')"
ctr --address "$REGCRED_STACK_CONTAINERD" -n k8s.io tasks kill -s KILL "${cid#containerd://}" >/dev/null
wait_running demo-web web 1
pod_line demo-web web
"$K" -n demo-web run web-2 --image="$IMAGE" --image-pull-policy=Always --restart=Always -- sleep 36000 >/dev/null
wait_running demo-web web-2
pod_line demo-web web-2
"$K" -n demo-web get events --field-selector reason=Pulled -o custom-columns=POD:.involvedObject.name,PULLED:.message | sed 's/Image size.*//'

say "regcred-rotator status"
rotator status

say "regcred-rotator doctor -n demo-web"
rotator doctor -n demo-web || true

if [[ ${DEMO_IN_CLUSTER:-1} != 0 ]]; then
  say "in the cluster: our image, deploy/, a Job from the CronJob   (DEMO_IN_CLUSTER=0 skips this step)"
  "$NODE" scripts/demo-in-cluster.ts
fi

echo
echo "demo done. Config: $DEMO/config.yaml. $([[ $started == 1 && ${DEMO_KEEP_STACK:-0} != 1 ]] && echo 'Stopping the stack it started (DEMO_KEEP_STACK=1 keeps it).' || echo 'The stack keeps running: npm run stack:down stops it.')"
