#!/usr/bin/env bash
# Stops the fleet's clusters b and c (by their recorded PIDs) and removes their state, leaving the rest of the
# stack running; its env file then says the fleet is off. `bash test/stack/fleet/up.sh` starts them again.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$HERE/lib.sh"
source "$HERE/fleet/up.sh"
for n in "${FLEET_CLUSTERS[@]}"; do stop_control_plane "-$n" & done
wait
for c in "${FLEET_COMPONENTS[@]}"; do rm -f "$STACK_RUN/$c.pid"; done
rm -rf "$FLEET_DIR"
for n in "${FLEET_CLUSTERS[@]}"; do rm -f "$STACK_RUN/logs/audit-$n.log"* "$PKI/sa-$n.key" "$PKI/sa-$n.pub"; done
if [[ -f $STACK_RUN/env ]]; then STACK_FLEET=0 fleet_rewrite_env; fi
log "fleet stopped"
