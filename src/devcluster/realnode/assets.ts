/**
 * Finds the real node's binaries and says in one line why a real node cannot run here.
 *
 * Lookup for each of kubelet, containerd, containerd-shim-runc-v2, ctr and the pause
 * image archive (`pause.tar`): `$MANYFOLD_NODE_ASSETS/<name>` (a KUBEBUILDER_ASSETS-style
 * override: one flat directory), then the cache
 * (`<cache>/bin/{kubelet-<k8s>,containerd-<version>,pause-manyfold-1}/`). What is
 * missing is built by `scripts/build-node.sh`, streamed like the control plane's build.
 * runc, the CNI plugins and iptables come from the machine (Debian packages `runc`,
 * `containernetworking-plugins`, `iptables`).
 *
 * Limitations: Linux, root, cgroup v1 or v2 mounted at /sys/fs/cgroup; one real node
 * per machine (it owns the kubelet port 10250 and `/var/log/containers`).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, executable, Versions } from '../assets.ts';

export const NodeVersions = {
  kubelet: Versions.kubernetes,
  containerd: process.env['CONTAINERD_VERSION'] ?? 'v2.4.2',
  pause: 'manyfold-1',
} as const;

/** The pause image's name inside the node's containerd (built here, never pulled). */
export const PauseImage = 'manyfold.local/pause:1';

type NodeComponent = 'kubelet' | 'containerd' | 'pause';

const files = {
  kubelet: ['kubelet', 'kubelet'],
  containerd: ['containerd', 'containerd'],
  shim: ['containerd-shim-runc-v2', 'containerd'],
  ctr: ['ctr', 'containerd'],
  pauseImage: ['pause.tar', 'pause'],
} as const satisfies Record<string, readonly [string, NodeComponent]>;
type FileKey = keyof typeof files;

export type NodeAssets = Record<FileKey, string> & {
  readonly runc: string;
  /** Directory of the CNI plugins (`bridge`, `host-local`, `loopback`). */
  readonly cniBin: string;
};

function locate(key: FileKey): string | undefined {
  const [name, component] = files[key];
  const override = process.env['MANYFOLD_NODE_ASSETS'];
  const candidates = [...(override ? [join(override, name)] : []), join(cacheRoot(), 'bin', `${component}-${NodeVersions[component]}`, name)];
  return candidates.find((p) => (key === 'pauseImage' ? existsSync(p) : executable(p)));
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function cniDir(): string | undefined {
  return ['/usr/lib/cni', '/opt/cni/bin'].find((d) => ['bridge', 'host-local', 'loopback'].every((p) => executable(join(d, p))));
}

/**
 * Why a real node cannot run on this machine, in one line, or undefined when it can
 * (binaries that a build can make are not checked here).
 */
export function realNodeBlocker(): string | undefined {
  if (process.platform !== 'linux') return `real nodes need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'real nodes need root (the kubelet and containerd manage mounts, cgroups and network interfaces)';
  const missing = [
    ...(onPath('runc') ? [] : ['runc']),
    ...(cniDir() ? [] : ['containernetworking-plugins']),
    ...(onPath('iptables') && onPath('iptables-save') ? [] : ['iptables']),
    ...(onPath('ip') ? [] : ['iproute2']),
  ];
  if (missing.length > 0) return `real nodes need these Debian packages: apt-get install ${missing.join(' ')}`;
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'real nodes need cgroups mounted at /sys/fs/cgroup';
  if (!existsSync('/dev/kmsg')) return 'real nodes need /dev/kmsg (the kubelet watches it for OOM kills)';
  try {
    readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet');
  } catch {
    return 'real nodes need IPv4 networking (/proc/sys/net/ipv4 is missing)';
  }
  return undefined;
}

export function missingNodeComponents(): NodeComponent[] {
  const missing = new Set<NodeComponent>();
  for (const key of Object.keys(files) as FileKey[]) if (!locate(key)) missing.add(files[key][1]);
  return [...missing];
}

export const buildNodeScript = fileURLToPath(new URL('../../../scripts/build-node.sh', import.meta.url));

/** Every path the node needs, building the missing binaries first (progress to `log`). */
export async function ensureNodeAssets(options: { log: (line: string) => void; build?: boolean }): Promise<NodeAssets> {
  const missing = missingNodeComponents();
  if (missing.length > 0) {
    if (options.build === false) throw new Error(`real-node binaries missing for: ${missing.join(', ')} (run ${buildNodeScript})`);
    options.log(`Building ${missing.join(', ')} for the real node into ${join(cacheRoot(), 'bin')} (once; kubelet takes 5-15 minutes on 2 cores).`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn('bash', [buildNodeScript, ...missing], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, MANYFOLD_CACHE: cacheRoot(), K8S_VERSION: NodeVersions.kubelet, CONTAINERD_VERSION: NodeVersions.containerd },
      });
      const forward = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '' && !line.startsWith('go: downloading')) options.log(line);
      };
      child.stdout.on('data', forward);
      child.stderr.on('data', forward);
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${buildNodeScript} exited with ${code}`))));
    });
  }
  const out: Partial<Record<FileKey, string>> = {};
  for (const key of Object.keys(files) as FileKey[]) {
    const path = locate(key);
    if (!path) throw new Error(`${files[key][0]} still missing after the build; see the output above`);
    out[key] = path;
  }
  const runc = onPath('runc');
  const cniBin = cniDir();
  if (!runc || !cniBin) throw new Error(realNodeBlocker() ?? 'runc or the CNI plugins are missing');
  return { ...(out as Record<FileKey, string>), runc, cniBin };
}
