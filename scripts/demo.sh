#!/usr/bin/env bash
# `npm run demo`: the rotator's main job, end to end, on the local stack.
#  1. start the stack (building what is missing), 2. create three namespaces whose `default`
#  ServiceAccounts already use a foreign pull secret, and a running pod, 3. put registry credentials in
#  OpenBao, 4. plan + rotate, 5. change the credentials in OpenBao, rotate again, 6. print `status`.
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
rotator() { "$NODE" "$ROOT/src/cli/main.ts" --config "$DEMO/config.yaml" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
bao() { curl -fsS --cacert "$REGCRED_STACK_CA" -H "X-Vault-Token: $REGCRED_STACK_BAO_ROOT_TOKEN" "$@"; }

DEMO="$(mktemp -d /tmp/regcred-demo-XXXXXX)"
say "namespaces demo-web, demo-api, demo-batch (label team=demo), each with a foreign pull secret 'team-mirror'"
for ns in demo-web demo-api demo-batch; do
  "$K" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  "$K" create namespace "$ns" >/dev/null
  "$K" label namespace "$ns" team=demo >/dev/null
  until "$K" -n "$ns" get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
  "$K" -n "$ns" create secret docker-registry team-mirror --docker-server=mirror.example.com \
    --docker-username=mirror --docker-password=not-a-real-password >/dev/null
  "$K" -n "$ns" patch serviceaccount default --type=merge -p '{"imagePullSecrets":[{"name":"team-mirror"}]}' >/dev/null
done
"$K" create namespace regcred-rotator --dry-run=client -o yaml | "$K" apply -f - >/dev/null

say "credentials in OpenBao (KV v2 secret/regcred/demo), config at $DEMO/config.yaml"
bao -X POST -d "{\"data\":{\"username\":\"$REGCRED_STACK_REGISTRY_USER\",\"password\":\"$REGCRED_STACK_REGISTRY_PASSWORD\"}}" \
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
rotation: { retainSuperseded: "0" }
YAML
export VAULT_TOKEN="$REGCRED_STACK_BAO_ROOT_TOKEN"
cat "$DEMO/config.yaml"

say "regcred-rotator plan   (what would happen; nothing is written)"
rotator plan --log-level warn

say "regcred-rotator --rotate-now   (provision)"
rotator --rotate-now --summary --log-level warn
"$K" -n demo-web run web --image="$REGCRED_STACK_REGISTRY_BASIC/demo/web:1" --restart=Never >/dev/null
echo "pod demo-web/web created under the ServiceAccount: imagePullSecrets=$("$K" -n demo-web get pod web -o jsonpath='{.spec.imagePullSecrets[*].name}')"

say "new credentials in OpenBao, rotate again"
bao -X POST -d "{\"data\":{\"username\":\"$REGCRED_STACK_REGISTRY_USER2\",\"password\":\"$REGCRED_STACK_REGISTRY_PASSWORD2\"}}" \
  "$REGCRED_STACK_BAO_ADDR/v1/secret/data/regcred/demo" >/dev/null
rotator --rotate-now --summary --verbose --log-level warn
for ns in demo-web demo-api demo-batch; do
  echo "$ns: default SA imagePullSecrets = [$("$K" -n "$ns" get serviceaccount default -o jsonpath='{.imagePullSecrets[*].name}')]"
done

say "regcred-rotator status"
rotator status

say "regcred-rotator doctor -n demo-web"
rotator doctor -n demo-web || true
echo
echo "demo done. Config: $DEMO/config.yaml. $([[ $started == 1 && ${DEMO_KEEP_STACK:-0} != 1 ]] && echo 'Stopping the stack it started (DEMO_KEEP_STACK=1 keeps it).' || echo 'The stack keeps running: npm run stack:down stops it.')"
