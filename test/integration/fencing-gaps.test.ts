/**
 * The fencing gaps of issue 15 (item 6), provoked against the real API server and etcd:
 *
 * - a malformed epoch in the fencing ConfigMap is reported once and campaigns back off
 *   (no new term every 0.5 s); the operator leads again once it is repaired;
 * - `--leader-elect=false` refuses to start while an elected leader is alive, and once
 *   running alone it exits when an elected leader fences it out (no zombie);
 * - the operator's own etcd actions are fenced: a process whose epoch is no longer
 *   current does not revoke a FencedLease's holder on deletion.
 *
 * Each test restores a well-formed, higher epoch, so later tests lead as usual.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import { FencedLeaseType, fencedLeaseController } from '../../src/controllers/fencedlease.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { createLeaseClient } from '../../src/legos/lease/index.ts';
import { FencingConfigMap } from '../../src/runtime/leader/fence.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

type ConfigMap = KubeObject & { data?: Record<string, string> };
type Lease = KubeObject & { spec?: { holderIdentity?: string; leaseTransitions?: number } };

const OperatorNamespace = 'manyfold-system';
/** The operator's leader-election Lease (the only one the confinement policy lets it write). */
const LeaseName = 'manyfold-operator';

describe('fencing gaps', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  const processes: OperatorProcess[] = [];

  const publishedEpoch = async () => (await admin.get<ConfigMap>(Resources.ConfigMap, FencingConfigMap, OperatorNamespace)).data?.['epoch'];
  const setEpoch = (epoch: string) => admin.patch(Resources.ConfigMap, { name: FencingConfigMap, namespace: OperatorNamespace }, { data: { epoch } }, { type: 'merge' });
  const operator = (args: string[]) => {
    const p = startOperatorProcess(args);
    processes.push(p);
    return p;
  };
  const events = (p: OperatorProcess, event: string) => p.logs.filter((l) => l['event'] === event);

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'fencing-gaps');
  });
  afterAll(async () => {
    for (const p of processes) await p.stop();
    await ns.dispose();
    await admin.close();
  });

  it('reports a malformed epoch once and backs off instead of re-electing every retry period; leads once it is repaired', async () => {
    const good = Number((await publishedEpoch()) ?? '0');
    // The operator's own Lease: the confinement policy lets its identity write no other
    // Lease in manyfold-system. Earlier tests may have left it (released).
    const before = await admin.getOrUndefined<Lease>(Resources.Lease, LeaseName, OperatorNamespace);
    await setEpoch('not-a-number');
    const p = operator([]);
    try {
      await p.waitForLog((l) => l['event'] === 'fencing_epoch_malformed', 30_000);
      await sleep(8000);
      // Reported once (same value), never a term, and the Lease was never taken.
      expect(events(p, 'fencing_epoch_malformed')).toHaveLength(1);
      expect(events(p, 'leader_elected')).toHaveLength(0);
      const after = await admin.getOrUndefined<Lease>(Resources.Lease, LeaseName, OperatorNamespace);
      expect({ holder: after?.spec?.holderIdentity, transitions: after?.spec?.leaseTransitions }).toEqual({ holder: before?.spec?.holderIdentity, transitions: before?.spec?.leaseTransitions });
    } finally {
      await setEpoch(String(good));
    }
    await p.waitForLog((l) => l['event'] === 'leader_elected', 60_000);
    expect(events(p, 'fencing_epoch_repaired')).toHaveLength(1);
    expect(Number(await publishedEpoch())).toBeGreaterThan(good);
    await p.stop();
  });

  it('--leader-elect=false refuses to start while an elected leader is alive, and exits once an elected leader fences it out', async () => {
    const elected = operator([]);
    await elected.waitForLog((l) => l['event'] === 'leader_elected', 60_000);
    const epochBefore = await publishedEpoch();

    const refused = operator(['--leader-elect=false']);
    expect(await refused.exited).toBe(1);
    expect(events(refused, 'leader_recorded')).toHaveLength(1);
    expect(events(refused, 'fencing_enforced')).toHaveLength(0);
    expect(await publishedEpoch()).toBe(epochBefore); // the elected leader was not fenced out

    expect(await elected.stop()).toBe(0); // releases the Lease
    const alone = operator(['--leader-elect=false']);
    await alone.waitForLog((l) => l['event'] === 'fencing_enforced', 60_000);
    const later = operator([]);
    await later.waitForLog((l) => l['event'] === 'leader_elected', 60_000);
    // Give the process running alone something to write: its write is fenced, and it exits.
    await admin.apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: 'poke', namespace: ns.name }, spec: { zone: 'z', template: { resources: [] } } }, { fieldManager: 'test' });
    expect(await alone.exited).toBe(1);
    expect(events(alone, 'fenced_out')).toHaveLength(1);
    await eventually('the elected operator reconciled the Cell', async () => (await admin.get<KubeObject & { status?: { observedGeneration?: number } }>(CellType, 'poke', ns.name)).status?.observedGeneration === 1);
    await later.stop();
  });

  it.skipIf(!inject('etcdEndpoint'))("does not revoke a FencedLease's holder from a term that is no longer current", async () => {
    const etcd = inject('etcdEndpoint');
    const apps = createLeaseClient({ endpoints: [etcd] });
    const key = `/manyfold/fencedleases/${ns.name}/guarded`;
    const manager = await startManager([fencedLeaseController({ defaultEndpoints: [etcd], operatorNamespace: OperatorNamespace })]);
    const holder = await apps.acquire('guarded', { key, ttlSeconds: 30, identity: 'app-0' });
    try {
      await admin.apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'FencedLease', metadata: { name: 'guarded', namespace: ns.name }, spec: { ttlSeconds: 30 } }, { fieldManager: 'test' });
      await eventually('guarded mirrors its holder', async () => (await admin.get<KubeObject & { status?: { holder?: string } }>(FencedLeaseType, 'guarded', ns.name)).status?.holder === 'app-0');
      // A newer leader publishes its epoch (as the elector would); this manager's term is now stale.
      await setEpoch(String(manager.manager.epoch + 1000));
      // Deleting the object asks for the clean-up: revoke the holder, delete the keys.
      await admin.delete(FencedLeaseType, { name: 'guarded', namespace: ns.name });
      const error = await manager.outcome;
      expect(String(error)).toContain('fenced out');
      await sleep(2000);
      expect(holder.signal.aborted).toBe(false);
      expect((await apps.inspect('guarded', { key })).holder?.identity).toBe('app-0');
    } finally {
      await manager.stop().catch(() => undefined);
      await holder.release();
      await apps.close();
      await admin.patch(FencedLeaseType, { name: 'guarded', namespace: ns.name }, { metadata: { finalizers: null } }, { type: 'merge' }).catch(() => undefined);
    }
  });
});
