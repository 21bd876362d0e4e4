#!/usr/bin/env bash
# The stack's container images, built without a container engine and cached in $STACK_CACHE/images:
#   busybox  — Debian's static busybox as /bin/busybox plus the usual applet links (the private test image)
#   pause    — test/stack/node/pause.go, the pod sandbox image
# Usage: images.sh build | images.sh push   (push: to the running stack's registries; see up.sh)
#        images.sh push-plain IMAGE DEST     (one image to a plain-HTTP registry on loopback, e.g. acr/up.sh's)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"
IMAGES="$STACK_CACHE/images"
IMAGES_VERSION=1   # bump when what is built here changes

build() {
  [[ -f $IMAGES/done-$IMAGES_VERSION ]] && { log "images: cached"; return; }
  [[ -x /bin/busybox ]] || die "images: /bin/busybox is missing (apt-get install busybox-static)"
  log "images: building busybox and pause OCI images with umoci"
  rm -rf "$IMAGES" && mkdir -p "$IMAGES/pause-src"
  cp "$HERE/pause.go" "$IMAGES/pause-src/"
  (cd "$IMAGES/pause-src" && go mod init regcred-rotator/stack/pause >/dev/null 2>&1 &&
    go build -trimpath -ldflags "-s -w" -o "$IMAGES/pause" .)
  local oci="$IMAGES/oci" b="$IMAGES/bundle"
  umoci init --layout "$oci"
  umoci new --image "$oci:busybox"
  umoci unpack --image "$oci:busybox" "$b"
  mkdir -p "$b/rootfs/bin" "$b/rootfs/tmp" "$b/rootfs/etc"
  cp /bin/busybox "$b/rootfs/bin/busybox"
  for a in sh sleep cat echo ls date hostname wget env true false id; do ln -s busybox "$b/rootfs/bin/$a"; done
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >"$b/rootfs/etc/passwd"
  umoci repack --image "$oci:busybox" "$b" && rm -rf "$b"
  umoci config --image "$oci:busybox" --config.cmd=sh --config.env=PATH=/bin --config.label=org.opencontainers.image.title=regcred-stack-busybox
  umoci new --image "$oci:pause"
  umoci unpack --image "$oci:pause" "$b"
  cp "$IMAGES/pause" "$b/rootfs/pause"
  umoci repack --image "$oci:pause" "$b" && rm -rf "$b"
  umoci config --image "$oci:pause" --config.entrypoint=/pause --config.label=org.opencontainers.image.title=regcred-stack-pause
  umoci gc --layout "$oci"
  touch "$IMAGES/done-$IMAGES_VERSION"
}

# push REF-IN-LAYOUT DEST [USER:PASSWORD]
copy() {
  local creds=()
  [[ -n ${3:-} ]] && creds=(--dest-creds "$3")
  skopeo copy --quiet --dest-cert-dir "$STACK_RUN/registry/certs" "${creds[@]}" "oci:$IMAGES/oci:$1" "docker://$2"
}

push() {
  source "${STACK_ENV:-$STACK_RUN/env}"
  mkdir -p "$STACK_RUN/registry/certs" && cp "$PKI/ca.crt" "$STACK_RUN/registry/certs/ca.crt"
  local basic="$REGCRED_STACK_REGISTRY_USER:$REGCRED_STACK_REGISTRY_PASSWORD"
  copy busybox "$REGCRED_STACK_REGISTRY_BASIC/regcred/busybox:1" "$basic"
  copy busybox "$REGCRED_STACK_REGISTRY_BEARER/regcred/busybox:1" "$basic"
  copy pause "$REGCRED_STACK_REGISTRY_PUBLIC/pause:1"
}

push-plain() { skopeo copy --quiet --dest-tls-verify=false "oci:$IMAGES/oci:$1" "docker://$2"; }

"$@"
