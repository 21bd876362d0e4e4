#!/usr/bin/env bash
# `npm test`: unit tests, then the suites against the real stack.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
# One project at a time: the reliability suite stops OpenBao and the registries, and the suites time
# reactions and lock expiries. Running the node project beside the integration suite was tried: on two
# cores every file ran three to four times slower and lock-expiry tests failed.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
cd "$STACK_ROOT"
started=0
if [[ ! -f $STACK_RUN/env ]] || ! bash "$HERE/status.sh" >/dev/null; then
  bash "$HERE/up.sh"
  started=1
fi
stop() { [[ $started == 1 ]] && bash "$HERE/down.sh"; true; }
trap stop EXIT
# The suites run the CLI as it ships: the bundle (dist/, what the image and the bin run), built here from
# src/ first. It also starts in a third of the time the TypeScript sources take, and the suites start the
# CLI several hundred times. REGCRED_TEST_MAIN=src/cli/main.ts runs the sources instead.
if [[ -z ${REGCRED_TEST_MAIN:-} ]]; then
  "$STACK_NODE" scripts/build.ts >/dev/null
  export REGCRED_TEST_MAIN=dist/cli/main.js
fi
echo "[test] the CLI under test: $REGCRED_TEST_MAIN"
project() { bash "$HERE/with-env.sh" npx vitest run --project "$@"; }
# One project, timed. Every project runs; the script fails if any failed (it used to report only the last).
# Its failed tests are kept for the summary at the end: a CI log is often read from its tail only.
summary=()
suite() {
  local p=$1 t0=$SECONDS rc log fails
  log="$(mktemp)"
  project "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  fails="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *FAIL ' | sed 's/^ *FAIL *//' | sort -u | head -10 || true)"
  rm -f "$log"
  echo "[test] $p finished in $((SECONDS - t0)) s (exit $rc)"
  summary+=("$p: exit $rc in $((SECONDS - t0)) s")
  [[ -n $fails ]] && while IFS= read -r f; do summary+=("  failed: $f"); done <<<"$fails"
  return "$rc"
}

failed=0
suite unit || failed=1
suite integration || failed=1
suite node || failed=1
suite reliability --passWithNoTests || failed=1
echo "[test] summary:"
printf '[test]   %s\n' "${summary[@]}"
exit $failed
