#!/usr/bin/env bash
# `npm test`: unit tests, then the suites against the real stack.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
#
# Two lanes run at once: the node project (real pulls; it mostly waits on the kubelet and on settle times)
# beside the integration suite. No test counts the API server's requests globally (writes are attributed
# by object in the audit log), and each file works in namespaces, users and Leases of its own — except
# deploy.test.ts, which applies deploy/ as it is (cluster-wide RBAC named regcred-rotator, like the node
# project's in-cluster tests): it runs in the node lane, after it. The reliability suite runs last and
# alone: it stops OpenBao and the registries, which the node project uses.
# TEST_LANES=1 runs everything one project after the other.
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
set -o pipefail
project() { bash "$HERE/with-env.sh" npx vitest run --project "$@"; }
# One project, its output lines prefixed with its name (the lanes' outputs interleave).
lane() { local p=$1 t0=$SECONDS; project "$@" 2>&1 | sed -u "s/^/[$p] /"; local rc=$?; echo "[$p] finished in $((SECONDS - t0)) s (exit $rc)"; return $rc; }

npx vitest run --project unit || exit 1
DEPLOY=test/integration/deploy.test.ts
if [[ ${TEST_LANES:-2} == 1 ]]; then
  lane integration && lane node || exit 1
else
  (lane node && lane integration "$DEPLOY") & node_pid=$!
  lane integration --exclude "$DEPLOY"; integration=$?
  wait "$node_pid"; node=$?
  [[ $integration == 0 && $node == 0 ]] || exit 1
fi
lane reliability --passWithNoTests
