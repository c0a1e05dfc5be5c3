/**
 * The SensorFleet controller against the real API server, kube-controller-manager,
 * scheduler and kwok nodes, with the operator's ServiceAccount (so RBAC is what
 * deploy/manifests grants): the agent DaemonSet, config and identity appear with the
 * right spec on the selected kwok nodes and `readyNodes` follows them. kwok runs no
 * containers, so real `manyfold agent` processes run on this machine, one per kwok node
 * (`NODE_NAME` set, the ConfigMap copied to a file, a token of the agents'
 * ServiceAccount), forwarding to a local HTTP collector; their heartbeats drive
 * `reportingNodes`, `staleNodes` (an agent killed), backlog (the collector refusing),
 * errors (a sensor failing) and the conditions. Departed nodes' Leases are deleted; a
 * config change is published without rolling pods and the agents reload it; the kill
 * switch freezes changes; a spec invalid in meaning becomes InvalidSpec.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SensorFleetType, sensorFleetController } from '../../src/controllers/sensorfleet.ts';
import type { SensorFleetSpecInput, SensorFleetStatus } from '../../src/crds/sensorfleet.ts';
import { fakeNode } from '../../src/devcluster/nodes.ts';
import { FleetLabel, heartbeatLeaseName } from '../../src/reconcilers/sensorfleet-agent.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { binPath, startManager, type RunningManager } from '../support/operator.ts';

type Fleet = KubeObject & { spec: SensorFleetSpecInput; status?: SensorFleetStatus };
type Lease = KubeObject & { spec?: { holderIdentity?: string; renewTime?: string } };
type ConfigMap = KubeObject & { data: Record<string, string> };
type Pod = KubeObject & { spec: { nodeName?: string } };
interface DaemonSet extends KubeObject {
  spec: { selector: { matchLabels: Record<string, string> }; template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[]; volumes: Record<string, unknown>[] } } };
}

const STALE_AFTER = 6;
const nodeNames = [901, 902, 903].map((i) => fakeNode(i).metadata.name ?? '');

/** An HTTP sink on 127.0.0.1 that acknowledges batches (200) or refuses them (503). */
class Collector {
  accepting = true;
  readonly paths = new Map<string, number>();
  private readonly server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.paths.set(req.url ?? '', (this.paths.get(req.url ?? '') ?? 0) + 1);
      res.writeHead(this.accepting ? 200 : 503).end();
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Real `manyfold agent` processes on this machine, one per kwok node (kwok runs no
 * containers): `NODE_NAME` set, the fleet's ConfigMap copied to a local file (as the
 * kubelet would project it), credentials a token of the agents' ServiceAccount.
 */
class Agents {
  private readonly running = new Map<string, ChildProcess>();
  readonly dir: string;
  readonly kubeconfig: string;
  readonly config: string;
  constructor(dir: string) {
    this.dir = dir;
    this.kubeconfig = join(dir, 'agent.kubeconfig');
    this.config = join(dir, 'config.json');
  }

  start(node: string): void {
    if (this.running.has(node)) return;
    const log = createWriteStream(join(this.dir, `agent-${node}.log`), { flags: 'a' });
    const child = spawn(
      process.execPath,
      [binPath, 'agent', '--config', this.config, '--spool-dir', join(this.dir, `spool-${node}`), '--kubeconfig', this.kubeconfig, '--metrics-bind-address', '0', '--log-level', 'warn'],
      { env: { ...process.env, NODE_NAME: node }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.running.set(node, child);
  }

  /** SIGKILL, as a crashed or cut-off agent: its heartbeats just stop. */
  async kill(node: string): Promise<void> {
    const child = this.running.get(node);
    this.running.delete(node);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async killAll(): Promise<void> {
    for (const node of [...this.running.keys()]) await this.kill(node);
  }
}

/** Writes a kubeconfig holding a token of `serviceAccount` (what the agents' pods get). */
async function writeServiceAccountKubeconfig(admin: KubeClient, options: { namespace: string; serviceAccount: string; path: string }): Promise<void> {
  const token = await admin.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${options.namespace}/serviceaccounts/${options.serviceAccount}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const base = new KubeConfig();
  base.loadFromFile(inject('kubeconfig'));
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'agent', token: token.status.token }],
    contexts: [{ name: 'agent', cluster: cluster.name, user: 'agent', namespace: options.namespace }],
    currentContext: 'agent',
  });
  await writeFile(options.path, kc.exportConfig(), { mode: 0o600 });
}

