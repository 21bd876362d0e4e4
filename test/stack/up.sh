#!/usr/bin/env bash
# Starts the real test stack (building what is missing), waits until each program is ready, and writes
# $STACK_RUN/env. Running it again while the stack runs is a no-op. Components: STACK_COMPONENTS in lib.sh;
# the Azure doubles (azure/up.sh, acr/up.sh), Gitea (gitea/up.sh), the Harbor double (harbor/up.sh), the node
# (node/up.sh) and the fleet's clusters b and c (fleet/up.sh) have files of their own.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
source "$HERE/fleet/up.sh"

all_running=1
for c in "${STACK_COMPONENTS[@]}"; do pid_alive "$c" || all_running=0; done
if [[ $all_running == 1 && -f $STACK_RUN/env ]]; then
  log "stack already running (env: $STACK_RUN/env); nothing to do"
  exit 0
fi
# A stack started without the fleet (REGCRED_STACK_FLEET=0, or by an up.sh that had none) gets it added, not
# restarted: other worktrees' tests may be using it.
if [[ $STACK_FLEET == 1 && -f $STACK_RUN/env ]]; then
  main_running=1 fleet_running=0
  for c in "${STACK_COMPONENTS[@]}"; do
    if [[ " ${FLEET_COMPONENTS[*]} " == *" $c "* ]]; then
      if pid_alive "$c"; then fleet_running=1; fi
    elif ! pid_alive "$c"; then
      main_running=0
    fi
  done
  if [[ $main_running == 1 && $fleet_running == 0 ]]; then
    log "stack running without its fleet (clusters ${FLEET_CLUSTERS[*]}); adding it"
    exec bash "$HERE/fleet/up.sh"
  fi
