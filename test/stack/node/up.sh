# Sourced by up.sh: the node — containerd + runc + CNI bridge, kubelet, kube-proxy — registered and Ready.
# Everything lives under $NODE_DIR; down.sh removes what it leaves (pods, mounts, the bridge, iptables chains).
# This VM mounts cgroup v1 controllers: cgroupfs driver, no QoS cgroups, `failCgroupV1: false`.
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
mkdir -p "$NODE_DIR"/{containerd/root,containerd/state,certs.d,cni,cni-ipam,kubelet,pod-logs}

# Registries: containerd trusts the stack CA for each (hosts.toml); the kubelet supplies the pull secrets.
for port in $PORT_REGISTRY_BASIC $PORT_REGISTRY_BEARER $PORT_REGISTRY_PUBLIC; do
  node_trusts "$STACK_IP:$port" "https://$STACK_IP:$port"
done
SANDBOX_IMAGE="$STACK_IP:$PORT_REGISTRY_PUBLIC/pause:1"
cat >"$NODE_DIR/containerd.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # This VM lacks CAP_SYS_RESOURCE: runc may not raise oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE_DIR/certs.d"
TOML
cat >"$NODE_DIR/cni/10-regcred-stack.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "regcred-stack",
  "plugins": [
    {
      "type": "bridge", "bridge": "rcs-br0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_SUBNET" }]], "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "$NODE_DIR/cni-ipam" }
    }
  ]
}
JSON
start containerd containerd --config "$NODE_DIR/containerd.toml" --log-level warn
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

source "$HERE/node/kubelet.sh"
write_kubelet_config NeverVerifyPreloadedImages # the default since 1.35 (KEP-2535); tests restart it with others
start_kubelet
wait_for kubelet 90 node_ready

cat >"$NODE_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $STACK_RUN/proxy.kubeconfig }
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_SUBNET
bindAddress: $STACK_IP
healthzBindAddress: 127.0.0.1:$PORT_KUBE_PROXY_HEALTHZ
metricsBindAddress: 127.0.0.1:$PORT_KUBE_PROXY_METRICS
conntrack: { maxPerCore: 0 }
iptables: { localhostNodePorts: false }
YAML
start kube-proxy "$STACK_BIN/kube-proxy-$KUBE_VERSION" --config="$NODE_DIR/kube-proxy.yaml" --v=0
wait_for kube-proxy 30 curl -fsS "http://127.0.0.1:$PORT_KUBE_PROXY_HEALTHZ/healthz"

cat >>"$STACK_RUN/env.tmp" <<ENV
export REGCRED_STACK_NODE='$NODE_NAME'
export REGCRED_STACK_NODE_DIR='$NODE_DIR'
export REGCRED_STACK_CONTAINERD='$CONTAINERD_SOCK'
export REGCRED_STACK_KUBELET_METRICS='https://$STACK_IP:$PORT_KUBELET/metrics'
export REGCRED_STACK_KUBELET_LOG='$STACK_RUN/logs/kubelet.log'
export REGCRED_STACK_SANDBOX_IMAGE='$SANDBOX_IMAGE'
export REGCRED_STACK_PROMETHEUS='$STACK_BIN/prometheus'
export REGCRED_STACK_HELM='$STACK_BIN/helm-$HELM_VERSION'
ENV
