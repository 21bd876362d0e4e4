#!/usr/bin/env bash
# Stops the ACR double and its distribution registry alone (by their recorded PIDs), for working on them
# against a running stack; test/stack/down.sh stops them with everything else.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$HERE/lib.sh"
for c in acr acr-registry; do
  if pid_alive "$c"; then
    kill -TERM "$(cat "$STACK_RUN/$c.pid")"
    for _ in $(seq 1 50); do pid_alive "$c" || break; sleep 0.1; done
  fi
  rm -f "$STACK_RUN/$c.pid"
done
rm -rf "$STACK_RUN/acr" "$NODE_DIR/certs.d/regcredstack.azurecr.io"
[[ -f $STACK_RUN/env ]] && sed -i '/^export REGCRED_STACK_ACR_/d' "$STACK_RUN/env"
log "acr stopped"
