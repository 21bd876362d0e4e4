#!/usr/bin/env bash
# Builds the project's image from its Dockerfile — unchanged — without a container engine, and pushes it to
# the stack's private (Basic-auth) registry, where the node pulls it with a pull secret.
#   bash test/stack/image/build.sh      → prints the pushed reference (REGISTRY/regcred/regcred-rotator:TAG)
#
# The Dockerfile's bases (node:24-bookworm-slim and debian:bookworm-slim, by digest) cannot be pulled here
# (no container registry beyond the stack's). Equivalents are assembled once, under the tags' names, in
# buildah's local storage, and the build names them through the Dockerfile's NODE_IMAGE and RUNTIME_IMAGE
# arguments: a minimal Debian bookworm root filesystem (debootstrap, from the Debian mirror) for both; for
# the node base also the Node 24 binary that the project's `node` devDependency ships, npm from the npm
# registry, and this machine's CA bundle (the registries are reached through a TLS-inspecting proxy: without
# it `npm ci` in the build fails with SELF_SIGNED_CERT_IN_CHAIN). The bundle goes into this local base only,
# never into the Dockerfile or the runtime image.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"
[[ -f $STACK_RUN/env ]] || die "the stack is not running (npm run stack:up)"
source "$STACK_RUN/env"

BASE_REF=docker.io/library/node:24-bookworm-slim
RUNTIME_REF=docker.io/library/debian:bookworm-slim
NPM_VERSION=11.21.2
IMAGE_CACHE="$STACK_CACHE/image"
NODE_BIN="$STACK_ROOT/node_modules/node/bin/node"
[[ -x $NODE_BIN ]] || die "no Node 24 in node_modules (run npm ci)"
NODE_VERSION="$("$NODE_BIN" --version)"
BASE_KEY="bookworm-$NODE_VERSION-npm$NPM_VERSION"
mkdir -p "$IMAGE_CACHE"
# One build at a time (the integration and node lanes may both want the image).
exec 9>"$IMAGE_CACHE/.build.lock"
flock 9

rootfs() { # the debootstrap tree both local bases start from, made once
  ROOTFS="$IMAGE_CACHE/rootfs-bookworm"
  if [[ ! -f $IMAGE_CACHE/rootfs-bookworm.done ]]; then
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >"$IMAGE_CACHE/debootstrap.log" 2>&1 ||
      die "debootstrap failed (see $IMAGE_CACHE/debootstrap.log)"
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    touch "$IMAGE_CACHE/rootfs-bookworm.done"
  fi
}

runtime_image() {
  [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "regcred-stack.base"}}' "$RUNTIME_REF" 2>/dev/null) == bookworm ]] && return
  log "assembling the runtime base image $RUNTIME_REF"
  rootfs
  local ctr
  ctr="$(buildah from scratch)"
  buildah copy --quiet "$ctr" "$ROOTFS" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
    --annotation "regcred-stack.base=bookworm" "$ctr"
  buildah commit --quiet --rm "$ctr" "$RUNTIME_REF" >/dev/null
}

base_image() {
  if [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "regcred-stack.base"}}' "$BASE_REF" 2>/dev/null) == "$BASE_KEY" ]]; then
    return
  fi
  log "assembling the base image $BASE_REF ($BASE_KEY)"
  local tmp
  rootfs
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1)
  local ctr
  ctr="$(buildah from scratch)"
  buildah copy --quiet "$ctr" "$ROOTFS" / >/dev/null
  buildah copy --quiet "$ctr" "$NODE_BIN" /usr/local/bin/node >/dev/null
  buildah copy --quiet "$ctr" "$tmp/npm" /usr/local/lib/node_modules/npm >/dev/null
  buildah copy --quiet "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah run --isolation=chroot "$ctr" -- sh -c \
    'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx'
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=${NODE_VERSION#v}" --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --cmd node --annotation "regcred-stack.base=$BASE_KEY" "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE_REF" >/dev/null
}

base_image
runtime_image
# The tag names the content: the same sources give the same tag (and buildah's layer cache a quick build).
TAG="t-$(cd "$STACK_ROOT" && cat Dockerfile package.json package-lock.json scripts/build.ts scripts/runtime-deps.ts \
  scripts/prune-runtime.ts config.example.yaml LICENSE $(find src -type f | sort) | sha256sum | cut -c1-12)"
LOCAL="localhost/regcred-rotator:$TAG"
REF="$REGCRED_STACK_REGISTRY_BASIC/regcred/regcred-rotator:$TAG"
if ! buildah inspect --type image "$LOCAL" >/dev/null 2>&1; then
  log "building $LOCAL from the Dockerfile (buildah)"
  (cd "$STACK_ROOT" && buildah bud --quiet --pull=never --layers --network=host --isolation=chroot \
    --build-arg "NODE_IMAGE=$BASE_REF" --build-arg "RUNTIME_IMAGE=$RUNTIME_REF" --build-arg "REVISION=$TAG" \
    -t "$LOCAL" -f Dockerfile . >"$IMAGE_CACHE/build.log" 2>&1) || die "image build failed (see $IMAGE_CACHE/build.log)"
fi
certs="$(mktemp -d)"
cp "$PKI/ca.crt" "$certs/ca.crt"
skopeo copy --quiet --dest-cert-dir "$certs" \
  --dest-creds "$REGCRED_STACK_REGISTRY_USER:$REGCRED_STACK_REGISTRY_PASSWORD" \
  "containers-storage:$LOCAL" "docker://$REF" >/dev/null || die "pushing $REF failed"
rm -rf "$certs"
echo "$REF"
