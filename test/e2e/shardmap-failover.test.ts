/**
 * SIGKILL of the leading operator in the middle of a ShardMap rebalance: two operator
 * processes, a drain running with few moves in flight, the leader killed while
 * `status.migrations` holds moves; the new leader resumes every move from its
 * checkpoint and the Cell reaches Drained. A witness (a watch on the routing
 * ConfigMap through the client library) checks that every published version kept a
 * quorum of serving replicas per shard and that versions and epochs only increased.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardRouter, watchRoutingTable, type RoutingTable } from '../../src/client/shard-router.ts';
import { CellType } from '../../src/controllers/cell.ts';
import { ShardMapType } from '../../src/controllers/shardmap.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import type { ShardMapStatus } from '../../src/crds/shardmap.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

type ShardMap = KubeObject & { status?: ShardMapStatus };

describe('ShardMap across a SIGKILL of the leader', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  const processes: OperatorProcess[] = [];
  const witness = { tables: [] as RoutingTable[], stop: new AbortController() };

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'smap-failover');
  });
  afterAll(async () => {
    witness.stop.abort();
    for (const p of processes) await p.stop();
    await ns.dispose();
    await admin.close();
  });

  it('resumes the moves from their checkpoints, and no published version breaks quorum or lowers an epoch', async () => {
    const a = startOperatorProcess();
    processes.push(a);
    await a.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    const b = startOperatorProcess();
    processes.push(b);
    await b.waitForLog((l) => l['event'] === 'election_started', 30_000);
    const apply = (object: KubeObject) => admin.apply(object, { fieldManager: 'test-user' });
    const cell = (i: number, state = 'Active') => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: `db-${i}`, namespace: ns.name }, spec: { zone: `zone-${i % 3}`, state } });
    for (let i = 0; i < 6; i++) await apply(cell(i));
    await apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'kv', namespace: ns.name }, spec: { shards: 512, replicas: 3, migration: { maxInFlight: 4 } } });
    const router = new ShardRouter();
    router.onChange((table) => witness.tables.push(table));
    watchRoutingTable(router, { client: admin, namespace: ns.name, configMap: 'kv-routing', signal: witness.stop.signal });
    const getMap = () => admin.get<ShardMap>(ShardMapType, 'kv', ns.name);
    await eventually('kv published', async () => (await getMap()).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), { timeoutMs: 60_000 });

    await apply(cell(4, 'Draining'));
    const inFlight = await eventually('moves in flight', async () => ((await getMap()).status?.migrations ?? []).length > 0 ? await getMap() : undefined, { timeoutMs: 60_000, intervalMs: 50 });
    const versionAtKill = inFlight.status?.routingVersion ?? 0;
    process.kill(a.pid, 'SIGKILL');
    await b.waitForLog((l) => l['event'] === 'leader_elected', 30_000);

    const drained = await eventually(
      'db-4 Drained under the new leader',
      async () => {
        const c = await admin.get<KubeObject & { status?: CellStatus }>(CellType, 'db-4', ns.name);
        return c.status?.phase === 'Drained' ? c : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    expect(drained.status?.placements).toBe(0);
    const final = await getMap();
    expect(final.status?.routingVersion).toBeGreaterThan(versionAtKill);
    expect(final.status?.lastRebalance?.done).toBe(final.status?.lastRebalance?.moves);
    await eventually('witness caught up', async () => witness.tables.at(-1)?.version === final.status?.routingVersion);

    expect(witness.tables.length).toBeGreaterThan(5);
    for (let i = 1; i < witness.tables.length; i++) {
      const before = witness.tables[i - 1] as RoutingTable;
      const table = witness.tables[i] as RoutingTable;
      expect(table.version).toBeGreaterThan(before.version);
      table.entries.forEach((e, s) => {
        expect(e.replicas.length, `shard ${s} at version ${table.version}`).toBeGreaterThanOrEqual(2); // majority of 3
        expect(e.epoch).toBeGreaterThanOrEqual(before.entries[s]?.epoch ?? 0);
        expect(e.epoch).toBeLessThanOrEqual(table.version);
      });
    }
    expect(witness.tables.at(-1)?.entries.every((e) => !e.replicas.includes('db-4') && !e.joining.includes('db-4') && !e.leaving.includes('db-4'))).toBe(true);
  }, 360_000);
});