/** Requests the operator's identity made, from the API server's audit log (local cluster only). */
async function operatorWrites(resource: string, name: string): Promise<number> {
  const text = await readFile(join(inject('clusterDir'), 'logs', 'audit.log'), 'utf8');
  return text.split('\n').filter((line) => line.includes(`"resource":"${resource}"`) && line.includes(`"name":"${name}"`) && line.includes('manyfold-operator')).length;
}

describe('SensorFleet controller', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  let agents: Agents;
  const collector = new Collector();
  const selectorKey = 'manyfold.dev/sfleet-test';
  let workDir = '';
  let sensorFile = '';

  const fleet = (name: string, spec: SensorFleetSpecInput, annotations: Record<string, string> = {}): Fleet => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'SensorFleet',
    metadata: { name, namespace: ns.name, annotations },
    spec,
  });
  const spec = (change: Partial<SensorFleetSpecInput> = {}): SensorFleetSpecInput => ({
    nodeSelector: { [selectorKey]: ns.name },
    tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
    sensors: [
      { name: 'temp', source: { type: 'simulated', base: 40, amplitude: 5, periodMs: 10_000 }, intervalMs: 100, filters: [{ type: 'threshold', threshold: 0.01 }] },
      { name: 'board', source: { type: 'file', path: sensorFile }, intervalMs: 500 },
    ],
    sink: { type: 'http', url: `${collector.url}/ingest`, timeoutMs: 2000 },
    staleAfterSeconds: STALE_AFTER,
    degradedStaleFraction: 0.2,
    ...change,
  });
  const apply = (object: KubeObject) => admin.apply(object, { fieldManager: 'test-user' });
  const getFleet = (name: string) => admin.get<Fleet>(SensorFleetType, name, ns.name);
  const condition = (f: Fleet, type: string) => f.status?.conditions?.find((c) => c.type === type);
  const untilFleet = (what: string, name: string, check: (f: Fleet) => boolean, timeoutMs = 60_000) =>
    eventually(what, async () => {
      const f = await getFleet(name);
      return check(f) ? f : undefined;
    }, { timeoutMs });
  const label = (node: string, value: string | null) =>
    admin.patch(Resources.Node, { name: node }, { metadata: { labels: { [selectorKey]: value } } }, { type: 'merge' });
  /** Copies the published config to the agents' file, as the kubelet's ConfigMap volume would. */
  const projectConfig = async () => {
    const cm = await admin.get<ConfigMap>(Resources.ConfigMap, 'edge-agent', ns.name);
    await writeFile(agents.config, cm.data['config.json'] ?? '');
    return cm;
  };

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'sfleet');
    // Not under /tmp: the agent container mounts its own /tmp, so the fleet would refuse a
    // sensor path there. The checkout itself may live under /tmp (CI clones), so use the
    // user's cache directory instead of the working directory.
    workDir = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'manyfold', 'test-work', `sfleet-${ns.name}`);
    await mkdir(workDir, { recursive: true });
    sensorFile = join(workDir, 'board-temp');
    await writeFile(sensorFile, '42000\n');
    agents = new Agents(workDir);
    await collector.start();
    for (const [i, name] of nodeNames.entries()) {
      const node = fakeNode(901 + i);
      await admin.deleteIfExists(Resources.Node, { name });
      await admin.create(Resources.Node, { ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, ...(i < 2 ? { [selectorKey]: ns.name } : {}) } } });
    }
    operator = await startManager([sensorFleetController({ operatorNamespace: 'manyfold-system' })]);
  });
  afterAll(async () => {
    await agents?.killAll();
    await operator?.stop();
    await collector.stop();
    for (const name of nodeNames) await admin.deleteIfExists(Resources.Node, { name });
    await ns.dispose();
    await admin.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('runs the agent DaemonSet on the selected kwok nodes, and readyNodes follows them', async () => {
    await apply(fleet('edge', spec()));
    const converged = await untilFleet('2 nodes desired and ready', 'edge', (f) => f.status?.desiredNodes === 2 && f.status.readyNodes === 2, 90_000);
    expect(converged.status?.observedGeneration).toBe(1);
    expect(Number(converged.status?.epoch)).toBe(operator.manager.epoch);

    const ds = await admin.get<DaemonSet>(Resources.DaemonSet, 'edge-agent', ns.name);
    expect(ds.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SensorFleet', name: 'edge', controller: true });
    expect(ds.spec.selector.matchLabels).toEqual({ [FleetLabel]: 'edge', 'app.kubernetes.io/component': 'sensor-agent' });
    const pod = ds.spec.template.spec;
    expect(pod['nodeSelector']).toEqual({ [selectorKey]: ns.name });
    expect(pod['tolerations']).toEqual([{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod['serviceAccountName']).toBe('edge-agent');
    expect(pod['securityContext']).toMatchObject({ runAsUser: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]).toMatchObject({
      name: 'agent',
      args: ['agent', '--config', '/etc/manyfold/agent/config.json', '--spool-dir', '/var/lib/manyfold/spool', '--metrics-bind-address', ':9464'],
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      resources: { limits: { cpu: '500m', memory: '256Mi' } },
    });
    const volumes = new Map(pod.volumes.map((v) => [v['name'], v]));
    expect(volumes.get('config')).toMatchObject({ configMap: { name: 'edge-agent' } });
    expect(volumes.get('spool')).toMatchObject({ hostPath: { path: '/var/lib/manyfold/spool', type: 'DirectoryOrCreate' } });
    // The file sensor's path is mounted read-only from the node.
    expect(pod.volumes.some((v) => (v['hostPath'] as { path?: string } | undefined)?.path === sensorFile)).toBe(true);

    const pods = await admin.list<Pod>(Resources.Pod, { namespace: ns.name, labelSelector: `${FleetLabel}=edge` });
    expect(pods.items.map((p) => p.spec.nodeName).sort()).toEqual(nodeNames.slice(0, 2));

    const config = await admin.get<ConfigMap>(Resources.ConfigMap, 'edge-agent', ns.name);
    const doc = JSON.parse(config.data['config.json'] ?? '{}') as Record<string, unknown>;
    expect(doc).toMatchObject({ version: 1, fleet: { namespace: ns.name, name: 'edge', generation: 1 }, staleAfterSeconds: STALE_AFTER, heartbeatIntervalSeconds: 2, sink: { type: 'http', url: `${collector.url}/ingest` } });
    expect(config.metadata.annotations?.['manyfold.dev/config-hash']).toBe(ds.metadata.annotations?.['manyfold.dev/config-hash']);
    for (const type of [Resources.ServiceAccount, { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true }, { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true }]) {
      const child = await admin.get(type, 'edge-agent', ns.name);
      expect(child.metadata.ownerReferences?.[0]?.name, type.kind).toBe('edge');
    }

    await label(nodeNames[2] ?? '', ns.name);
    await untilFleet('3 nodes desired and ready', 'edge', (f) => f.status?.desiredNodes === 3 && f.status.readyNodes === 3, 90_000);
  });

  it('reports the real agents: reporting nodes, last sample, samples at the collector; children are not rewritten', async () => {
    await writeServiceAccountKubeconfig(admin, { namespace: ns.name, serviceAccount: 'edge-agent', path: agents.kubeconfig });
    await projectConfig();
    const dsWritesBefore = inject('clusterKind') === 'local' ? await operatorWrites('daemonsets', 'edge-agent') : 0;
    for (const node of nodeNames) agents.start(node);
    const reporting = await untilFleet('3 nodes reporting', 'edge', (f) => f.status?.reportingNodes === 3 && condition(f, 'Ready')?.status === 'True', 90_000);
    expect(condition(reporting, 'Ready')?.reason).toBe('AllNodesReporting');
    expect(condition(reporting, 'Degraded')?.status).toBe('False');
    expect(reporting.status?.staleNodeCount).toBe(0);
    await untilFleet('a recent sample', 'edge', (f) => Date.now() - Date.parse(f.status?.lastSampleTime ?? '') < 30_000);
    // Each agent wrote its own heartbeat with the ServiceAccount the controller created.
    for (const node of nodeNames) {
      const lease = await admin.get<Lease>(Resources.Lease, heartbeatLeaseName('edge', node), ns.name);
      expect(lease.spec?.holderIdentity).toBe(node);
      expect(lease.metadata.annotations?.['manyfold.dev/health']).toBe('ok');
    }
    await eventually('batches at the collector', async () => (collector.paths.get('/ingest') ?? 0) > 0);
    // Heartbeats every 2 s woke the controller many times; none of that re-applied the DaemonSet.
    await new Promise((r) => setTimeout(r, 5000));
    if (inject('clusterKind') === 'local') expect(await operatorWrites('daemonsets', 'edge-agent')).toBe(dsWritesBefore);
  });

  it('sums the backlog while the sink refuses, and sees it drain', async () => {
    collector.accepting = false;
    const backlog = await untilFleet('a backlog', 'edge', (f) => (f.status?.backlogRecords ?? 0) > 100);
    expect(backlog.status?.reportingNodes).toBe(3);
    collector.accepting = true;
    await untilFleet('the backlog drained', 'edge', (f) => (f.status?.backlogRecords ?? Infinity) < 50, 90_000);
  });

  it('marks a killed agent stale after staleAfterSeconds, degrades, and recovers when it returns', async () => {
    const silent = nodeNames[2] ?? '';
    await agents.kill(silent);
    const stale = await untilFleet('one node stale', 'edge', (f) => f.status?.staleNodeCount === 1, 30_000);
    expect(stale.status?.staleNodes).toEqual([silent]);
    expect(stale.status?.reportingNodes).toBe(2);
    expect(condition(stale, 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReporting' });
    expect(condition(stale, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesStale' });
    expect(condition(stale, 'Degraded')?.message).toContain(silent);
    agents.start(silent);
    await untilFleet('recovered', 'edge', (f) => f.status?.reportingNodes === 3 && condition(f, 'Degraded')?.status === 'False', 60_000);
  });

  it('reports agents whose sensor fails as AgentErrors', async () => {
    await rm(sensorFile);
    const erroring = await untilFleet('errors reported', 'edge', (f) => condition(f, 'Degraded')?.reason === 'AgentErrors', 90_000);
    expect(condition(erroring, 'Degraded')?.message).toContain('board');
    await writeFile(sensorFile, '41000\n');
    await untilFleet('recovered', 'edge', (f) => condition(f, 'Ready')?.status === 'True' && condition(f, 'Degraded')?.status === 'False', 90_000);
  });

  it('deletes the heartbeat Lease of a node that left', async () => {
    const leaving = nodeNames[2] ?? '';
    await agents.kill(leaving);
    await admin.delete(Resources.Node, { name: leaving });
    await eventually("the departed node's Lease deleted", async () => (await admin.getOrUndefined(Resources.Lease, heartbeatLeaseName('edge', leaving), ns.name)) === undefined);
    const after = await untilFleet('2 nodes desired', 'edge', (f) => f.status?.desiredNodes === 2 && f.status.reportingNodes === 2 && f.status.staleNodeCount === 0, 90_000);
    expect(condition(after, 'Ready')?.status).toBe('True');
    // A heartbeat of a node that still exists is left alone.
    expect(await admin.getOrUndefined(Resources.Lease, heartbeatLeaseName('edge', nodeNames[0] ?? ''), ns.name)).toBeDefined();
  });

  it('publishes a config change without rolling the agent pods, and the agents reload it', async () => {
    const before = await admin.get<DaemonSet>(Resources.DaemonSet, 'edge-agent', ns.name);
    const podsBefore = (await admin.list(Resources.Pod, { namespace: ns.name, labelSelector: `${FleetLabel}=edge` })).items.map((p) => p.metadata.name).sort();
    await apply(fleet('edge', spec({ sink: { type: 'http', url: `${collector.url}/ingest-v2`, timeoutMs: 2000 } })));
    const cm = await eventually('config republished', async () => {
      const c = await admin.get<ConfigMap>(Resources.ConfigMap, 'edge-agent', ns.name);
      return (c.data['config.json'] ?? '').includes('ingest-v2') ? c : undefined;
    });
    const hash = cm.metadata.annotations?.['manyfold.dev/config-hash'];
    expect(hash).not.toBe(before.metadata.annotations?.['manyfold.dev/config-hash']);
    const after = await eventually('the DaemonSet annotated with the new hash', async () => {
      const d = await admin.get<DaemonSet>(Resources.DaemonSet, 'edge-agent', ns.name);
      return d.metadata.annotations?.['manyfold.dev/config-hash'] === hash ? d : undefined;
    });
    expect(after.metadata.generation).toBe(before.metadata.generation);
    const podsAfter = (await admin.list(Resources.Pod, { namespace: ns.name, labelSelector: `${FleetLabel}=edge` })).items.map((p) => p.metadata.name).sort();
    expect(podsAfter).toEqual(podsBefore);
    await projectConfig();
    await eventually('the agents forward to the new URL', async () => (collector.paths.get('/ingest-v2') ?? 0) > 0, { timeoutMs: 60_000 });
    await untilFleet('generation 2 observed', 'edge', (f) => f.status?.observedGeneration === 2 && f.status.reportingNodes === 2);
  });

  it('freezes config and DaemonSet changes while the kill switch is engaged', async () => {
    await apply(fleet('edge', spec({ sink: { type: 'http', url: `${collector.url}/ingest-v3` } }), { 'manyfold.dev/kill-switch': 'true' }));
    const frozen = await untilFleet('kill switch reported', 'edge', (f) => condition(f, 'Progressing')?.reason === 'KillSwitchEngaged');
    expect(frozen.status?.reportingNodes).toBe(2);
    expect((await admin.get<ConfigMap>(Resources.ConfigMap, 'edge-agent', ns.name)).data['config.json']).toContain('ingest-v2');
    await apply(fleet('edge', spec({ sink: { type: 'http', url: `${collector.url}/ingest-v3` } }), {}));
    await eventually('the change applied once released', async () => ((await admin.get<ConfigMap>(Resources.ConfigMap, 'edge-agent', ns.name)).data['config.json'] ?? '').includes('ingest-v3'));
  });

  it('reports a spec that is valid in shape but not in meaning as InvalidSpec, naming the field', async () => {
    await apply(fleet('bad', spec({ spool: { path: '/etc/manyfold' } })));
    const bad = await untilFleet('bad InvalidSpec', 'bad', (f) => condition(f, 'Ready')?.reason === 'InvalidSpec');
    expect(condition(bad, 'Ready')?.status).toBe('False');
    expect(condition(bad, 'Ready')?.message).toContain('spec.spool.path');
    expect(await admin.getOrUndefined(Resources.DaemonSet, 'bad-agent', ns.name)).toBeUndefined();
  });

  it('removes the heartbeats of a deleted fleet', async () => {
    await agents.killAll();
    await admin.delete(SensorFleetType, { name: 'edge', namespace: ns.name });
    await eventually('heartbeats removed', async () => (await admin.list(Resources.Lease, { namespace: ns.name, labelSelector: `${FleetLabel}=edge` })).items.length === 0);
    await eventually('children collected', async () => (await admin.getOrUndefined(Resources.DaemonSet, 'edge-agent', ns.name)) === undefined);
  });

  it('needed no permission beyond deploy/manifests (no terminal errors)', async () => {
    expect(await operator.metric('controller_runtime_terminal_reconcile_errors_total'), operator.errors.join('\n')).toBe(0);
    expect(await operator.metric('controller_runtime_reconcile_total', { controller: 'sensorfleet' })).toBeGreaterThan(0);
  });
});
