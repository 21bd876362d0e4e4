# Shared settings and helpers for the stack scripts. Sourced, never executed.
# Everything built or downloaded lives in $STACK_CACHE, outside the checkout, so CI and later runs reuse it.
set -euo pipefail

STACK_CACHE="${REGCRED_STACK_CACHE:-$HOME/.cache/regcred-rotator-stack}"
STACK_BIN="$STACK_CACHE/bin"
STACK_RUN="${REGCRED_STACK_RUN:-$STACK_CACHE/run}"   # pids, logs, certs, data of the running stack
export GOMODCACHE="$STACK_CACHE/gomod"
export GOCACHE="$STACK_CACHE/gocache"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
# Kubernetes 1.37 needs Go 1.27; the module proxy serves that toolchain and the go command fetches it once.
export GOTOOLCHAIN="${GOTOOLCHAIN_STACK:-go1.27.3}"

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
# The control plane and the node: every Kubernetes program the stack runs, built from one wrapper module.
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
OPENBAO_VERSION="${OPENBAO_VERSION:-2.7.2}"
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
# The independent Harbor client the Harbor double's fidelity test drives (generated from Harbor's swagger).
HARBOR_CLIENT_VERSION="${HARBOR_CLIENT_VERSION:-2.12.2}"
GITEA_VERSION="${GITEA_VERSION:-v1.27.3}"

mkdir -p "$STACK_BIN" "$STACK_RUN" "$GOMODCACHE" "$GOCACHE"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# The stack's address: an extra address on the loopback interface, so that pods on the node reach the API
# server (through the `kubernetes` Service), the registries, OpenBao and the Pushgateway the way they would
# reach a cluster's own services, while nothing listens on the machine's real network interfaces.
STACK_IP=10.213.0.1
POD_SUBNET=10.214.0.0/16
SERVICE_CIDR=10.0.0.0/24
NODE_NAME=regcred-node

# Ports of the stack, chosen away from the defaults so a developer's own services don't clash.
PORT_ETCD=12379          # 127.0.0.1
PORT_ETCD_PEER=12380     # 127.0.0.1
PORT_APISERVER=16443
PORT_BAO=18200           # TLS listener (our CA)
PORT_BAO_HTTP=18201      # the dev listener (plain HTTP), 127.0.0.1
PORT_REGISTRY_BASIC=15000
PORT_REGISTRY_BEARER=15001
PORT_TOKEN_SERVER=15002
PORT_REGISTRY_PUBLIC=15003 # no auth: the sandbox (pause) image, like registry.k8s.io
PORT_PUSHGATEWAY=19091
PORT_HARBOR=15010          # the Harbor double: API, token service and /v2/ (TLS, our CA)
PORT_HARBOR_REGISTRY=15011 # 127.0.0.1: the distribution registry behind it, checking its tokens
PORT_HARBOR_ADMIN=15012    # 127.0.0.1: the double's admin API (tests only)
PORT_GITEA=15004          # HTTPS (our CA): the API and the container registry
# The Azure double's HTTPS listener must be 443 (127.0.0.1): MSAL reaches login.microsoftonline.com there
# (its built-in public-cloud metadata), and vault URLs then look exactly like production ones.
PORT_AZURE=443
PORT_AZURE_MI=18080      # managed identity (IMDS, App Service) and the double's admin API, plain HTTP
# The Azure Container Registry double (acr/): ARM for tokens on the stack address (pods reach it; it is the
# issuer's armEndpoint), the registry itself as <name>.azurecr.io on the stack address's 443 (a real login
# server name: Node processes resolve *.azurecr.io there through azure/resolve.ts, containerd through
# certs.d), the double's admin API, and the distribution registry that holds the content behind it.
PORT_ACR_ARM=15020
PORT_ACR_REGISTRY=443
PORT_ACR_ADMIN=15022     # 127.0.0.1, plain HTTP
PORT_ACR_BACKEND=15023   # 127.0.0.1, plain HTTP
PORT_KUBELET=20250
PORT_KUBELET_HEALTHZ=20248
PORT_KUBE_PROXY_METRICS=20249
PORT_KUBE_PROXY_HEALTHZ=20256

