/**
 * The operator as a process against the whole local cluster: `examples/cells.yaml`
 * converges to Ready, the probes and metrics endpoints answer with controller-runtime's
 * metric names, and SIGTERM drains, releases the Lease and exits 0. The Argo CD health
 * checks of deploy/argocd read the live objects as an Argo CD user would see them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import { deployDir, readManifests } from '../../src/devcluster/install.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { evaluateHealth, loadHealthChecks, type Health } from '../support/argocd-health.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

const examples = join(deployDir, '..', 'examples');

describe('manyfold operator with examples/', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess;
  let healthChecks: Map<string, string>;
  /** The health Argo CD would show for a live object. */
  const argoHealth = (object: KubeObject): Health => evaluateHealth(healthChecks.get(object.kind) ?? '', object);

  beforeAll(async () => {
    healthChecks = await loadHealthChecks();
    admin = await adminClient();
    ns = await testNamespace(admin, 'shop');
    operator = startOperatorProcess(inject('etcdEndpoint') ? ['--etcd-endpoints', inject('etcdEndpoint')] : []);
    await operator.waitForLog((l) => l['event'] === 'controller_started', 30_000);
  });
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  it('converges every example Cell to Ready', async () => {
    const cells = await readManifests(join(examples, 'cells.yaml'));
    expect(cells.length).toBe(3);
    for (const cell of cells) await admin.apply({ ...cell, metadata: { ...cell.metadata, namespace: ns.name } }, { fieldManager: 'kubectl' });
    const ready = await eventually(
      'all example cells Ready',
      async () => {
        const list = await admin.list<KubeObject & { status?: CellStatus }>(CellType, { namespace: ns.name });
        return list.items.length === 3 && list.items.every((c) => c.status?.phase === 'Ready') ? list.items : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(new Set(ready.map((c) => (c as KubeObject & { spec: { zone: string } }).spec.zone))).toEqual(new Set(['zone-a', 'zone-b']));
    // Each cell's Service selects only its own pods.
    const endpointsOf = async (cell: string) => {
      const slices = await admin.list<KubeObject & { endpoints?: unknown[] }>(Resources.EndpointSlice, { namespace: ns.name, labelSelector: `kubernetes.io/service-name=${cell}-web` });
      return slices.items.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
    };
    for (const cell of ['shop-a', 'shop-b', 'shop-c']) {
      await eventually(`${cell}-web to have exactly its own 2 endpoints`, async () => (await endpointsOf(cell)) === 2);
    }
    for (const cell of ready) expect(argoHealth(cell), cell.metadata.name).toMatchObject({ status: 'Healthy' });
  });

  it('shows a Cell held by its kill switch as Suspended in Argo CD, and Healthy once released', async () => {
    const setSwitch = (value: string | null) => admin.patch(CellType, { name: 'shop-c', namespace: ns.name }, { metadata: { annotations: { 'manyfold.dev/kill-switch': value } } }, { type: 'merge' });
    await setSwitch('true');
    const held = await eventually('shop-c Suspended', async () => {
      const cell = await admin.get(CellType, 'shop-c', ns.name);
      const health = argoHealth(cell);
      return health.status === 'Suspended' ? health : undefined;
    });
    expect(held.message).toMatch(/^KillSwitchEngaged: kill switch engaged/);
    await setSwitch(null);
    await eventually('shop-c Healthy again', async () => argoHealth(await admin.get(CellType, 'shop-c', ns.name)).status === 'Healthy');
  });

  it('runs examples/sensor-fleet.yaml as a DaemonSet on the selected nodes', async () => {
    for (const object of await readManifests(join(examples, 'sensor-fleet.yaml'))) {
      await admin.apply({ ...object, metadata: { ...object.metadata, namespace: ns.name } }, { fieldManager: 'kubectl' });
    }
    // The example selects edge nodes: label one kwok node as such.
    const node = 'kwok-node-0';
    await admin.patch(Resources.Node, { name: node }, { metadata: { labels: { 'manyfold.dev/edge': 'true' } } }, { type: 'merge' });
    try {
      const SensorFleet = { group: 'manyfold.dev', version: 'v1alpha1', plural: 'sensorfleets', kind: 'SensorFleet', namespaced: true };
      const fleet = await eventually(
        'the example fleet to have its node ready',
        async () => {
          const f = await admin.get<KubeObject & { status?: { desiredNodes?: number; readyNodes?: number } }>(SensorFleet, 'edge-sensors', ns.name);
          return f.status?.desiredNodes !== undefined && f.status.desiredNodes >= 1 && f.status.readyNodes === f.status.desiredNodes ? f : undefined;
        },
        { timeoutMs: 90_000 },
      );
      expect(fleet.status?.desiredNodes).toBeGreaterThanOrEqual(1);
      // kwok runs no agents, so the fleet may not be Ready here; Argo CD's verdict must follow Ready either way.
      const fleetReady = (fleet.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
      expect(argoHealth(fleet).status).toBe(fleetReady?.status === 'True' ? 'Healthy' : 'Progressing');
      const ds = await admin.get<KubeObject & { spec: { template: { spec: { containers: { args?: string[] }[] } } } }>(Resources.DaemonSet, 'edge-sensors-agent', ns.name).catch(() => undefined);
      const daemonSets = ds ? [ds] : (await admin.list(Resources.DaemonSet, { namespace: ns.name })).items;
      expect(daemonSets.length).toBe(1);
    } finally {
      await admin.patch(Resources.Node, { name: node }, { metadata: { labels: { 'manyfold.dev/edge': null } } }, { type: 'merge' });
    }
  });

  it.runIf(inject('etcdEndpoint') !== '')('mirrors examples/fenced-lease.yaml from etcd', async () => {
    for (const object of await readManifests(join(examples, 'fenced-lease.yaml'))) {
      await admin.apply({ ...object, metadata: { ...object.metadata, namespace: ns.name } }, { fieldManager: 'kubectl' });
    }
    const FencedLease = { group: 'manyfold.dev', version: 'v1alpha1', plural: 'fencedleases', kind: 'FencedLease', namespaced: true };
    const lease = await eventually('the example lease Ready', async () => {
      const l = await admin.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(FencedLease, 'payments-leader', ns.name);
      return l.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? l : undefined;
    });
    expect(lease.metadata.finalizers).toContain('manyfold.dev/fencedlease-cleanup');
    expect(argoHealth(lease)).toMatchObject({ status: 'Healthy' });
  });

  it('serves readiness and controller-runtime metrics', async () => {
    const serving = await operator.waitForLog((l) => l['event'] === 'endpoints_serving');
    const probes = String(serving['probes']);
    const metrics = String(serving['metrics']);
    expect(await (await fetch(`http://${probes}/readyz`)).text()).toBe('ok');
    expect((await fetch(`http://${probes}/healthz`)).status).toBe(200);
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    for (const pattern of [
      /^controller_runtime_reconcile_total\{controller="cell",result="success"\} [1-9]/m,
      /^controller_runtime_reconcile_time_seconds_bucket\{.*controller="cell"/m,
      /^workqueue_adds_total\{.*name="cell".*\} [1-9]/m,
      /^workqueue_depth\{.*name="cell".*\} \d/m,
      /^workqueue_queue_duration_seconds_bucket\{.*name="cell"/m,
      /^leader_election_master_status\{name="manyfold-operator"\} 1$/m,
      /^leader_elections_total\{name="manyfold-operator"\} 1$/m,
      /^process_resident_memory_bytes \d+/m,
    ]) {
      expect(text, text.split("\n").filter((l) => l.startsWith("workqueue") && !l.includes("bucket")).join("\n")).toMatch(pattern);
    }
  });

  it('on SIGTERM drains, releases the Lease and exits 0', async () => {
    const code = await operator.stop(20_000);
    expect(code).toBe(0);
    expect(operator.logs.some((l) => l['event'] === 'leader_released')).toBe(true);
    const lease = await admin.get<KubeObject & { spec: { holderIdentity?: string } }>(Resources.Lease, 'manyfold-operator', 'manyfold-system');
    expect(lease.spec.holderIdentity ?? '').toBe('');
  });
});
