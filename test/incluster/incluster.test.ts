/**
 * The operator and its agents as real pods on the local control plane's real node
 * (kubelet + containerd; test/setup/incluster.ts), with the image built from
 * ./Dockerfile here:
 *
 * - `kubectl apply --server-side -k` of an overlay on deploy/manifests that only sets the
 *   image (kustomize `images:`), MANYFOLD_IMAGE, and places the pods on the real node;
 *   both replicas run there, in a namespace where the restricted Pod Security Standard
 *   is enforced (a privileged pod is refused);
 * - one replica leads (the Lease holder); the other takes over when the leader's pod is
 *   deleted, and again when the leader's container is killed through containerd;
 * - examples/ applied: the example SensorFleet's agent runs on the real node and the
 *   fleet has heard from it (Ready with it reporting, or Degraded naming the errors its
 *   heartbeat carried: the example's thermal-zone sensor and collector may not work here); the Cells (their workloads on the
 *   kwok node) become Ready; the FencedLease is not checked (the in-cluster operator has
 *   no etcd it can reach: etcd listens on 127.0.0.1 only);
 * - a SensorFleet forwarding to a collector this test runs on the node's bridge address:
 *   its agent container is killed (SIGKILL through containerd) while it forwards into a
 *   failing, slow collector; after the restart every sequence number up to the highest
 *   received arrives (the counter resumes from the spool, so a gap is a lost sample);
 * - `dev down` leaves no process, container, mount, cgroup, interface, iptables rule,
 *   sysctl change or host directory behind;
 * - a `dev up` killed while its kubelet starts does not block the next `dev up`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { down, readState, up } from '../../src/devcluster/cluster.ts';
import { CgroupRoot, NodeNetwork } from '../../src/devcluster/realnode/config.ts';
import { isRunning } from '../../src/devcluster/processes.ts';
import { HostPaths, iptablesCleanup, mountsUnder } from '../../src/devcluster/realnode/hoststate.ts';
import { MarkerFile, type RealNodeState } from '../../src/devcluster/realnode/node.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually } from '../support/cluster.ts';

const run = promisify(execFile);
const skip = inject('inclusterSkip');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const OperatorNs = 'manyfold-system';
const OperatorSelector = 'app.kubernetes.io/name=manyfold,app.kubernetes.io/component=operator';

type Pod = KubeObject & {
  spec: { nodeName?: string; containers: { name: string }[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; containerID?: string; restartCount: number; ready: boolean }[];
  };
};
type Lease = KubeObject & { spec?: { holderIdentity?: string } };
type Fleet = KubeObject & { status?: { reportingNodes?: number; readyNodes?: number; observedGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

const podReady = (p: Pod) => p.metadata.deletionTimestamp === undefined && (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

async function kubectl(args: readonly string[]): Promise<string> {
  try {
    return (await run(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], { maxBuffer: 16 << 20 })).stdout;
  } catch (error) {
    throw new Error(`kubectl ${args.join(' ')}: ${(error as { stderr?: string }).stderr ?? String(error)}`, { cause: error });
  }
}

/** Kills a container through the node's containerd (as the OOM killer or a crash would). */
async function killContainer(node: RealNodeState, containerId: string): Promise<void> {
  const id = containerId.replace(/^containerd:\/\//, '');
  await run(node.ctr, ['--address', node.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', id]);
}

/** What a failed wait in `ns` needs to be understood: the fleet, the pods, the agents' and the leader's logs. */
async function withDiagnostics<T>(ns: string, waiting: Promise<T>): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    const attempt = async (args: readonly string[]) => kubectl(args).catch((failed: unknown) => String(failed));
    const sections = [
      ['sensorfleets', await attempt(['get', 'sensorfleets', '-n', ns, '-o', 'yaml'])],
      ['pods', await attempt(['get', 'pods', '-n', ns, '-o', 'wide'])],
      ['events', await attempt(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp'])],
      ['agent logs', await attempt(['logs', '-n', ns, '-l', 'app.kubernetes.io/name=manyfold-agent', '--all-containers', '--prefix', '--tail', '60'])],
      ['operator logs', await attempt(['logs', '-n', OperatorNs, '-l', OperatorSelector, '--prefix', '--tail', '80'])],
    ];
    const text = sections.map(([title, body]) => `--- ${title} ---\n${body}`).join('\n');
    process.stderr.write(`[incluster] diagnostics for ${ns}:\n${text}\n`);
    throw error;
  }
}

describe.skipIf(skip !== '')('in-cluster: the operator and agents as pods on a real node', () => {
  let client: KubeClient;
  let node: RealNodeState;

  beforeAll(async () => {
    client = await adminClient();
    const state = await readState(inject('clusterDir'));
    if (!state?.realNode) throw new Error('no real node recorded');
    node = state.realNode;
  });

  afterAll(async () => {
    await client.close();
  });

  const operatorPods = async () => (await client.list<Pod>(Resources.Pod, { namespace: OperatorNs, labelSelector: OperatorSelector })).items;
  const leaderPod = async () => {
    const lease = await client.getOrUndefined<Lease>(Resources.Lease, 'manyfold-operator', OperatorNs);
    // A released Lease has an empty holder: nobody leads.
    return lease?.spec?.holderIdentity?.split('_')[0] || undefined;
  };
  /** Two Ready operator pods on the real node and a leader among them; returns the leader's name. */
  const settled = async (what: string, not?: string) =>
    eventually(
      what,
      async () => {
        const ready = (await operatorPods()).filter(podReady);
        const leader = await leaderPod();
        return ready.length === 2 && ready.every((p) => p.spec.nodeName === node.name) && leader !== undefined && leader !== not && ready.some((p) => p.metadata.name === leader) ? leader : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );

  it('installs deploy/manifests with kubectl apply -k; both replicas run on the real node under the restricted Pod Security Standard', async () => {
    const overlay = await mkdtemp(join(inject('clusterDir'), 'overlay-'));
    const [name, tag] = inject('image').split(/:(?=[^:]+$)/);
    await writeFile(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${relative(overlay, join(repo, 'deploy', 'manifests'))}`,
        'images:',
        '  - name: ghcr.io/manyfold-dev/manyfold',
        `    newName: ${name ?? ''}`,
        `    newTag: ${tag ?? ''}`,
        'patches:',
        '  - patch: |-',
        '      apiVersion: apps/v1',
        '      kind: Deployment',
        '      metadata: { name: manyfold-operator, namespace: manyfold-system }',
        '      spec:',
        '        template:',
        '          spec:',
        '            nodeSelector: { type: real }',
        '            tolerations: [{ key: manyfold.dev/edge, operator: Exists, effect: NoSchedule }]',
        '            containers:',
        '              - name: operator',
        '                env:',
        '                  - name: MANYFOLD_IMAGE',
        `                    value: ${inject('image')}`,
        '',
      ].join('\n'),
    );
    const started = Date.now();
    await kubectl(['apply', '--server-side', '--force-conflicts', '-k', overlay]);
    const leader = await settled('two Ready operator pods on the real node with a leader');
    process.stderr.write(`[incluster] operator pods Ready with leader ${leader} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    const ns = await client.get(Resources.Namespace, OperatorNs);
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pods = await operatorPods();
    for (const pod of pods) expect(pod.status?.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\//);
    // Enforced, not just labelled: a privileged pod is refused in that namespace.
    const refused = await client
      .create(Resources.Pod, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'privileged-probe', namespace: OperatorNs },
        spec: { containers: [{ name: 'c', image: inject('image'), securityContext: { privileged: true } }] },
      })
      .then(() => 'created', (error: unknown) => String(error));
    expect(refused).toMatch(/violates PodSecurity "restricted/);
    // Non-root with a read-only root filesystem, checked inside the running container (exec through the kubelet).
    expect((await kubectl(['exec', '-n', OperatorNs, leader, '--', 'id', '-u'])).trim()).toBe('65532');
    const write = await kubectl(['exec', '-n', OperatorNs, leader, '--', 'node', '-e', "try { require('fs').writeFileSync('/app/probe', 'x'); console.log('written') } catch (e) { console.log(e.code) }"]);
    expect(write.trim()).toBe('EROFS');
    // The operator's logs through the kubelet (the API server reaches it at its InternalIP).
    const logs = await kubectl(['logs', '-n', OperatorNs, leader, '--tail', '50']);
    expect(logs).toMatch(/leader_elected|operator_starting/);
  });

  it('the other replica takes over when the leader pod is deleted', async () => {
    const leader = await settled('a leader');
    await client.delete(Resources.Pod, { name: leader, namespace: OperatorNs });
    const started = Date.now();
    const next = await eventually(
      'another pod to hold the Lease',
      async () => {
        const holder = await leaderPod();
        return holder !== undefined && holder !== leader ? holder : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    process.stderr.write(`[incluster] leader pod deleted: ${next} took over in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    expect(next).not.toBe(leader);
    await settled('two Ready operator pods again');
  });

  it("the other replica takes over when the leader's container is killed", async () => {
    const leader = await settled('a leader');
    const pod = (await operatorPods()).find((p) => p.metadata.name === leader);
    const status = pod?.status?.containerStatuses?.[0];
    if (!status?.containerID) throw new Error(`leader pod ${leader} has no container`);
    const restarts = status.restartCount;
    await killContainer(node, status.containerID);
    const started = Date.now();
    const next = await eventually(
      'another pod to hold the Lease after the kill',
      async () => {
        const holder = await leaderPod();
        return holder !== undefined && holder !== leader ? holder : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    process.stderr.write(`[incluster] leader container killed: ${next} took over in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    await eventually('the killed container to be restarted', async () => {
      const again = (await operatorPods()).find((p) => p.metadata.name === leader);
      return (again?.status?.containerStatuses?.[0]?.restartCount ?? 0) > restarts;
    });
    await settled('two Ready operator pods after the restart');
  });

  it("examples/ apply; the example SensorFleet's agent on the real node reports (Ready with it reporting, or Degraded naming its errors)", async () => {
    const ns = 'manyfold-examples';
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '--server-side', '-n', ns, '-f', join(repo, 'examples')]);
    const started = Date.now();
    // The fleet has heard from the agent on the real node: Ready with it reporting, or
    // Degraded naming it for the errors its heartbeat carried. Which one depends on the
    // node, not on us: the example's cpu-temp sensor reads a thermal zone this machine
    // may not have, and its collector runs on the kwok node, where the agent cannot
    // reach it; either makes the agent report errors within 15-30 s, so Ready=True is
    // only a window (a test that waited for it failed whenever the first heartbeat was late).
    const fleet = await withDiagnostics(ns, eventually(
      'the example SensorFleet to have heard from the agent on the real node',
      async () => {
        const f = await client.get<Fleet>({ group: 'manyfold.dev', version: 'v1alpha1', plural: 'sensorfleets', kind: 'SensorFleet', namespaced: true }, 'edge-sensors', ns);
        const ready = f.status?.conditions?.find((c) => c.type === 'Ready');
        const degraded = f.status?.conditions?.find((c) => c.type === 'Degraded');
        const reporting = ready?.status === 'True' && (f.status?.reportingNodes ?? 0) >= 1;
        const erring = degraded?.status === 'True' && degraded.reason === 'AgentErrors' && (degraded.message ?? '').includes(node.name);
        return (f.status?.readyNodes ?? 0) >= 1 && (reporting || erring) ? { f, how: reporting ? 'Ready, reporting' : `Degraded: ${degraded?.message ?? ''}` } : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    ));
    process.stderr.write(`[incluster] example SensorFleet heard from the agent in ${((Date.now() - started) / 1000).toFixed(1)} s (${fleet.how})\n`);
    const agents = (await client.list<Pod>(Resources.Pod, { namespace: ns })).items.filter((p) => p.spec.nodeName === node.name && p.metadata.name?.includes('edge-sensors'));
    expect(agents.length).toBeGreaterThanOrEqual(1);
    expect(agents.every(podReady)).toBe(true);
    expect(fleet.f.status?.readyNodes).toBeGreaterThanOrEqual(1);
    // The Cells' workloads do not tolerate the edge taint: they land on the kwok node
    // (faked) and the in-cluster operator converges them all the same.
    const cells = await eventually(
      'every example Cell Ready',
      async () => {
        const list = await client.list<Fleet>({ group: 'manyfold.dev', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: true }, { namespace: ns });
        return list.items.length === 3 && list.items.every((c) => c.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True')) ? list.items : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(cells.map((c) => c.metadata.name).sort()).toEqual(['shop-a', 'shop-b', 'shop-c']);
  });

  it('an agent container killed mid-forwarding loses no acknowledged sample', async () => {
    // A collector on the node's bridge address that fails 30 % of batches and is slow,
    // so the agent has a backlog in its spool when it dies.
    const seqs = new Set<number>();
    let batches = 0;
    let counter = 0;
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        counter++;
        const fail = counter % 10 < 3;
        setTimeout(() => {
          if (fail) {
            res.writeHead(503).end();
            return;
          }
          for (const m of Buffer.concat(chunks).toString('utf8').matchAll(/"seq":(\d+)/g)) seqs.add(Number(m[1]));
          batches++;
          res.writeHead(200).end('ok');
        }, 100);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, NodeNetwork.gateway, resolve));
    const port = (server.address() as AddressInfo).port;
    const ns = 'incluster-forwarding';
    try {
      await kubectl(['create', 'namespace', ns]);
      const fleet = {
        apiVersion: 'manyfold.dev/v1alpha1',
        kind: 'SensorFleet',
        metadata: { name: 'forwarding', namespace: ns },
        spec: {
          nodeSelector: { 'manyfold.dev/edge': 'true' },
          tolerations: [{ key: 'manyfold.dev/edge', operator: 'Exists', effect: 'NoSchedule' }],
          sensors: [{ name: 'fast', source: { type: 'simulated', waveform: 'sine', base: 20, amplitude: 1, noise: 0.1, periodMs: 60000 }, intervalMs: 20 }],
          spool: { maxBytes: 16777216, maxAgeSeconds: 3600, overflow: 'dropOldest' },
          sink: { type: 'http', url: `http://${NodeNetwork.gateway}:${port}/ingest`, batchSize: 20, timeoutMs: 2000 },
          staleAfterSeconds: 30,
        },
      };
      const file = join(inject('clusterDir'), 'forwarding-fleet.json');
      await writeFile(file, JSON.stringify(fleet));
      await kubectl(['apply', '--server-side', '-f', file]);
      const agent = await eventually(
        'the forwarding agent to run and deliver batches',
        async () => {
          const pod = (await client.list<Pod>(Resources.Pod, { namespace: ns })).items.find((p) => p.spec.nodeName === node.name && podReady(p));
          return pod && batches >= 5 ? pod : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      );
      const status = agent.status?.containerStatuses?.find((c) => c.name === 'agent') ?? agent.status?.containerStatuses?.[0];
      if (!status?.containerID) throw new Error('agent has no container');
      const before = Math.max(...seqs);
      await killContainer(node, status.containerID);
      await eventually('the agent container to restart', async () => {
        const pod = await client.get<Pod>(Resources.Pod, agent.metadata.name ?? '', ns);
        const s = pod.status?.containerStatuses?.find((c) => c.name === status.name);
        return (s?.restartCount ?? 0) > status.restartCount && s?.ready === true;
      }, { timeoutMs: 120_000, intervalMs: 500 });
      // Forwarding resumes past what was sent before the kill, and nothing below is missing.
      await eventually('deliveries past the kill with no gap', () => {
        const max = Math.max(...seqs);
        if (max < before + 100) return Promise.resolve(false);
        const first = Math.min(...seqs);
        const missing: number[] = [];
        for (let s = first; s <= max && missing.length < 10; s++) if (!seqs.has(s)) missing.push(s);
        return Promise.resolve(missing.length === 0 ? true : false);
      }, { timeoutMs: 120_000, intervalMs: 1000 });
      const first = Math.min(...seqs);
      const max = Math.max(...seqs);
      expect(first).toBeLessThanOrEqual(1);
      for (let s = first; s <= max; s++) expect(seqs.has(s), `sequence ${s} missing`).toBe(true);
      process.stderr.write(`[incluster] forwarding: ${seqs.size} distinct samples, highest ${max} (${before} before the kill), ${batches} batches accepted\n`);
    } finally {
      // The agent keeps its connections alive; close them, or close() waits for them.
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('dev down leaves no process, container, mount, cgroup, interface, rule, sysctl or directory behind', async () => {
    const dir = inject('clusterDir');
    const state = await readState(dir);
    if (!state?.realNode) throw new Error('no real node recorded');
    const real = state.realNode;
    // The control plane's binaries are shared with other local clusters; the real node's
    // (kubelet, containerd, its shims) run only for the machine's one real node.
    const recorded = [...state.processes, ...real.processes];
    const binaries = real.processes.map((p) => p.binary).concat([real.shim]);
    await down({ dir, log: (line) => process.stderr.write(`[incluster] down: ${line}\n`) });

    const leftovers: string[] = recorded.filter(isRunning).map((p) => `process ${p.pid} ${p.name}`);
    for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      try {
        const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
        if (binaries.includes(exe)) leftovers.push(`process ${pid} ${exe}`);
      } catch {
        // exited meanwhile
      }
    }
    const mounts = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), [real.dir, ...HostPaths.filter((p) => !real.snapshot.existing.includes(p))]);
    leftovers.push(...mounts.map((m) => `mount ${m}`));
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const point = line.split(' ')[4] ?? '';
      if (line.includes(' - cgroup') && existsSync(join(point, CgroupRoot))) leftovers.push(`cgroup ${join(point, CgroupRoot)}`);
    }
    if (existsSync(`/sys/class/net/${NodeNetwork.bridge}`)) leftovers.push(`interface ${NodeNetwork.bridge}`);
    leftovers.push(...readdirSync('/sys/class/net').filter((l) => l.startsWith('veth')).map((l) => `interface ${l}`));
    for (const [binary, before] of [['iptables-save', real.snapshot.iptables], ['ip6tables-save', real.snapshot.ip6tables]] as const) {
      const now = (await run(binary, [])).stdout;
      leftovers.push(...iptablesCleanup(before, now).map((c) => `${binary}: ${c.join(' ')}`));
    }
    for (const [key, value] of Object.entries(real.snapshot.sysctls)) {
      const now = (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
      if (now !== value) leftovers.push(`sysctl ${key} is ${now}, was ${value}`);
    }
    for (const path of HostPaths) if (existsSync(path) !== real.snapshot.existing.includes(path)) leftovers.push(`path ${path}`);
    if (existsSync(real.dir)) leftovers.push(`dir ${real.dir}`);
    if (existsSync(MarkerFile)) leftovers.push(`marker ${MarkerFile}`);
    expect(leftovers).toEqual([]);
  });

  it('an interrupted dev up (killed while the kubelet starts) does not block the next one', async () => {
    const dir = join(inject('clusterDir'), 'interrupted');
    const child = spawn(process.execPath, [join(repo, 'bin', 'manyfold.js'), 'dev', 'up', '--dir', dir, '--nodes', '0', '--real-nodes', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('Starting kubelet')) child.kill('SIGKILL');
    });
    await exited;
    expect(stderr).toContain('Starting kubelet');
    const log = (line: string) => process.stderr.write(`[incluster] interrupted: ${line}\n`);
    const again = await up({ dir, nodes: 0, realNodes: 1, log });
    try {
      expect(again.realNodeNote).toBeUndefined();
      expect(again.realNode?.processes.every(isRunning)).toBe(true);
      const admin = await KubeClient.create({ kubeconfig: again.kubeconfig });
      try {
        const ready = await eventually('the real node Ready after the interrupted start', async () => {
          const n = await admin.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(Resources.Node, again.realNode?.name ?? '');
          return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        });
        expect(ready).toBe(true);
      } finally {
        await admin.close();
      }
    } finally {
      await down({ dir, log });
    }
    expect(existsSync(`/sys/class/net/${NodeNetwork.bridge}`)).toBe(false);
    expect(existsSync(MarkerFile)).toBe(false);
  });
});
