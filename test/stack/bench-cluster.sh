#!/usr/bin/env bash
# A throw-away control plane for the benchmarks (etcd, API server, controller-manager; no scheduler, no node),
# beside the running stack, on ports of its own (lib.sh: PORT_*_BENCH*). `npm run bench` and `npm run
# bench:idle` fill a cluster with 10,000 to 50,000 namespaces; in the stack's main cluster, which every test
# uses, deleting them afterwards took an hour (the namespace controller removes ~7 a second). This cluster is
# stopped and its etcd wiped instead.
#
#   bash test/stack/bench-cluster.sh start   # prints the BENCH_* lines to export (also in its env file)
#   BENCH_KUBECONFIG=… BENCH_APISERVER=… BENCH_AUDIT_LOG=… npm run bench
#   bash test/stack/bench-cluster.sh run npm run bench   # the same: CMD with the bench cluster's environment
#   bash test/stack/bench-cluster.sh stop    # stops it and removes its state
#
# BENCH_CLUSTER=bench2 selects a second one (ports of its own in lib.sh), for two benches at a time. Every
# process of a bench cluster runs niced.
#
# The cluster runs the stack's binaries with the main API server's admission and audit configuration
# (fleet/up.sh: fleet_cluster), from the stack's CA; the registries and stores a bench uses are the stack's.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
source "$HERE/fleet/up.sh"
NAME=${BENCH_CLUSTER:-bench}
[[ " ${BENCH_CLUSTERS[*]} " == *" $NAME "* ]] || die "BENCH_CLUSTER must be one of: ${BENCH_CLUSTERS[*]}"
v="PORT_ETCD_${NAME^^}" && ETCD_PORT=${!v}
v="PORT_ETCD_PEER_${NAME^^}" && PEER_PORT=${!v}
v="PORT_APISERVER_${NAME^^}" && APISERVER_PORT=${!v}
COMPONENTS=("etcd-$NAME" "kube-apiserver-$NAME" "kube-controller-manager-$NAME")
BENCH_DIR="$STACK_RUN/bench-cluster-$NAME"
BENCH_ENV="$BENCH_DIR/env"

bench_env() {
  echo "export BENCH_KUBECONFIG='$BENCH_DIR/$NAME/admin.kubeconfig'"
  echo "export BENCH_APISERVER='https://$STACK_IP:$APISERVER_PORT'"
  echo "export BENCH_AUDIT_LOG='$STACK_RUN/logs/audit-$NAME.log'"
}

case "${1:-}" in
  start)
    [[ -f $STACK_RUN/env ]] || die "the stack is not running: the bench cluster uses its binaries, CA and configuration"
    for c in "${COMPONENTS[@]}"; do
      pid_alive "$c" && die "$c is already running ('bash $0 stop' stops the bench cluster)"
    done
    for p in $ETCD_PORT $PEER_PORT; do ! port_open 127.0.0.1 "$p" || die "port 127.0.0.1:$p is in use"; done
    ! port_open "$STACK_IP" "$APISERVER_PORT" || die "port $STACK_IP:$APISERVER_PORT is in use"
    rm -rf "$BENCH_DIR"
    mkdir -p "$BENCH_DIR"
    # Niced, with every process it starts: the machine runs the shared stack and its users' tests too.
    renice -n 10 -p $$ >/dev/null
    t0=$SECONDS
    # A bench creates namespaces as fast as the API server takes them: the controller-manager's client
    # limit (200/s in the fleet) would make it the bottleneck, as each namespace costs it a ServiceAccount.
    # No root CA ConfigMap per namespace: the rotator never reads one, and it doubled the controller's writes.
    CLUSTER_DIR="$BENCH_DIR" CLUSTER_KCM_QPS=1000 \
      CLUSTER_CONTROLLERS=serviceaccount-controller,namespace-controller,garbage-collector-controller \
      fleet_cluster "$NAME"
    bench_env >"$BENCH_ENV"
    log "bench cluster up in $((SECONDS - t0))s; its environment (also in $BENCH_ENV):"
    cat "$BENCH_ENV"
    ;;
  stop)
    stop_control_plane "-$NAME"
    for c in "${COMPONENTS[@]}"; do rm -f "$STACK_RUN/$c.pid"; done
    rm -rf "$BENCH_DIR"
    rm -f "$STACK_RUN/logs/audit-$NAME.log"* "$PKI/sa-$NAME.key" "$PKI/sa-$NAME.pub"
    log "bench cluster stopped, its etcd removed"
    ;;
  status)
    rc=0
    for c in "${COMPONENTS[@]}"; do
      if pid_alive "$c"; then printf '%-30s running (pid %s)\n' "$c" "$(cat "$STACK_RUN/$c.pid")"; else
        printf '%-30s stopped\n' "$c"; rc=1; fi
    done
    exit $rc
    ;;
  run)
    shift
    [[ -f $STACK_RUN/env && -f $BENCH_ENV ]] || die "start the stack and the bench cluster first ('bash $0 start')"
    source "$STACK_RUN/env"
    source "$BENCH_ENV"
    exec "$@"
    ;;
  *) die "usage: bench-cluster.sh start|stop|status|run CMD..." ;;
esac
