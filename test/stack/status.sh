#!/usr/bin/env bash
# Reports each stack component: running (with PID) or stopped. Exit 0 when all are running.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
rc=0
for c in "${STACK_COMPONENTS[@]}"; do
  if pid_alive "$c"; then
    printf '%-26s running (pid %s)\n' "$c" "$(cat "$STACK_RUN/$c.pid")"
  else
    printf '%-26s stopped\n' "$c"; rc=1
  fi
done
[[ -f $STACK_RUN/env ]] && echo "env: $STACK_RUN/env"
exit $rc
