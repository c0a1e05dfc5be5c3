/**
 * The operator as a process against the whole local cluster: `examples/cells.yaml`
 * converges to Ready, the probes and metrics endpoints answer with controller-runtime's
 * metric names, and SIGTERM drains, releases the Lease and exits 0.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import { deployDir, readManifests } from '../../src/devcluster/install.ts';
import type { KubeClient } from '../../src/runtime/kube/client.ts';
import { Resources } from '../../src/runtime/kube/resources.ts';
import type { KubeObject } from '../../src/runtime/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

const examples = join(deployDir, '..', 'examples');

describe('manyfold operator with examples/', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess;

  beforeAll(async () => {
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
