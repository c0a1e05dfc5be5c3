/**
 * One real node beside the kwok ones: its own containerd (root, state and socket under
 * the cluster directory), a kubelet with its own client certificate
 * (`system:node:<name>`, so the Node authorizer and NodeRestriction apply), and a CNI
 * bridge on an interface this module creates (`mfdev0`, 10.245.0.1/24: private, only on
 * this machine). Pods reach the API server at the `kubernetes` Service's ClusterIP
 * through one DNAT rule in a chain of our own (to 127.0.0.1, allowed by
 * `route_localnet` on the bridge only), so the API server keeps listening on loopback.
 *
 * Before changing anything it records a host snapshot (sysctls, iptables, which host
 * paths existed) in the cluster state and in a machine-wide marker
 * (`/run/manyfold-realnode.json`). {@link stopRealNode} works from that record alone: it
 * stops the kubelet, kills every process in the node's cgroups, stops containerd and
 * its shims, unmounts everything under the node's directories, removes the cgroups,
 * restores the sysctls and iptables, deletes the bridge and any interface left on it,
 * and removes the host paths that did not exist before. An interrupted `up` is cleaned
 * by the next one from the marker.
 *
 * Limitations: one real node per machine (the marker says whose it is; a second cluster
 * gets kwok-only with that reason); no kube-proxy and no cluster DNS, so Services other
 * than `kubernetes` are not reachable from pods (pod IPs are); images come only from
 * local imports (nothing is pulled).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isRunning, startProcess, stopProcess, waitReady, type ProcessRecord } from '../processes.ts';
import type { NodeAssets } from './assets.ts';
import { PauseImage } from './assets.ts';
import { CgroupRoot, cniConflist, containerdConfig, kubeletConfig, NodeNetwork, nodePaths } from './config.ts';
import { AgentGid } from '../../reconcilers/sensorfleet-children.ts';
import { DefaultSensorFleetPolicy } from '../../reconcilers/sensorfleet-policy.ts';
import { HostPaths, restoreSysctlsAndIptables, snapshotHost, unmountUnder, type HostSnapshot } from './hoststate.ts';

const run = promisify(execFile);

/** The machine-wide record of the one real node (whose it is and how to undo it). */
export const MarkerFile = '/run/manyfold-realnode.json';

export interface RealNodeState {
  readonly name: string;
  readonly ip: string;
  /** The node's directory (containerd, kubelet, CNI, pod logs). */
  readonly dir: string;
  readonly clusterDir: string;
  readonly containerdSocket: string;
  readonly ctr: string;
  readonly shim: string;
  /** The kubelet and containerd binaries: any process running them is this node's (one per machine). */
  readonly binaries: readonly string[];
  readonly snapshot: HostSnapshot;
  readonly processes: readonly ProcessRecord[];
  /** When the start began (ISO 8601); a start younger than a minute is not abandoned yet. */
  readonly since: string;
}

/** The processes a started real node runs (containerd, kubelet). */
export const RealNodeProcesses = 2;

/** The label and taint key of edge nodes (what examples/sensor-fleet.yaml selects and tolerates). */
export const EdgeLabel = 'manyfold.dev/edge';

/** Node names for real nodes; there is at most one per machine. */
export function realNodeName(index: number): string {
  return `manyfold-real-${index}`;
}

async function sh(binary: string, args: readonly string[]): Promise<string> {
  try {
    return (await run(binary, [...args], { maxBuffer: 16 << 20 })).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`${binary} ${args.join(' ')}: ${stderr || String(error)}`, { cause: error });
  }
}

/** Cgroup hierarchy mount points (v1 controllers, named hierarchies, v2). */
function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => {
      const sep = f.indexOf('-');
      return sep > 0 && (f[sep + 1] === 'cgroup' || f[sep + 1] === 'cgroup2');
    })
    .map((f) => f[4] ?? '')
    .filter((p) => p !== '');
}

/** The recorded real node of this machine, if any. */
export async function readMarker(): Promise<RealNodeState | undefined> {
  try {
    return JSON.parse(await readFile(MarkerFile, 'utf8')) as RealNodeState;
  } catch {
    return undefined;
  }
}

/** Why this cluster cannot have the machine's real node (another running cluster holds it). */
export async function markerBlocker(clusterDir: string, log: (line: string) => void): Promise<string | undefined> {
  const marker = await readMarker();
  if (!marker) return undefined;
  if (marker.clusterDir !== clusterDir) {
    if (marker.processes.some(isRunning)) return `this machine's real node already belongs to the local control plane in ${marker.clusterDir}`;
    const age = Date.now() - Date.parse(marker.since);
    if (marker.processes.length < RealNodeProcesses && age < 60_000) return `this machine's real node is being started by the local control plane in ${marker.clusterDir}`;
  }
  log(`Cleaning up a real node left behind by ${marker.clusterDir}`);
  await stopRealNode(marker, { log });
  return undefined;
}

