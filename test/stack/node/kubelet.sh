# The kubelet: its configuration and start, shared by node/up.sh (sourced) and tests (executed):
#   bash kubelet.sh restart POLICY   restarts it with imagePullCredentialsVerificationPolicy POLICY
write_kubelet_config() { # write_kubelet_config POLICY
  cat >"$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $STACK_IP
port: $PORT_KUBELET
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $PORT_KUBELET_HEALTHZ
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
podLogsDir: $NODE_DIR/pod-logs
serializeImagePulls: false
# No kubelet-side pull throttling: the pull tests must see the registries' answers, not "pull QPS exceeded".
registryPullQPS: 0
maxPods: 250
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%" }
imagePullCredentialsVerificationPolicy: $1
YAML
}
start_kubelet() {
  start kubelet "$STACK_BIN/kubelet-$KUBE_VERSION" --config="$NODE_DIR/kubelet.yaml" \
    --kubeconfig="$STACK_RUN/node.kubeconfig" --root-dir="$NODE_DIR/kubelet" --hostname-override=$NODE_NAME \
    --node-ip=$STACK_IP --node-labels=regcred-stack.io/node=true --v=1
}
node_ready() {
  [[ "$(kubectl_ get node $NODE_NAME -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]] &&
    curl -fsS "http://127.0.0.1:$PORT_KUBELET_HEALTHZ/healthz" >/dev/null
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  source "$HERE/lib.sh"
  [[ ${1:-} == restart && -n ${2:-} ]] || die "usage: kubelet.sh restart POLICY"
  pid="$(cat "$STACK_RUN/kubelet.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  write_kubelet_config "$2"
  start_kubelet
  sleep 1
  wait_for kubelet 60 node_ready
fi
