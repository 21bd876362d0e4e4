#!/usr/bin/env bash
# Runs a command with the running stack's environment (KUBECONFIG, addresses, CA bundle).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
[[ -f $STACK_RUN/env ]] || die "the stack is not running: start it with 'npm run stack:up' (or run 'npm test', which starts it)"
source "$STACK_RUN/env"
exec "$@"
