/**
 * The ShardMap controller (with the Cell controller, which it feeds) against the real
 * API server, running with the operator's ServiceAccount: a balanced routing table,
 * adding a Cell (moves at the lower bound), draining a Cell to `Drained`, the kill
 * switch at each scope (the ShardMap, its Namespace, the operator's config) freezing
 * and releasing rebalancing, the routing ConfigMap restored after a hand edit or a
 * delete (also by a new operator process, from the last-good copy), and a change of
 * `spec.shards` refused. A witness (the client library's
 * `watchRoutingTable`, a watch on the routing ConfigMap) records every published version
 * and checks that versions and epochs only increase and quorum is never lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardMapPlacements, shardMapController, ShardMapType } from '../../src/controllers/shardmap.ts';
import { CellType, cellController } from '../../src/controllers/cell.ts';
import { ShardRouter, tableOfConfigMap, watchRoutingTable, type RoutingTable } from '../../src/client/shard-router.ts';
import { Resources } from '../../src/kube/resources.ts';
import { ShardHost } from '../../src/client/shard-host.ts';
import type { ShardMapStatus } from '../../src/crds/shardmap.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { encodeTable } from '../../src/legos/placement/routing-table.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type ShardMap = KubeObject & { spec: Record<string, unknown>; status?: ShardMapStatus };
type Cell = KubeObject & { spec: Record<string, unknown>; status?: CellStatus };

describe('ShardMap controller', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  const witness = { tables: [] as RoutingTable[], stop: new AbortController() };

  const cell = (name: string, zone: string, extra: Record<string, unknown> = {}): Cell => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name, labels: { tier: 'storage' } },
    spec: { zone, capacity: 100, ...extra },
  });
  const apply = (object: KubeObject) => admin.apply(object, { fieldManager: 'test-user' });
  const getMap = () => admin.get<ShardMap>(ShardMapType, 'orders', ns.name);
  const condition = (m: ShardMap, type: string) => m.status?.conditions?.find((c) => c.type === type);
  const untilMap = (what: string, check: (m: ShardMap) => boolean, timeoutMs = 90_000) =>
    eventually(what, async () => {
      const m = await getMap();
      return check(m) ? m : undefined;
    }, { timeoutMs, intervalMs: 200 });
  const controllers = () => [cellController({ operatorNamespace: 'manyfold-system', placementProviders: [shardMapPlacements] }), shardMapController({ operatorNamespace: 'manyfold-system' })];
  const routingTable = async (name = 'orders-routing') => {
    const cm = await admin.getOrUndefined<KubeObject & { binaryData?: Record<string, string> }>(Resources.ConfigMap, name, ns.name);
    return cm === undefined ? undefined : tableOfConfigMap(cm);
  };
  const balanced = (m: ShardMap) => condition(m, 'Rebalancing')?.status === 'False' && (m.status?.migrations ?? []).length === 0 && condition(m, 'Ready')?.status === 'True';
  const replicasOn = (m: ShardMap, name: string) => m.status?.members?.find((x) => x.cell === name)?.replicas ?? 0;

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'shardmap');
    operator = await startManager(controllers());
    for (let i = 0; i < 6; i++) await apply(cell(`store-${i}`, `zone-${i % 3}`));
    await apply({
      apiVersion: 'manyfold.dev/v1alpha1',
      kind: 'ShardMap',
      metadata: { name: 'orders', namespace: ns.name },
      spec: { shards: 256, replicas: 3, failureTolerance: 1, cellSelector: { matchLabels: { tier: 'storage' } }, placement: { maxLoadFactor: 1.25 }, migration: { maxInFlight: '10%' } },
    });
    const router = new ShardRouter();
    router.onChange((table) => witness.tables.push(table));
    watchRoutingTable(router, { client: admin, namespace: ns.name, configMap: 'orders-routing', signal: witness.stop.signal });
  });
  afterAll(async () => {
    witness.stop.abort();
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  it('publishes a balanced routing table: three Cells in three zones per shard', async () => {
    const m = await untilMap('orders Ready', balanced);
    expect(m.status?.routingConfigMap).toBe('orders-routing');
    expect(m.status?.balance?.maxLoadRatio).toBeLessThanOrEqual(1.25);
    const table = await eventually('witness saw the table', async () => witness.tables.at(-1));
    expect(table.version).toBe(m.status?.routingVersion);
    for (const e of table.entries) {
      expect(e.replicas).toHaveLength(3);
      expect(new Set(e.replicas.map((c) => Number(c.slice('store-'.length)) % 3)).size).toBe(3);
    }
    expect(operator.errors).toEqual([]);
  });

  it('adding a Cell moves replicas onto it at the lower bound, through fenced hand-offs', async () => {
    const before = (await getMap()).status?.routingVersion ?? 0;
    await apply(cell('store-6', 'zone-0'));
    const m = await untilMap('rebalanced onto store-6', (x) => (x.status?.routingVersion ?? 0) > before && balanced(x) && replicasOn(x, 'store-6') > 0);
    expect(m.status?.lastRebalance?.moves).toBeLessThanOrEqual(Math.floor((m.status?.lastRebalance?.lowerBound ?? 0) * 1.02));
    expect(m.status?.lastRebalance?.done).toBe(m.status?.lastRebalance?.moves);
    expect(await operator.metric('rebalance_moves_total', { name: 'orders' })).toBeGreaterThanOrEqual(m.status?.lastRebalance?.moves ?? 1);
  });

  it('a drained Cell reaches Drained only once no replica is left on it', async () => {
    await apply(cell('store-1', 'zone-1', { state: 'Draining' }));
    const drained = await eventually(
      'store-1 Drained',
      async () => {
        const c = await admin.get<Cell>(CellType, 'store-1', ns.name);
        return c.status?.phase === 'Drained' ? c : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(drained.status?.placements).toBe(0);
    const m = await getMap();
    expect(replicasOn(m, 'store-1')).toBe(0);
    expect(witness.tables.at(-1)?.entries.some((e) => [...e.replicas, ...e.joining, ...e.leaving].includes('store-1'))).toBe(false);
  });

  it('the kill switch freezes a drain at its checkpoint; release resumes it', async () => {
    const killSwitch = (value: string) =>
      admin.apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'orders', namespace: ns.name, annotations: { 'manyfold.dev/kill-switch': value } } }, { fieldManager: 'test-kill-switch' });
    await killSwitch('true');
    await untilMap('Enforcing=False', (m) => condition(m, 'Enforcing')?.reason === 'KillSwitchEngaged');
    const frozen = await getMap();
    await apply(cell('store-2', 'zone-2', { state: 'Draining' }));
    const still = await getMap();
    expect(still.status?.routingVersion).toBe(frozen.status?.routingVersion);
    expect(replicasOn(still, 'store-2')).toBeGreaterThan(0);
    await killSwitch('false');
    await untilMap('drain resumed and finished', (m) => condition(m, 'Enforcing')?.status === 'True' && replicasOn(m, 'store-2') === 0 && balanced(m));
  });

  it('the kill switch on the Namespace, then globally (manyfold-system/manyfold-config), freezes rebalancing: no move starts, the table stays; release resumes', async () => {
    const KILL = 'manyfold.dev/kill-switch';
    const scopes = [
      { scope: `namespace ${ns.name}`, cell: cell('store-8', 'zone-2'), set: (v: string | null) => admin.patch(Resources.Namespace, { name: ns.name }, { metadata: { annotations: { [KILL]: v } } }, { type: 'merge' }) },
      { scope: 'global', cell: cell('store-9', 'zone-2'), set: (v: string | null) => admin.patch(Resources.ConfigMap, { name: 'manyfold-config', namespace: 'manyfold-system' }, { metadata: { annotations: { [KILL]: v } } }, { type: 'merge' }) },
    ];
    for (const { scope, cell: added, set } of scopes) {
      await untilMap('orders balanced', balanced);
      await set('true');
      try {
        const frozen = await untilMap(`Enforcing=False (${scope})`, (m) => condition(m, 'Enforcing')?.reason === 'KillSwitchEngaged' && (condition(m, 'Enforcing')?.message ?? '').includes(`(${scope})`), 15_000);
        const version = frozen.status?.routingVersion;
        const table = await routingTable();
        await apply(added);
        // Wait until the operator has seen the new Cell (it is a member), then some more.
        const seen = await untilMap(`${added.metadata.name ?? ''} is a member`, (m) => (m.status?.members ?? []).some((x) => x.cell === added.metadata.name), 15_000);
        await new Promise((r) => setTimeout(r, 1500));
        const still = await getMap();
        expect(still.status?.routingVersion).toBe(version);
        expect(replicasOn(still, added.metadata.name ?? '')).toBe(0);
        expect(still.status?.migrations ?? []).toEqual([]);
        expect(condition(seen, 'Rebalancing')).toMatchObject({ status: 'True', reason: 'KillSwitchEngaged' });
        expect((await routingTable())?.version).toBe(table?.version);
      } finally {
        await set(null);
      }
      const resumed = await untilMap(`released (${scope}): rebalanced onto ${added.metadata.name ?? ''}`, (m) => condition(m, 'Enforcing')?.status === 'True' && replicasOn(m, added.metadata.name ?? '') > 0 && balanced(m));
      expect(condition(resumed, 'Enforcing')?.reason).toBe('Enforcing');
    }
    expect(operator.errors).toEqual([]);
  });

  it('with handoff Acknowledged, moves wait in Copying until the receiving host acknowledges through the client library', async () => {
    await apply({
      apiVersion: 'manyfold.dev/v1alpha1',
      kind: 'ShardMap',
      metadata: { name: 'ledger', namespace: ns.name },
      spec: { shards: 64, replicas: 2, cellSelector: { matchLabels: { tier: 'storage' } }, migration: { maxInFlight: 4, handoff: 'Acknowledged', handoffTimeoutSeconds: 120 } },
    });
    const getLedger = () => admin.get<ShardMap>(ShardMapType, 'ledger', ns.name);
    await eventually('ledger balanced', async () => balanced(await getLedger()), { timeoutMs: 60_000 });
    await apply(cell('store-7', 'zone-1'));
    const waiting = await eventually('moves waiting for acknowledgements', async () => {
      const m = await getLedger();
      const moves = m.status?.migrations ?? [];
      return moves.length === 4 && moves.every((x) => x.phase === 'Copying' && x.to === 'store-7') ? m : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await getLedger()).status?.migrations?.map((x) => x.phase)).toEqual(waiting.status?.migrations?.map((x) => x.phase));

    const stop = new AbortController();
    const router = new ShardRouter();
    watchRoutingTable(router, { client: admin, namespace: ns.name, configMap: 'ledger-routing', signal: stop.signal });
    const host = new ShardHost({ router, cell: 'store-7', client: admin, namespace: ns.name, flushIntervalMs: 50 });
    host.onChange(({ joining }) => {
      for (const s of joining) host.acknowledge(s.shard, s.epoch); // the data is copied (nothing to copy here)
    });
    try {
      const done = await eventually('ledger rebalanced onto store-7', async () => {
        const m = await getLedger();
        return balanced(m) && replicasOn(m, 'store-7') > 0 ? m : undefined;
      }, { timeoutMs: 90_000 });
      expect(done.status?.lastRebalance?.done).toBe(done.status?.lastRebalance?.moves);
      expect([...host.owned().values()].filter((o) => o.role !== 'joining').length).toBe(replicasOn(done, 'store-7'));
    } finally {
      host.close();
      stop.abort();
    }
  });

  it('restores a routing ConfigMap edited or deleted by hand, at a higher version', async () => {
    const before = await untilMap('orders balanced', balanced);
    const version = before.status?.routingVersion ?? 0;
    await admin.patch(Resources.ConfigMap, { name: 'orders-routing', namespace: ns.name }, { binaryData: { 'table.json.gz': Buffer.from('not a table').toString('base64') } }, { type: 'merge' });
    const restored = await untilMap('restored after the edit', (m) => (m.status?.routingVersion ?? 0) > version);
    const table = await eventually('witness saw the restored table', async () => witness.tables.find((t) => t.version === restored.status?.routingVersion));
    const previous = witness.tables.find((t) => t.version === version);
    expect(table.entries.map((e) => e.replicas)).toEqual(previous?.entries.map((e) => e.replicas));
    await admin.delete(Resources.ConfigMap, { name: 'orders-routing', namespace: ns.name });
    const recreated = await untilMap('restored after the delete', (m) => (m.status?.routingVersion ?? 0) > (restored.status?.routingVersion ?? 0));
    const cm = await eventually('the routing ConfigMap is back', async () => admin.getOrUndefined<KubeObject & { binaryData?: Record<string, string> }>(Resources.ConfigMap, 'orders-routing', ns.name));
    expect(tableOfConfigMap(cm)?.version).toBeGreaterThanOrEqual(recreated.status?.routingVersion ?? 0);
  });

  it('a new operator process restores a routing ConfigMap deleted or edited by hand while none ran: the last good table at a higher version', async () => {
    const good = await untilMap('orders balanced', balanced);
    const last = await eventually('the last good table', async () => {
      const t = await routingTable();
      return t?.version === good.status?.routingVersion ? t : undefined;
    });
    // 1. Deleted while no operator runs; a new process (no memory of the table) starts.
    await operator.stop();
    await admin.delete(Resources.ConfigMap, { name: 'orders-routing', namespace: ns.name });
    operator = await startManager(controllers());
    const afterDelete = await eventually('restored after the delete by a new process', async () => {
      const t = await routingTable();
      return t !== undefined && t.version > last.version ? t : undefined;
    });
    expect(afterDelete.entries).toEqual(last.entries); // the same replicas and the same epochs: restored, not rebuilt
    const restoredMap = await untilMap('status names the restored version', (m) => m.status?.routingVersion === afterDelete.version && balanced(m));
    expect(condition(restoredMap, 'Ready')?.reason).toBe('Published');
    // 2. Edited by hand while none runs: a valid table at a higher version (routers take it), shard 0 on one Cell twice.
    await operator.stop();
    const cm = await admin.get<KubeObject & { binaryData: Record<string, string> }>(Resources.ConfigMap, 'orders-routing', ns.name);
    const edited = { ...afterDelete, version: afterDelete.version + 5, entries: afterDelete.entries.map((e) => (e.shard === 0 ? { ...e, replicas: [e.replicas[0] ?? '', e.replicas[0] ?? ''] } : e)) };
    const { binary } = encodeTable(edited);
    await admin.patch(Resources.ConfigMap, { name: 'orders-routing', namespace: ns.name }, { binaryData: { ...cm.binaryData, 'table.json.gz': binary } }, { type: 'merge' });
    operator = await startManager(controllers());
    const afterEdit = await eventually('restored after the edit by a new process', async () => {
      const t = await routingTable();
      return t !== undefined && t.version > edited.version ? t : undefined;
    });
    expect(afterEdit.entries.map((e) => e.replicas)).toEqual(last.entries.map((e) => e.replicas));
    expect(afterEdit.entries[0]?.epoch).toBe(afterEdit.version); // the shard the edit changed is fenced at the new version
    expect(afterEdit.entries.slice(1).map((e) => e.epoch)).toEqual(last.entries.slice(1).map((e) => e.epoch));
    const events = await admin.list<KubeObject & { reason?: string; involvedObject?: { name?: string } }>(Resources.Event, { namespace: ns.name });
    const reasons = events.items.filter((e) => e.involvedObject?.name === 'orders').map((e) => e.reason);
    expect(reasons).toContain('RoutingTableRestored');
    expect(reasons).not.toContain('RoutingTableRebuilt');
    expect(operator.errors).toEqual([]);
  });

  it('refuses a change of spec.shards once published (Ready=False InvalidSpec naming the field); setting it back resumes', async () => {
    const before = await untilMap('orders balanced', balanced);
    const spec = { ...before.spec, shards: 512 };
    await apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'orders', namespace: ns.name }, spec });
    const refused = await untilMap('Ready=False InvalidSpec', (m) => condition(m, 'Ready')?.reason === 'InvalidSpec', 15_000);
    expect(condition(refused, 'Ready')?.message).toMatch(/^spec\.shards: changed from 256 to 512 .*set spec\.shards back to 256/);
    expect(refused.status?.routingVersion).toBe(before.status?.routingVersion);
    expect((await routingTable())?.shards).toBe(256);
    await apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'orders', namespace: ns.name }, spec: { ...spec, shards: 256 } });
    const back = await untilMap('Ready again', (m) => condition(m, 'Ready')?.status === 'True' && balanced(m), 15_000);
    expect(back.status?.routingVersion).toBe(before.status?.routingVersion);
    expect(witness.tables.every((t) => t.shards === 256)).toBe(true);
  });

  it('a selector that matches nothing, and more replicas than members: Ready=False InsufficientMembers naming the numbers, nothing published', async () => {
    const map = (name: string, spec: Record<string, unknown>) => apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name, namespace: ns.name }, spec });
    await map('nomatch', { shards: 16, replicas: 3, cellSelector: { matchLabels: { tier: 'nothing-has-this' } } });
    await map('toowide', { shards: 16, replicas: 9, cellSelector: { matchLabels: { tier: 'storage' } } });
    for (const [name, message] of [
      ['nomatch', /^cellSelector matches no Cell in the namespace$/],
      ['toowide', /^replicas 9 need 9 Cells that can hold them .* the selector picks \d+$/],
    ] as const) {
      const m = await eventually(`${name} InsufficientMembers`, async () => {
        const x = await admin.get<ShardMap>(ShardMapType, name, ns.name);
        return condition(x, 'Ready')?.reason === 'InsufficientMembers' ? x : undefined;
      });
      expect(condition(m, 'Ready')).toMatchObject({ status: 'False', message: expect.stringMatching(message) as unknown });
      expect(m.status?.routingVersion).toBeUndefined();
      expect(await admin.getOrUndefined(Resources.ConfigMap, `${name}-routing`, ns.name)).toBeUndefined();
    }
    expect(operator.errors).toEqual([]);
  });

  it('every version the witness saw kept quorum, and versions and epochs only increased', () => {
    expect(witness.tables.length).toBeGreaterThan(3);
    for (let i = 1; i < witness.tables.length; i++) {
      const a = witness.tables[i - 1] as RoutingTable;
      const b = witness.tables[i] as RoutingTable;
      expect(b.version).toBeGreaterThan(a.version);
      b.entries.forEach((e, s) => {
        expect(e.epoch).toBeGreaterThanOrEqual(a.entries[s]?.epoch ?? 0);
        expect(e.replicas.length).toBeGreaterThanOrEqual(2);
      });
    }
  });
});
