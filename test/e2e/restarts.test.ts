/**
 * The control plane restarted under a leading, reconciling operator process:
 * Kubernetes' etcd, then kube-apiserver. Writes keep coming while the component is down
 * (a user retrying `kubectl apply`); afterwards every Cell has observed its last
 * generation and stamped its child with the last value written (no write lost), the
 * operator process is still running and leads, and a term that ended for the restart
 * was followed by one with a higher epoch (it steps down and comes back, never leads
 * unfenced).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import { restartComponent } from '../../src/devcluster/cluster.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

type Cell = KubeObject & { status?: CellStatus };
const CellCount = 6;

describe.runIf(inject('clusterKind') === 'local')('control-plane restarts under a leading operator', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess;
  let identity = '';
  /** The last value written to each Cell's template. */
  const latest = new Map<string, string>();

  const cell = (name: string, value: string): KubeObject => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name },
    spec: { zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { value } }] } },
  });
  const names = Array.from({ length: CellCount }, (_, i) => `c${i}`);

  /** Applies `value` to a Cell, retrying while the API server cannot take it (as a user would). */
  async function write(name: string, value: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await admin.apply(cell(name, value), { fieldManager: 'test-user' });
        latest.set(name, value);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
  }

  async function converged(): Promise<void> {
    await eventually(
      'every Cell Ready at its generation with its last value stamped',
      async () => {
        for (const name of names) {
          const c = await admin.get<Cell>(CellType, name, ns.name);
          if (c.status?.observedGeneration !== c.metadata.generation || c.status?.phase !== 'Ready') return false;
          const child = await admin.get<KubeObject & { data?: Record<string, string> }>(Resources.ConfigMap, `${name}-cfg`, ns.name);
          if (child.data?.['value'] !== latest.get(name)) return false;
        }
        return true;
      },
      { timeoutMs: 120_000 },
    );
  }

  /** Leader terms logged so far: epochs of leader_elected, in order. */
  const terms = () => operator.logs.filter((l) => l['event'] === 'leader_elected').map((l) => Number(l['epoch']));

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'restarts');
    operator = startOperatorProcess();
    identity = String((await operator.waitForLog((l) => l['event'] === 'operator_starting'))['identity']);
    await operator.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    for (const name of names) await write(name, 'v1');
    await converged();
  });
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  async function restartUnderLoad(component: 'etcd' | 'kube-apiserver', round: string): Promise<void> {
    const termsBefore = terms();
    // Half the Cells change just before the restart, so reconciles are running when it hits.
    for (const name of names.slice(0, CellCount / 2)) await write(name, `${round}-a`);
    const restarting = restartComponent(component, { dir: inject('clusterDir'), downtimeMs: 2000 });
    // The other half changes while the component is down (the writes retry until it is back).
    const writing = Promise.all(names.slice(CellCount / 2).map((name) => write(name, `${round}-b`)));
    await restarting;
    await eventually('the API server ready again', async () => (await admin.requestText('/readyz', { timeoutMs: 2000 })).trim() === 'ok', { timeoutMs: 90_000 });
    await writing;
    // And one more change after it is back.
    await write(names[0] ?? 'c0', `${round}-c`);
    await converged();

    expect(operator.child.exitCode, 'the operator process exited').toBeNull();
    const after = terms();
    const lost = operator.logs.filter((l) => l['event'] === 'leader_lost').length;
    // As designed: it either kept its term or stepped down and won a new one with a higher epoch.
    if (after.length > termsBefore.length) {
      expect(lost).toBeGreaterThan(0);
      for (let i = 1; i < after.length; i++) expect(after[i]).toBeGreaterThan(after[i - 1] ?? 0);
    }
    const lease = await admin.get<KubeObject & { spec: { holderIdentity?: string } }>(Resources.Lease, 'manyfold-operator', 'manyfold-system');
    expect(lease.spec.holderIdentity).toBe(identity);
    // The Cell changed last was reconciled by the term that leads now.
    const last = await admin.get<Cell>(CellType, names[0] ?? 'c0', ns.name);
    expect(Number(last.status?.epoch)).toBe(after.at(-1));
    console.info(`[restart ${component}] terms ${JSON.stringify(termsBefore)} -> ${JSON.stringify(after)}, leader_lost ${lost}`);
  }

  it("survives Kubernetes' etcd restarting while it leads and reconciles", async () => {
    await restartUnderLoad('etcd', 'etcd');
  }, 300_000);

  it('survives kube-apiserver restarting while it leads and reconciles', async () => {
    await restartUnderLoad('kube-apiserver', 'api');
  }, 300_000);
});
