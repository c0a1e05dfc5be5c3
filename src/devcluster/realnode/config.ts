/**
 * The real node's configuration files (pure: paths and ports in, file text out):
 * containerd's config (version 3, containerd 2.x), the kubelet's
 * KubeletConfiguration and the CNI bridge network.
 *
 * Everything points into the node's own directory: containerd's root, state, socket,
 * runc root, the netns mounts, the CNI IPAM data and the pod logs, so a Docker or
 * containerd install on the machine is untouched.
 */

/** The network the node creates for itself: a bridge that exists only on this machine. */
export const NodeNetwork = {
  /** Bridge interface name (created by `dev up`, deleted by `dev down`). */
  bridge: 'mfdev0',
  /** Pod subnet on the bridge; kwok hands out 10.244.0.0/16 to fake pods, so not that. */
  subnet: '10.245.0.0/24',
  /** The bridge's address: the pods' gateway and the node's InternalIP. */
  gateway: '10.245.0.1',
  prefix: 24,
  /** The `kubernetes` Service's ClusterIP (first address of --service-cluster-ip-range). */
  apiServiceIp: '10.96.0.1',
  /** iptables nat chain for the one Service the pods need (the API server). */
  natChain: 'MANYFOLD-DEV',
} as const;

/** The node's directories, all under `dir`. */
export interface NodePaths {
  readonly dir: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly containerdConfig: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletKubeconfig: string;
  readonly podLogs: string;
  readonly cniConf: string;
  readonly cniIpam: string;
}

export function nodePaths(dir: string): NodePaths {
  return {
    dir,
    containerdRoot: `${dir}/containerd/root`,
    containerdState: `${dir}/containerd/state`,
    containerdSocket: `${dir}/containerd/state/containerd.sock`,
    containerdConfig: `${dir}/containerd/config.toml`,
    kubeletRoot: `${dir}/kubelet`,
    kubeletConfig: `${dir}/kubelet-config.yaml`,
    kubeletKubeconfig: `${dir}/kubelet.kubeconfig`,
    podLogs: `${dir}/pod-logs`,
    cniConf: `${dir}/cni/net.d`,
    cniIpam: `${dir}/cni/ipam`,
  };
}

const toml = (s: string) => `'${s}'`;

export function containerdConfig(p: NodePaths, options: { runc: string; cniBin: string; pauseImage: string }): string {
  const cri = "plugins.'io.containerd.cri.v1.runtime'";
  return `# Written by manyfold dev up (real node). containerd 2.x, config version 3.
version = 3
root = ${toml(p.containerdRoot)}
state = ${toml(p.containerdState)}
# Plugins that would touch host paths or need kernel features this node does not use.
disabled_plugins = [
  'io.containerd.nri.v1.nri',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
]

[grpc]
  address = ${toml(p.containerdSocket)}

[ttrpc]
  address = ${toml(`${p.containerdSocket}.ttrpc`)}

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = ${toml(`${p.containerdRoot}/opt`)}
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${toml(options.pauseImage)}
  [${cri}]
    enable_selinux = false
    # The machine's capability bounding set may lack CAP_SYS_RESOURCE: never lower oom_score_adj.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [${cri}.containerd]
      default_runtime_name = 'runc'
      [${cri}.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [${cri}.containerd.runtimes.runc.options]
          BinaryName = ${toml(options.runc)}
          Root = ${toml(`${p.containerdState}/runc`)}
          SystemdCgroup = false
    [${cri}.cni]
      bin_dirs = [${toml(options.cniBin)}]
      conf_dir = ${toml(p.cniConf)}
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`;
}

/** The CNI network: one bridge, host-local addresses from {@link NodeNetwork.subnet}, no masquerading. */
export function cniConflist(p: NodePaths): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'manyfold-dev',
      plugins: [
        {
          type: 'bridge',
          bridge: NodeNetwork.bridge,
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NodeNetwork.subnet, gateway: NodeNetwork.gateway }]],
            dataDir: p.cniIpam,
          },
        },
      ],
    },
    null,
    2,
  );
}

/** The node's cgroup parent in every hierarchy (created by `up`, removed by `down`). */
export const CgroupRoot = '/manyfold-dev';

export function kubeletConfig(p: NodePaths, options: { caCert: string }): string {
  return `# Written by manyfold dev up (real node).
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NodeNetwork.gateway}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${JSON.stringify(options.caCert)} }
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://${p.containerdSocket}
imageServiceEndpoint: unix://${p.containerdSocket}
cgroupDriver: cgroupfs
cgroupRoot: ${CgroupRoot}
# Kubernetes 1.35+ refuses cgroup v1 unless told otherwise; many CI machines still have it.
failCgroupV1: false
failSwapOn: false
podLogsDir: ${JSON.stringify(p.podLogs)}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# Images here are built locally and cannot be pulled again: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
serializeImagePulls: false
maxPods: 60
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
`;
}
