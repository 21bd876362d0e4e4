#!/usr/bin/env bash
# `npm test`: unit tests, then the suites against the real stack.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
# The integration and node projects run side by side (they share the API server and the registries, and
# neither stops a server); then, alone, the integration files that time reactions or read the audit log (the
# integration-quiet project, vitest.config.ts) and the reliability suite, which stops OpenBao and the
# registries. Side by side took the tests from 29 to 22 minutes in the CI runs of 2026-12-07
# (docs/development.md).
# REGCRED_TEST_SERIAL=1 runs one project at a time (for a failure that only shows beside the other project).
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
# One project, timed, its output prefixed with its name when suites run side by side. Every project runs;
# the script fails if any failed. Failed tests are kept for the summary at the end: a CI log is often read
# from its tail only.
SUMMARY_DIR="$(mktemp -d)"
suite() {
  local p=$1 t0=$SECONDS rc log fails why
  log="$(mktemp)"
  if [[ ${PREFIX:-0} == 1 ]]; then
    project "$@" 2>&1 | tee "$log" | sed -u "s/^/[$p] /"
  else
    project "$@" 2>&1 | tee "$log"
  fi
  rc=${PIPESTATUS[0]}
  fails="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *FAIL ' | sed 's/^ *FAIL *//' | sort -u | head -10 || true)"
  # What failed, with vitest's reason (its "Failed Tests" section: the assertion and the diff), cut short:
  # a CI log is read from its tail, and a side-by-side lane's reason was 5,000 lines above it ("Failed Suites": a beforeAll that failed).
  why="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | sed -n '/⎯ Failed \(Tests\|Suites\) /,/^ *Test Files /p' | grep -v '^ *$' | head -60 || true)"
  rm -f "$log"
  echo "[test] $p finished in $((SECONDS - t0)) s (exit $rc)"
  {
    echo "$p: exit $rc in $((SECONDS - t0)) s"
    [[ -n $fails ]] && while IFS= read -r f; do echo "  failed: $f"; done <<<"$fails"
    [[ -n $why ]] && while IFS= read -r f; do echo "    | $f"; done <<<"$why"
    true
  } >"$SUMMARY_DIR/$p"
  return "$rc"
}

failed=0
suite unit || failed=1
if [[ ${REGCRED_TEST_SERIAL:-0} == 1 ]]; then
  suite integration || failed=1
  suite node || failed=1
else
  # In a `||` list so that lib.sh's `set -e` does not end the background shell at a failing test before
  # it has written its summary (a failed node lane once left no line naming it).
  (PREFIX=1 suite integration || exit 1) &
  integration=$!
  (PREFIX=1 suite node || exit 1) &
  node=$!
  wait "$integration" || failed=1
  wait "$node" || failed=1
fi
suite integration-quiet || failed=1
suite reliability --passWithNoTests || failed=1
echo "[test] summary:"
for p in unit integration node integration-quiet reliability; do
  if [[ -f $SUMMARY_DIR/$p ]]; then
    sed 's/^/[test]   /' "$SUMMARY_DIR/$p"
  else
    echo "[test]   $p: ended without a result (see its output above)"
  fi
done
rm -rf "$SUMMARY_DIR"
exit $failed
