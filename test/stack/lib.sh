# Shared settings for the stack scripts. Sourced, never executed.
# Everything built or downloaded lives in $STACK_CACHE, outside the checkout, so CI and later runs reuse it.
set -euo pipefail

STACK_CACHE="${REGCRED_STACK_CACHE:-$HOME/.cache/regcred-rotator-stack}"
STACK_BIN="$STACK_CACHE/bin"
STACK_RUN="${REGCRED_STACK_RUN:-$STACK_CACHE/run}"   # pids, logs, certs, data of the running stack
export GOMODCACHE="$STACK_CACHE/gomod"
export GOCACHE="$STACK_CACHE/gocache"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
OPENBAO_VERSION="${OPENBAO_VERSION:-2.7.2}"
LOWKEY_VERSION="3.4.33"

mkdir -p "$STACK_BIN" "$STACK_RUN" "$GOMODCACHE" "$GOCACHE"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# Ports of the stack, all on 127.0.0.1. Chosen away from the defaults so a developer's own services don't clash.
PORT_ETCD=12379
PORT_ETCD_PEER=12380
PORT_APISERVER=16443
PORT_BAO=18200          # TLS listener (our CA)
PORT_BAO_HTTP=18201     # the dev listener (plain HTTP)
PORT_REGISTRY_BASIC=15000
PORT_REGISTRY_BEARER=15001
PORT_TOKEN_SERVER=15002
PORT_PUSHGATEWAY=19091
PORT_LOWKEY=18443
PORT_LOWKEY_TOKEN=18080

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_NODE="$STACK_ROOT/node_modules/.bin/node"
PKI="$STACK_RUN/pki"

pid_alive() { # pid_alive NAME -> 0 if the recorded process of NAME is running
  local f="$STACK_RUN/$1.pid"
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
