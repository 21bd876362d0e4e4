#!/usr/bin/env bash
# Installs the Debian packages the stack's node and image tooling need (once; a no-op when present):
# containerd, runc and the CNI plugins for the node; busybox-static, umoci, skopeo for the test images;
# buildah and debootstrap for building the project's own image; iptables and conntrack for kube-proxy; git,
# which Gitea runs at start-up (it refuses to start without it); zsh and fish, whose completion the CLI's
# completion scripts are tested in (test/unit/cli/completion.test.ts).
set -euo pipefail
PKGS=(containerd runc containernetworking-plugins busybox-static umoci skopeo buildah debootstrap iptables conntrack git zsh fish)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
[[ ${#missing[@]} == 0 ]] && exit 0
[[ $EUID == 0 ]] || { echo "[stack] error: installing ${missing[*]} needs root" >&2; exit 1; }
echo "[stack] installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