/**
 * Starts containerd and the kubelet, imports the pause image and waits until the Node
 * is Ready. `record` is called with the state before any host change and again as
 * processes start, so an interrupted start can be undone.
 */
export async function startRealNode(options: {
  clusterDir: string;
  index: number;
  assets: NodeAssets;
  server: string;
  apiserverPort: number;
  caCert: string;
  credentials: { cert: string; key: string };
  isReady: (name: string) => Promise<boolean>;
  record: (state: RealNodeState) => Promise<void>;
  log: (line: string) => void;
}): Promise<RealNodeState> {
  const { assets, log } = options;
  const name = realNodeName(options.index);
  const p = nodePaths(join(options.clusterDir, 'node'));
  let state: RealNodeState = {
    name,
    ip: NodeNetwork.gateway,
    dir: p.dir,
    clusterDir: options.clusterDir,
    containerdSocket: p.containerdSocket,
    ctr: assets.ctr,
    shim: assets.shim,
    binaries: [assets.kubelet, assets.containerd],
    snapshot: await snapshotHost(),
    processes: [],
    since: new Date().toISOString(),
  };
  const save = async (next: RealNodeState) => {
    state = next;
    await writeFile(MarkerFile, JSON.stringify(next, null, 2));
    await options.record(next);
  };
  await save(state);

  await rm(p.dir, { recursive: true, force: true });
  for (const d of [p.containerdRoot, p.containerdState, p.kubeletRoot, p.podLogs, p.cniConf, p.cniIpam]) await mkdir(d, { recursive: true });
  // The SensorFleet spool root an administrator prepares on each edge node (the agents
  // run without any root container): group-writable for the agents' group, setgid so
  // the per-fleet directories the kubelet makes under it keep that group.
  const spoolRoot = DefaultSensorFleetPolicy.spoolRoot;
  await mkdir(spoolRoot, { recursive: true });
  await chown(spoolRoot, 0, AgentGid);
  await chmod(spoolRoot, 0o2770);
  const logs = join(options.clusterDir, 'logs');

  // Cgroup parent in every hierarchy (cpuset children need cpus and mems to be set).
  for (const mount of cgroupMounts()) {
    const dir = join(mount, CgroupRoot);
    await mkdir(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(mount, file))) await writeFile(join(dir, file), (await readFile(join(mount, file), 'utf8')).trim() || '0');
    }
  }

  // The bridge, the node's address on it, and the API server Service for pods.
  const { bridge, gateway, prefix, apiServiceIp, natChain } = NodeNetwork;
  await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${gateway}/${prefix}`, 'dev', bridge]);
  await sh('ip', ['link', 'set', bridge, 'up']);
  await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
  await sh('iptables', ['-w', '5', '-t', 'nat', '-N', natChain]);
  await sh('iptables', ['-w', '5', '-t', 'nat', '-A', natChain, '-d', `${apiServiceIp}/32`, '-p', 'tcp', '--dport', '443', '-j', 'DNAT', '--to-destination', `127.0.0.1:${options.apiserverPort}`]);
  await sh('iptables', ['-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-i', bridge, '-j', natChain]);

  await writeFile(p.containerdConfig, containerdConfig(p, { runc: assets.runc, cniBin: assets.cniBin, pauseImage: PauseImage }));
  await writeFile(join(p.cniConf, '10-manyfold.conflist'), cniConflist(p));
  await writeFile(p.kubeletConfig, kubeletConfig(p, { caCert: options.caCert }));
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: local, cluster: { server: ${JSON.stringify(options.server)}, certificate-authority: ${JSON.stringify(options.caCert)} } }]`,
    `users: [{ name: ${JSON.stringify(`system:node:${name}`)}, user: { client-certificate: ${JSON.stringify(options.credentials.cert)}, client-key: ${JSON.stringify(options.credentials.key)} } }]`,
    `contexts: [{ name: local, context: { cluster: local, user: ${JSON.stringify(`system:node:${name}`)} } }]`,
    'current-context: local',
    '',
  ].join('\n');
  await writeFile(p.kubeletKubeconfig, kubeconfig, { mode: 0o600 });

  log(`Starting containerd for real node ${name} (socket ${p.containerdSocket})`);
  const containerd = startProcess({
    name: 'containerd',
    binary: assets.containerd,
    args: ['--config', p.containerdConfig, '--log-level', 'warn'],
    log: join(logs, 'containerd.log'),
    env: { ...process.env, PATH: `${join(assets.shim, '..')}:${process.env['PATH'] ?? '/usr/bin:/bin'}` },
  });
  await save({ ...state, processes: [containerd] });
  await waitReady(containerd, async () => {
    await sh(assets.ctr, ['--address', p.containerdSocket, 'version']);
    return true;
  }, { timeoutMs: 30_000 });
  await importImage(state, assets.pauseImage);

  log(`Starting kubelet for real node ${name} (InternalIP ${gateway})`);
  const kubelet = startProcess({
    name: 'kubelet',
    binary: assets.kubelet,
    args: [
      `--config=${p.kubeletConfig}`,
      `--kubeconfig=${p.kubeletKubeconfig}`,
      `--root-dir=${p.kubeletRoot}`,
      `--cert-dir=${join(p.dir, 'kubelet-pki')}`,
      `--hostname-override=${name}`,
      `--node-ip=${gateway}`,
      // An edge node: examples/sensor-fleet.yaml selects and tolerates this; other
      // workloads stay on the kwok nodes unless they tolerate the taint.
      `--node-labels=type=real,${EdgeLabel}=true`,
      `--register-with-taints=${EdgeLabel}=true:NoSchedule`,
      '--v=1',
    ],
    log: join(logs, 'kubelet.log'),
  });
  await save({ ...state, processes: [containerd, kubelet] });
  await waitReady(kubelet, () => options.isReady(name), { timeoutMs: 120_000, what: 'Ready' });
  return state;
}

