#!/usr/bin/env bash
# Starts the real test stack on 127.0.0.1 (building what is missing), waits until each program is ready,
# and writes $STACK_RUN/env. Running it again while the stack runs is a no-op.
# Components: etcd, kube-apiserver, kube-controller-manager, OpenBao, docker-registry (Basic and Bearer),
# the registry token server, Pushgateway, and lowkey-vault when its jar is available.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

COMPONENTS=(etcd kube-apiserver kube-controller-manager openbao token-server registry-basic registry-bearer pushgateway lowkey-vault)

all_running=1
for c in "${COMPONENTS[@]}"; do
  [[ $c == lowkey-vault && ! -f $STACK_RUN/lowkey-vault.enabled ]] && continue
  pid_alive "$c" || all_running=0
done
if [[ $all_running == 1 && -f $STACK_RUN/env ]]; then
  log "stack already running (env: $STACK_RUN/env); nothing to do"
  exit 0
fi
if ls "$STACK_RUN"/*.pid >/dev/null 2>&1; then
  log "part of a previous stack is still running; stopping it first"
  bash "$HERE/down.sh"
fi

[[ -x $STACK_NODE ]] || die "node_modules is missing: run 'npm ci' first (the stack's token server runs on the project's Node 24)"
bash "$HERE/build.sh" all

for p in $PORT_ETCD $PORT_ETCD_PEER $PORT_APISERVER $PORT_BAO $PORT_BAO_HTTP $PORT_REGISTRY_BASIC \
  $PORT_REGISTRY_BEARER $PORT_TOKEN_SERVER $PORT_PUSHGATEWAY; do
  port_open "$p" && die "port 127.0.0.1:$p is already in use by another program (see: ss -ltnp 'sport = :$p'); stop it or free the port, then retry"
done

rm -rf "$STACK_RUN" && mkdir -p "$STACK_RUN/logs"
bash "$HERE/pki.sh"
STARTED_AT=$(date +%s)

start() { # start NAME CMD... : runs CMD in its own session, records its PID
  local name=$1; shift
  setsid "$@" >"$STACK_RUN/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STACK_RUN/$name.pid"
}
wait_for() { # wait_for NAME SECONDS CHECK...
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name"; then
      tail -n 30 "$STACK_RUN/logs/$name.log" >&2
      die "$name exited during start-up (log above, full log: $STACK_RUN/logs/$name.log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 30 "$STACK_RUN/logs/$name.log" >&2
      die "$name not ready after ${secs}s (log above, full log: $STACK_RUN/logs/$name.log)"
    fi
    sleep 0.2
  done
  log "$name ready"
}
rand() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "${1:-24}"; }

# ---- etcd -------------------------------------------------------------------------------------------
start etcd "$STACK_BIN/etcd-$ETCD_VERSION" --name stack --data-dir "$STACK_RUN/etcd" \
  --listen-client-urls "http://127.0.0.1:$PORT_ETCD" --advertise-client-urls "http://127.0.0.1:$PORT_ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
  --initial-cluster "stack=http://127.0.0.1:$PORT_ETCD_PEER" --unsafe-no-fsync=true --log-level=warn \
  --quota-backend-bytes=4294967296
wait_for etcd 30 bash -c "curl -fsS http://127.0.0.1:$PORT_ETCD/health | grep -q '\"health\":\"true\"'"

# ---- kube-apiserver ---------------------------------------------------------------------------------
ADMIN_TOKEN="$(rand 32)"
printf '%s,stack-admin,stack-admin,"system:masters"\n' "$ADMIN_TOKEN" >"$PKI/tokens.csv"
start kube-apiserver "$STACK_BIN/kube-apiserver-$KUBE_VERSION" \
  --etcd-servers="http://127.0.0.1:$PORT_ETCD" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
  --secure-port=$PORT_APISERVER --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC --endpoint-reconciler-type=none \
  --profiling=false --v=0
KUBECONFIG_FILE="$STACK_RUN/admin.kubeconfig"
kubeconfig() { # kubeconfig FILE USER-CERT-BASENAME
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: stack
  cluster:
    server: https://127.0.0.1:$PORT_APISERVER
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: stack
  context: { cluster: stack, user: $2, namespace: default }
current-context: stack
KC
}
kubeconfig "$KUBECONFIG_FILE" admin
kubeconfig "$STACK_RUN/controller-manager.kubeconfig" controller-manager
KUBECTL="$STACK_BIN/kubectl-$KUBE_VERSION"
wait_for kube-apiserver 90 "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz

# ---- kube-controller-manager ------------------------------------------------------------------------
start kube-controller-manager "$STACK_BIN/kube-controller-manager-$KUBE_VERSION" \
  --kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --controllers=serviceaccount-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=true \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --concurrent-namespace-syncs=10 \
  --kube-api-qps=200 --kube-api-burst=400 --v=0
wait_for kube-controller-manager 60 "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" -n default get serviceaccount default

# ---- OpenBao (dev server: KV v2 at secret/, in memory; plain HTTP dev listener + a TLS listener) --------
mkdir -p "$STACK_RUN/openbao"
cat >"$STACK_RUN/openbao/tls.hcl" <<HCL
listener "tcp" {
  address       = "127.0.0.1:$PORT_BAO"
  tls_cert_file = "$PKI/serving.crt"
  tls_key_file  = "$PKI/serving.key"
}
HCL
start openbao env HOME="$STACK_RUN/openbao" "$STACK_BIN/bao-$OPENBAO_VERSION" server -dev -dev-root-token-id=root \
  -dev-listen-address="127.0.0.1:$PORT_BAO_HTTP" -config="$STACK_RUN/openbao/tls.hcl" -log-level=warn
wait_for openbao 30 curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT_BAO/v1/sys/health"

# ---- registry token server and docker-registry (htpasswd Basic, and Bearer via the token server) ---------
# Two valid registry users, so tests can rotate from one real credential to another.
REGISTRY_USER=regcred
REGISTRY_PASSWORD="$(rand 20)"
REGISTRY_USER2=regcred-next
REGISTRY_PASSWORD2="$(rand 20)"
mkdir -p "$STACK_RUN/registry"
python3 -W ignore - "$REGISTRY_USER" "$REGISTRY_PASSWORD" "$REGISTRY_USER2" "$REGISTRY_PASSWORD2" >"$STACK_RUN/registry/htpasswd" <<'PY'
import crypt, sys
a = sys.argv[1:]
for user, pw in zip(a[0::2], a[1::2]):
    print(f"{user}:{crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))}")
PY
printf '{"%s":"%s","%s":"%s"}\n' "$REGISTRY_USER" "$REGISTRY_PASSWORD" "$REGISTRY_USER2" "$REGISTRY_PASSWORD2" >"$STACK_RUN/registry/users.json"
TOKEN_ISSUER=regcred-stack-token-server
TOKEN_SERVICE=regcred-stack-registry
start token-server "$STACK_NODE" "$HERE/token-server.ts" "$PORT_TOKEN_SERVER" "$PKI" "$STACK_RUN/registry/users.json" \
  "$TOKEN_ISSUER" "$TOKEN_SERVICE"
wait_for token-server 20 curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT_TOKEN_SERVER/healthz"

registry_config() { # registry_config NAME PORT AUTH-YAML
  mkdir -p "$STACK_RUN/registry/$1"
  cat >"$STACK_RUN/registry/$1/config.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $STACK_RUN/registry/$1/data } }
http:
  addr: 127.0.0.1:$2
  secret: $(rand 32)
  tls: { certificate: $PKI/serving.crt, key: $PKI/serving.key }
auth:
$3
YML
}
registry_config basic $PORT_REGISTRY_BASIC "  htpasswd: { realm: regcred-stack, path: $STACK_RUN/registry/htpasswd }"
registry_config bearer $PORT_REGISTRY_BEARER "  token:
    realm: https://127.0.0.1:$PORT_TOKEN_SERVER/token
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $PKI/ca.crt"
start registry-basic "$STACK_BIN/docker-registry" serve "$STACK_RUN/registry/basic/config.yml"
start registry-bearer "$STACK_BIN/docker-registry" serve "$STACK_RUN/registry/bearer/config.yml"
registry_ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "https://127.0.0.1:$1/v2/")" == 401 ]]; }
wait_for registry-basic 20 registry_ready $PORT_REGISTRY_BASIC
wait_for registry-bearer 20 registry_ready $PORT_REGISTRY_BEARER

# ---- Pushgateway --------------------------------------------------------------------------------------
start pushgateway "$STACK_BIN/pushgateway" --web.listen-address="127.0.0.1:$PORT_PUSHGATEWAY" --log.level=warn
wait_for pushgateway 20 curl -fsS "http://127.0.0.1:$PORT_PUSHGATEWAY/-/ready"

# ---- lowkey-vault (Azure Key Vault emulator), only when its jar could be had --------------------------
LOWKEY_JAR="${REGCRED_LOWKEY_JAR:-$STACK_BIN/lowkey-vault-app-$LOWKEY_VERSION.jar}"
if [[ -f $LOWKEY_JAR ]]; then
  touch "$STACK_RUN/lowkey-vault.enabled"
  start lowkey-vault java -jar "$LOWKEY_JAR" --server.port=$PORT_LOWKEY --app.token.port=$PORT_LOWKEY_TOKEN
  wait_for lowkey-vault 120 curl -fsS -k "https://127.0.0.1:$PORT_LOWKEY/ping"
  curl -fsS "http://127.0.0.1:$PORT_LOWKEY_TOKEN/metadata/default-cert/lowkey-vault.p12" -o "$STACK_RUN/lowkey.p12"
  openssl pkcs12 -legacy -in "$STACK_RUN/lowkey.p12" -nokeys -passin pass:changeit 2>/dev/null |
    sed -n '/BEGIN CERT/,/END CERT/p' >>"$PKI/ca-bundle.crt"
else
  log "lowkey-vault: no jar (see README, 'Azure Key Vault emulator'); Azure Key Vault integration tests will be skipped"
fi

# ---- env file ------------------------------------------------------------------------------------------
cat >"$STACK_RUN/env.tmp" <<ENV
# Written by test/stack/up.sh; source it to talk to the stack.
export REGCRED_STACK_RUN='$STACK_RUN'
export KUBECONFIG='$KUBECONFIG_FILE'
export REGCRED_STACK_KUBECTL='$KUBECTL'
export REGCRED_STACK_APISERVER='https://127.0.0.1:$PORT_APISERVER'
export REGCRED_STACK_ADMIN_TOKEN='$ADMIN_TOKEN'
export REGCRED_STACK_CA='$PKI/ca.crt'
export NODE_EXTRA_CA_CERTS='$PKI/ca-bundle.crt'
export REGCRED_STACK_BAO='$STACK_BIN/bao-$OPENBAO_VERSION'
export REGCRED_STACK_BAO_ADDR='https://127.0.0.1:$PORT_BAO'
export REGCRED_STACK_BAO_HTTP_ADDR='http://127.0.0.1:$PORT_BAO_HTTP'
export REGCRED_STACK_BAO_ROOT_TOKEN='root'
export REGCRED_STACK_REGISTRY_BASIC='127.0.0.1:$PORT_REGISTRY_BASIC'
export REGCRED_STACK_REGISTRY_BEARER='127.0.0.1:$PORT_REGISTRY_BEARER'
export REGCRED_STACK_TOKEN_SERVER='https://127.0.0.1:$PORT_TOKEN_SERVER'
export REGCRED_STACK_REGISTRY_USER='$REGISTRY_USER'
export REGCRED_STACK_REGISTRY_PASSWORD='$REGISTRY_PASSWORD'
export REGCRED_STACK_REGISTRY_USER2='$REGISTRY_USER2'
export REGCRED_STACK_REGISTRY_PASSWORD2='$REGISTRY_PASSWORD2'
export REGCRED_STACK_PUSHGATEWAY='http://127.0.0.1:$PORT_PUSHGATEWAY'
ENV
if [[ -f $STACK_RUN/lowkey-vault.enabled ]]; then
  cat >>"$STACK_RUN/env.tmp" <<ENV
export REGCRED_STACK_LOWKEY_URL='https://localhost:$PORT_LOWKEY'
export REGCRED_STACK_LOWKEY_TOKEN_URL='http://127.0.0.1:$PORT_LOWKEY_TOKEN'
ENV
fi
mv "$STACK_RUN/env.tmp" "$STACK_RUN/env"
log "stack up in $(($(date +%s) - STARTED_AT))s; env: $STACK_RUN/env  (source it, or use: bash test/stack/with-env.sh CMD)"