fi
if ls "$STACK_RUN"/*.pid >/dev/null 2>&1; then
  log "part of a previous stack is still running; stopping it first"
  bash "$HERE/down.sh"
fi

[[ $EUID == 0 ]] || die "the stack runs a node (containerd, runc, CNI, kubelet): run it as root"
bash "$HERE/deps.sh"
[[ -x $STACK_NODE ]] || die "node_modules is missing: run 'npm ci' first (the stack's servers in TypeScript run on the project's Node 24)"
bash "$HERE/build.sh" all

rm -rf "$STACK_RUN" && mkdir -p "$STACK_RUN/logs"
ip addr show dev lo | grep -q " $STACK_IP/" || ip addr add "$STACK_IP/32" dev lo
# A port in use: name its holder; one of ours left by a stack whose pid files are gone (a killed run) is
# named as such, with the command that stops it.
port_busy() { # port_busy ADDRESS PORT
  local pid cmd
  pid="$(ss -Hltnp "sport = :$2" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"
  cmd="$( [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
  if [[ $cmd == *"$STACK_CACHE"* || $cmd == *"$STACK_ROOT/test/stack"* ]]; then
    die "port $1:$2 is held by pid $pid, left by an earlier stack whose pid files are gone ($cmd); stop it (kill $pid) and retry"
  fi
  die "port $1:$2 is already in use by another program${pid:+ (pid $pid: $cmd)}; stop it or free the port, then retry"
}
for p in $PORT_APISERVER $PORT_BAO $PORT_REGISTRY_BASIC $PORT_REGISTRY_BEARER $PORT_TOKEN_SERVER $PORT_REGISTRY_PUBLIC \
  $PORT_PUSHGATEWAY $PORT_GITEA $PORT_KUBELET $PORT_HARBOR $PORT_ACR_ARM $PORT_ACR_REGISTRY $PORT_APISERVER_B \
  $PORT_APISERVER_C; do
  port_open "$STACK_IP" "$p" && port_busy "$STACK_IP" "$p"
done
for p in $PORT_ETCD $PORT_ETCD_PEER $PORT_BAO_HTTP $PORT_AZURE $PORT_AZURE_MI $PORT_KUBELET_HEALTHZ \
  $PORT_KUBE_PROXY_METRICS $PORT_KUBE_PROXY_HEALTHZ $PORT_HARBOR_REGISTRY $PORT_HARBOR_ADMIN $PORT_ACR_ADMIN $PORT_ACR_BACKEND \
  $PORT_ETCD_B $PORT_ETCD_PEER_B $PORT_ETCD_C $PORT_ETCD_PEER_C; do
  port_open 127.0.0.1 "$p" && port_busy 127.0.0.1 "$p"
done

bash "$HERE/pki.sh"
STARTED_AT=$(date +%s)
source "$HERE/gitea/up.sh" start # set up later (below); its start-up runs beside the control plane's

# ---- API server configuration (the fleet's API servers use it too) ----------------------------------
# PodNodeSelector with a cluster default that matches no node: pods stay Pending unless their namespace
# opts in (annotation scheduler.alpha.kubernetes.io/node-selector: regcred-stack.io/node=true), so the
# many pods other tests create never reach the node.
cat >"$STACK_RUN/admission.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodNodeSelector
  configuration:
    podNodeSelectorPluginConfig:
      clusterDefaultNodeSelector: "regcred-stack.io/no-node=true"
YAML
# The audit log: who did what, when (microseconds), by user agent — tests attribute requests and time
# reactions with it. Metadata only, for the objects the rotator works with.
cat >"$STACK_RUN/audit-policy.yaml" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources: [{ group: "", resources: [namespaces, secrets, serviceaccounts, pods] }, { group: coordination.k8s.io, resources: [leases] }]
  - level: None
YAML

# ---- the fleet: clusters b and c come up in the background while the main stack does ----------------
[[ $STACK_FLEET == 1 ]] && fleet_start

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
  --etcd-servers="http://127.0.0.1:$PORT_ETCD" --bind-address="$STACK_IP" --advertise-address="$STACK_IP" \
  --secure-port=$PORT_APISERVER --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=$SERVICE_CIDR --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction,PodNodeSelector --admission-control-config-file="$STACK_RUN/admission.yaml" \
  --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --kubelet-preferred-address-types=InternalIP --profiling=false --v=0 \
  --audit-policy-file="$STACK_RUN/audit-policy.yaml" --audit-log-path="$STACK_RUN/logs/audit.log" \
  --audit-log-maxsize=500 --audit-log-maxbackup=2 --audit-log-format=json
kubeconfig "$KUBECONFIG_FILE" admin
for c in controller-manager scheduler proxy node; do kubeconfig "$STACK_RUN/$c.kubeconfig" "$c"; done
wait_for kube-apiserver 90 kubectl_ get --raw /readyz

# ---- kube-controller-manager, kube-scheduler ------------------------------------------------------------
KCM_CONTROLLERS=serviceaccount-controller,namespace-controller,garbage-collector-controller
KCM_CONTROLLERS+=,root-ca-certificate-publisher-controller,job-controller,cronjob-controller,deployment-controller
KCM_CONTROLLERS+=,replicaset-controller,endpointslice-controller,endpoints-controller,pod-garbage-collector-controller
KCM_CONTROLLERS+=,ttl-after-finished-controller,node-lifecycle-controller
start kube-controller-manager "$STACK_BIN/kube-controller-manager-$KUBE_VERSION" \
  --kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STACK_RUN/controller-manager.kubeconfig" \
  --controllers=$KCM_CONTROLLERS \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=true \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --concurrent-namespace-syncs=10 \
  --kube-api-qps=200 --kube-api-burst=400 --v=0
wait_for kube-controller-manager 60 kubectl_ -n default get serviceaccount default
start kube-scheduler "$STACK_BIN/kube-scheduler-$KUBE_VERSION" --kubeconfig="$STACK_RUN/scheduler.kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --v=0

# ---- OpenBao (dev server: KV v2 at secret/, in memory; plain HTTP dev listener + a TLS listener) --------
mkdir -p "$STACK_RUN/openbao"
cat >"$STACK_RUN/openbao/tls.hcl" <<HCL
listener "tcp" {
  address       = "$STACK_IP:$PORT_BAO"
  tls_cert_file = "$PKI/serving.crt"
  tls_key_file  = "$PKI/serving.key"
}
HCL
start openbao env HOME="$STACK_RUN/openbao" "$STACK_BIN/bao-$OPENBAO_VERSION" server -dev -dev-root-token-id=root \
  -dev-listen-address="127.0.0.1:$PORT_BAO_HTTP" -config="$STACK_RUN/openbao/tls.hcl" -log-level=warn
wait_for openbao 30 curl -fsS --cacert "$PKI/ca.crt" "https://$STACK_IP:$PORT_BAO/v1/sys/health"

# ---- registries: Basic (htpasswd), Bearer (our token server), public (the sandbox image) -----------------
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
start token-server "$STACK_NODE" "$HERE/token-server.ts" "$STACK_IP:$PORT_TOKEN_SERVER" "$PKI" \
  "$STACK_RUN/registry/users.json" "$TOKEN_ISSUER" "$TOKEN_SERVICE"
wait_for token-server 20 curl -fsS --cacert "$PKI/ca.crt" "https://$STACK_IP:$PORT_TOKEN_SERVER/healthz"

registry_config() { # registry_config NAME PORT [AUTH-YAML]
  mkdir -p "$STACK_RUN/registry/$1"
  cat >"$STACK_RUN/registry/$1/config.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $STACK_RUN/registry/$1/data }, delete: { enabled: true } }
http:
  addr: $STACK_IP:$2
  secret: $(rand 32)
  tls: { certificate: $PKI/serving.crt, key: $PKI/serving.key }
${3:+auth:
$3}
YML
}
registry_config basic $PORT_REGISTRY_BASIC "  htpasswd: { realm: regcred-stack, path: $STACK_RUN/registry/htpasswd }"
registry_config bearer $PORT_REGISTRY_BEARER "  token:
    realm: https://$STACK_IP:$PORT_TOKEN_SERVER/token
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $PKI/ca.crt"
registry_config public $PORT_REGISTRY_PUBLIC
for r in basic bearer public; do start "registry-$r" "$STACK_BIN/docker-registry" serve "$STACK_RUN/registry/$r/config.yml"; done
registry_ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "https://$STACK_IP:$1/v2/")" == "$2" ]]; }
wait_for registry-basic 20 registry_ready $PORT_REGISTRY_BASIC 401
wait_for registry-bearer 20 registry_ready $PORT_REGISTRY_BEARER 401
wait_for registry-public 20 registry_ready $PORT_REGISTRY_PUBLIC 200

# ---- Pushgateway --------------------------------------------------------------------------------------
start pushgateway "$STACK_BIN/pushgateway" --web.listen-address="$STACK_IP:$PORT_PUSHGATEWAY" --log.level=warn
wait_for pushgateway 20 curl -fsS "http://$STACK_IP:$PORT_PUSHGATEWAY/-/ready"

# ---- env file (the Azure and node parts add theirs) -----------------------------------------------------
cat >"$STACK_RUN/env.tmp" <<ENV
# Written by test/stack/up.sh; source it to talk to the stack.
export REGCRED_STACK_RUN='$STACK_RUN'
export KUBECONFIG='$KUBECONFIG_FILE'
export REGCRED_STACK_KUBECTL='$KUBECTL'
export REGCRED_STACK_KUBE_VERSION='$KUBE_VERSION'
export REGCRED_STACK_IP='$STACK_IP'
export REGCRED_STACK_APISERVER='https://$STACK_IP:$PORT_APISERVER'
export REGCRED_STACK_ADMIN_TOKEN='$ADMIN_TOKEN'
export REGCRED_STACK_CA='$PKI/ca.crt'
export NODE_EXTRA_CA_CERTS='$PKI/ca-bundle.crt'
export REGCRED_STACK_BAO='$STACK_BIN/bao-$OPENBAO_VERSION'
export REGCRED_STACK_BAO_ADDR='https://$STACK_IP:$PORT_BAO'
export REGCRED_STACK_BAO_HTTP_ADDR='http://127.0.0.1:$PORT_BAO_HTTP'
export REGCRED_STACK_BAO_ROOT_TOKEN='root'
export REGCRED_STACK_REGISTRY_BASIC='$STACK_IP:$PORT_REGISTRY_BASIC'
export REGCRED_STACK_REGISTRY_BEARER='$STACK_IP:$PORT_REGISTRY_BEARER'
export REGCRED_STACK_REGISTRY_PUBLIC='$STACK_IP:$PORT_REGISTRY_PUBLIC'
export REGCRED_STACK_TOKEN_SERVER='https://$STACK_IP:$PORT_TOKEN_SERVER'
export REGCRED_STACK_REGISTRY_USER='$REGISTRY_USER'
export REGCRED_STACK_REGISTRY_PASSWORD='$REGISTRY_PASSWORD'
export REGCRED_STACK_REGISTRY_USER2='$REGISTRY_USER2'
export REGCRED_STACK_REGISTRY_PASSWORD2='$REGISTRY_PASSWORD2'
export REGCRED_STACK_PUSHGATEWAY='http://$STACK_IP:$PORT_PUSHGATEWAY'
export REGCRED_STACK_AUDIT_LOG='$STACK_RUN/logs/audit.log'
ENV
STACK_ENV="$STACK_RUN/env.tmp" bash "$HERE/node/images.sh" push
source "$HERE/azure/up.sh"
source "$HERE/gitea/up.sh" setup
source "$HERE/harbor/up.sh"
source "$HERE/acr/up.sh"
source "$HERE/node/up.sh"
[[ $STACK_FLEET == 1 ]] && fleet_wait
fleet_env >>"$STACK_RUN/env.tmp"
mv "$STACK_RUN/env.tmp" "$STACK_RUN/env"
log "stack up in $(($(date +%s) - STARTED_AT))s; env: $STACK_RUN/env  (source it, or use: bash test/stack/with-env.sh CMD)"