/** Imports an OCI or Docker image archive into the node's containerd (namespace k8s.io). */
export async function importImage(state: Pick<RealNodeState, 'ctr' | 'containerdSocket'>, archive: string): Promise<void> {
  await sh(state.ctr, ['--address', state.containerdSocket, '--namespace', 'k8s.io', 'images', 'import', '--snapshotter', 'overlayfs', archive]);
}

/** Pids of every process in the node's cgroups, over all hierarchies. */
function cgroupPids(): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
    } catch {
      // not a cgroup directory
    }
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
  };
  for (const mount of cgroupMounts()) walk(join(mount, CgroupRoot));
  return [...pids];
}

/** Pids whose executable is `binary` (containerd's shims outlive containerd). */
function pidsOf(binary: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`).replace(/ \(deleted\)$/, '') === binary) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

async function killAll(find: () => number[], what: string, log: (line: string) => void): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = find();
    if (pids.length === 0) return;
    if (round === 0) log(`killing ${pids.length} ${what}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
  log(`some ${what} did not exit: ${find().join(', ')}`);
}

async function removeCgroups(log: (line: string) => void): Promise<void> {
  for (const mount of cgroupMounts()) {
    const root = join(mount, CgroupRoot);
    if (!existsSync(root)) continue;
    const dirs: string[] = [];
    const walk = (dir: string) => {
      dirs.push(dir);
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    };
    walk(root);
    for (const dir of dirs.reverse()) {
      await rmdir(dir).catch((error: unknown) => log(`rmdir ${dir}: ${String(error)}`));
    }
  }
}

/**
 * Undoes everything {@link startRealNode} did, from its record alone (also for a
 * start that was interrupted half-way). Idempotent.
 */
export async function stopRealNode(state: RealNodeState, options: { log: (line: string) => void }): Promise<void> {
  const { log } = options;
  const kubelet = state.processes.find((p) => p.name === 'kubelet');
  const containerd = state.processes.find((p) => p.name === 'containerd');
  if (kubelet) log(`kubelet (pid ${kubelet.pid}): ${await stopProcess(kubelet, { graceMs: 5000 })}`);
  await killAll(cgroupPids, 'container processes', log);
  if (containerd) log(`containerd (pid ${containerd.pid}): ${await stopProcess(containerd, { graceMs: 5000 })}`);
  // A start interrupted between spawning a process and recording it leaves it unrecorded.
  await killAll(() => state.binaries.flatMap(pidsOf), 'unrecorded kubelet or containerd processes', log);
  await killAll(() => pidsOf(state.shim), 'containerd shims', log);
  const unmounted = await unmountUnder([state.dir, ...HostPaths.filter((h) => !state.snapshot.existing.includes(h))], log);
  if (unmounted > 0) log(`unmounted ${unmounted} mounts`);
  await removeCgroups(log);
  await restoreSysctlsAndIptables(state.snapshot, log);
  const { bridge } = NodeNetwork;
  if (existsSync(`/sys/class/net/${bridge}`)) {
    for (const port of readdirSync(`/sys/class/net/${bridge}/brif`)) await sh('ip', ['link', 'del', port]).catch(() => undefined);
    await sh('ip', ['link', 'del', bridge]);
    log(`deleted interface ${bridge}`);
  }
  for (const path of HostPaths) {
    if (!state.snapshot.existing.includes(path) && existsSync(path)) {
      await rm(path, { recursive: true, force: true });
      log(`removed ${path}`);
    }
  }
  await rm(state.dir, { recursive: true, force: true });
  const marker = await readMarker();
  if (marker?.dir === state.dir) await rm(MarkerFile, { force: true });
}
