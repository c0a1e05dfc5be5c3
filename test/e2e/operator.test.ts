/**
 * The operator as a process against the whole local cluster: `examples/cells.yaml`
 * converges to Ready, the probes and metrics endpoints answer with controller-runtime's
 * metric names, and SIGTERM drains, releases the Lease and exits 0.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import { deployDir, readManifests } from '../../src/devcluster/install.ts';
import type { KubeClient } from '../../src/runtime/kube/client.ts';
import { Resources } from '../../src/runtime/kube/resources.ts';
import type { KubeObject } from '../../src/runtime/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

const examples = join(deployDir, '..', 'examples');

describe('manyfold operator with examples/cells.yaml', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess;

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'shop');
    operator = startOperatorProcess();
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
