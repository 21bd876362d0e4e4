#!/usr/bin/env bash
# `npm test`: unit tests, then the integration and reliability suites against the real stack.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
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
npx vitest run --project unit
# One project at a time: the reliability suite seals OpenBao and injects faults, which must not overlap
# with the integration tests.
bash "$HERE/with-env.sh" npx vitest run --project integration
bash "$HERE/with-env.sh" npx vitest run --project node
bash "$HERE/with-env.sh" npx vitest run --project reliability --passWithNoTests
