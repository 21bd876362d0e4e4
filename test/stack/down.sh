#!/usr/bin/env bash
# Stops every stack process by the PID it recorded (never by name), removes what the node leaves behind
# (containers and their shims, mounts, the CNI bridge, kube-proxy's iptables chains, the stack address),
# then removes the run directory.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
shopt -s nullglob

# The node first: no kubelet to restart containers, then the containers themselves (their shims outlive
# containerd), then containerd.
stop_pid kubelet
if pid_alive containerd; then
  ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@" 2>/dev/null; }
  for t in $(ctr_ tasks ls -q); do ctr_ tasks kill -s KILL "$t"; done
  sleep 0.5
  for t in $(ctr_ tasks ls -q); do ctr_ tasks delete -f "$t"; done
  for c in $(ctr_ containers ls -q); do ctr_ containers delete "$c"; done
fi
stop_pid kube-proxy
[[ -x $STACK_BIN/kube-proxy-$KUBE_VERSION ]] && "$STACK_BIN/kube-proxy-$KUBE_VERSION" --cleanup >/dev/null 2>&1 || true
# Each control plane from the top down (stop_control_plane in lib.sh), the clusters in parallel.
stop_control_plane "" &
for n in "${FLEET_CLUSTERS[@]}"; do stop_control_plane "-$n" & done
wait
for f in "$STACK_RUN"/*.pid; do stop_pid "$(basename "$f" .pid)"; done
# Shims of our containerd (started with its socket in their arguments), should any have survived.
for p in /proc/[0-9]*; do
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $CONTAINERD_SOCK"; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
done
# Mounts under the run directory (container rootfs, volumes, network namespaces), deepest first.
if [[ -d $STACK_RUN ]]; then
  awk -v root="$STACK_RUN" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
fi
ip link del rcs-br0 2>/dev/null || true
rm -rf /var/lib/cni/results/regcred-stack-* 2>/dev/null || true
ip addr del "$STACK_IP/32" dev lo 2>/dev/null || true
rm -rf "$STACK_RUN"
log "stack stopped"