# The fleet (fleet/up.sh): two more control planes, clusters b and c, beside the main one (a). On by default
# (CI runs them); REGCRED_STACK_FLEET=0 starts the small stack without them.
STACK_FLEET="${REGCRED_STACK_FLEET:-1}"
[[ $STACK_FLEET == [01] ]] || die "REGCRED_STACK_FLEET is 0 (no fleet) or 1 (the default), not '$STACK_FLEET'"
FLEET_CLUSTERS=(b c)
PORT_ETCD_B=12381 PORT_ETCD_PEER_B=12382 # 127.0.0.1
PORT_ETCD_C=12383 PORT_ETCD_PEER_C=12384 # 127.0.0.1
PORT_APISERVER_B=16444
PORT_APISERVER_C=16445
# The bench clusters (bench-cluster.sh): throw-away control planes of the same kind, started only for a
# benchmark and stopped with their etcd wiped after it, so tens of thousands of namespaces never reach (a).
# Two, so that a long bench (bench:idle) and another can each have a cluster of their own.
PORT_ETCD_BENCH=12385 PORT_ETCD_PEER_BENCH=12386 # 127.0.0.1
PORT_APISERVER_BENCH=16446
PORT_ETCD_BENCH2=12387 PORT_ETCD_PEER_BENCH2=12388 # 127.0.0.1
PORT_APISERVER_BENCH2=16447
BENCH_CLUSTERS=(bench bench2)

# Every process the stack runs, in start order (status.sh and up.sh read this list).
STACK_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler openbao token-server registry-basic
  registry-bearer registry-public pushgateway azure gitea harbor-registry harbor acr-registry acr containerd kubelet
  kube-proxy)
FLEET_COMPONENTS=()
for c in "${FLEET_CLUSTERS[@]}"; do FLEET_COMPONENTS+=("etcd-$c" "kube-apiserver-$c" "kube-controller-manager-$c"); done
[[ $STACK_FLEET == 1 ]] && STACK_COMPONENTS+=("${FLEET_COMPONENTS[@]}")

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_NODE="$STACK_ROOT/node_modules/.bin/node"
PKI="$STACK_RUN/pki"
NODE_DIR="$STACK_RUN/node"
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
KUBECTL="$STACK_BIN/kubectl-$KUBE_VERSION"
KUBECONFIG_FILE="$STACK_RUN/admin.kubeconfig"
FLEET_DIR="$STACK_RUN/fleet"

# Exited, even if not reaped yet: our processes are orphans (started with setsid by a shell that is gone), and
# an init may take seconds to reap one, which made every stop last about 2 s.
pid_exited() { # pid_exited PID
  local state
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)"
  [[ -z $state || $state == Z ]]
}
pid_alive() { # pid_alive NAME -> 0 if the recorded process of NAME is running
  local f="$STACK_RUN/$1.pid"
  [[ -f $f ]] && ! pid_exited "$(cat "$f")"
}
stop_pid() { # stop_pid NAME: TERM, wait up to 10 s, KILL
  local f="$STACK_RUN/$1.pid" pid
  [[ -f $f ]] || return 0
  pid="$(cat "$f")"
  pid_exited "$pid" && return 0
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do pid_exited "$pid" && return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}
# From the top down: an API server whose etcd is gone waits out the full 10 s before it is killed, and an etcd
# with API servers still connected takes ~9 s; top down, a control plane stops in about a second.
stop_control_plane() { # stop_control_plane SUFFIX: "" for the main cluster, -b or -c for the fleet's
  local c
  for c in kube-controller-manager kube-scheduler kube-apiserver etcd; do stop_pid "$c$1"; done
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start() { # start NAME CMD... : runs CMD in its own session, records its PID
  local name=$1; shift
  setsid "$@" >>"$STACK_RUN/logs/$name.log" 2>&1 < /dev/null &
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
# node_trusts DIR SERVER [HOST]: containerd pulls from SERVER through HOST (default SERVER) trusting the stack
# CA. containerd reads certs.d/DIR/hosts.toml at every pull, so a running node needs no restart.
node_trusts() {
  mkdir -p "$NODE_DIR/certs.d/$1"
  cat >"$NODE_DIR/certs.d/$1/hosts.toml" <<TOML
server = "$2"
[host."${3:-$2}"]
  capabilities = ["pull", "resolve"]
  ca = "$PKI/ca.crt"
TOML
}
rand() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "${1:-24}"; }
kubectl_() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

kubeconfig() { # kubeconfig FILE USER-CERT-BASENAME [PORT CLUSTER-NAME]: the main API server unless told
  local port=${3:-$PORT_APISERVER} name=${4:-stack}
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://$STACK_IP:$port
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: $name
  context: { cluster: $name, user: $2, namespace: default }
current-context: $name
KC
}
