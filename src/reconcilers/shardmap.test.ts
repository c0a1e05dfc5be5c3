import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withShardMapDefaults, type ShardMapSpecInput, type ShardMapStatus } from '../crds/shardmap.ts';
import { decodeTable, type RoutingTable } from '../legos/placement/routing-table.ts';
import { reconcileShardMap, type MemberCell, type ShardMapDecision, type ShardMapObservation } from './shardmap.ts';
import { ChecksumAnnotation, type ObservedTable } from './shardmap-table.ts';

const T0 = Date.parse('2026-12-05T00:00:00Z');

/** A small world: the decider's writes land, the ConfigMap is observed as written. */
class World {
  cells: MemberCell[];
  spec: ShardMapSpecInput;
  status: ShardMapStatus | undefined;
  table: ObservedTable = { kind: 'missing' };
  lastGood: ObservedTable = { kind: 'missing' };
  remembered: { table: RoutingTable; checksum: string } | undefined;
  acks = new Map<string, Map<number, number>>();
  killSwitch = false;
  now = T0;
  readonly published: RoutingTable[] = [];
  last: ShardMapDecision | undefined;

  constructor(cells: MemberCell[], spec: ShardMapSpecInput) {
    this.cells = cells;
    this.spec = spec;
  }

  observation(): ShardMapObservation {
    return {
      name: 'orders',
      namespace: 'shop',
      uid: 'uid-1',
      generation: 1,
      spec: { ok: true, value: withShardMapDefaults(this.spec) },
      status: this.status,
      cells: this.cells,
      table: this.table,
      lastGood: this.lastGood,
      remembered: this.remembered,
      acks: this.acks,
      killSwitch: this.killSwitch ? { engaged: true, scope: 'resource' } : { engaged: false },
    };
  }

  step(options: { crashBeforeStatus?: boolean } = {}): ShardMapDecision {
    const d = reconcileShardMap(this.observation(), this.now);
    this.last = d;
    for (const child of d.apply) {
      const object = child.object as unknown as { binaryData: Record<string, string>; metadata: { name: string; annotations: Record<string, string> } };
      const decoded = decodeTable(object.binaryData['table.json.gz'] as string);
      const observed: ObservedTable = { kind: 'valid', table: decoded.table, checksum: decoded.checksum, annotatedChecksum: object.metadata.annotations[ChecksumAnnotation] };
      if (object.metadata.name === 'orders-routing-last-good') {
        this.lastGood = observed;
        continue;
      }
      expect(object.metadata.name).toBe('orders-routing');
      this.table = observed;
      this.published.push(decoded.table);
      if (d.published) this.remembered = d.published;
    }
    if (!options.crashBeforeStatus) this.status = d.status;
    this.now += 1000;
    return d;
  }

  run(limit = 200): number {
    for (let i = 0; i < limit; i++) {
      const d = this.step();
      if (d.apply.length === 0 && (d.status?.migrations ?? []).length === 0 && rebalancing(d) === 'False') return i;
    }
    return limit;
  }
}

const rebalancing = (d: ShardMapDecision) => d.status?.conditions?.find((c) => c.type === 'Rebalancing')?.status;
const condition = (d: ShardMapDecision | undefined, type: string) => d?.status?.conditions?.find((c) => c.type === type);
const cellsOf = (n: number, zones = 3): MemberCell[] => Array.from({ length: n }, (_, i) => ({ name: `cell-${i}`, zone: `z${i % zones}`, capacity: 100, state: 'Active' }));

/** Safety of every consecutive pair of published tables. */
function checkHistory(tables: readonly RoutingTable[], quorum: number): void {
  for (let i = 1; i < tables.length; i++) {
    const a = tables[i - 1] as RoutingTable;
    const b = tables[i] as RoutingTable;
    expect(b.version).toBeGreaterThan(a.version);
    if (a.shards !== b.shards) continue;
    b.entries.forEach((e, s) => {
      const before = a.entries[s];
      expect(e.epoch).toBeGreaterThanOrEqual(before?.epoch ?? 0);
      expect(e.epoch).toBeLessThanOrEqual(b.version);
      expect(e.replicas.length).toBeGreaterThanOrEqual(Math.min(quorum, before?.replicas.length ?? 0));
      if (e.epoch === before?.epoch) expect(e.replicas).toEqual(before.replicas); // the serving set changes only with the epoch
    });
  }
}

describe('reconcileShardMap', () => {
  it('publishes a balanced table at version 1, then stays quiet', () => {
    const w = new World(cellsOf(6), { shards: 64, replicas: 3, migration: { maxInFlight: 8 } });
    w.step();
    expect(w.published).toHaveLength(1);
    expect(w.published[0]?.version).toBe(1);
    expect(condition(w.last, 'Ready')).toMatchObject({ status: 'True', reason: 'Published' });
    expect(w.status?.routingConfigMap).toBe('orders-routing');
    expect(w.run()).toBeLessThan(3);
    expect(w.published).toHaveLength(1);
    expect(w.status?.members?.reduce((a, m) => a + (m.replicas ?? 0), 0)).toBe(192);
    expect(w.status?.balance?.maxLoadRatio).toBeLessThanOrEqual(1.25);
  });

  it('adding a Cell moves about its floor onto it through fenced hand-offs, never more than maxInFlight at once, every published version safe', () => {
    const w = new World(cellsOf(6), { shards: 120, replicas: 3, migration: { maxInFlight: 4 } });
    w.run();
    w.cells = [...w.cells, { name: 'cell-6', zone: 'z0', capacity: 100, state: 'Active' }];
    let maxInFlight = 0;
    for (let i = 0; i < 400 && (i === 0 || rebalancing(w.last as ShardMapDecision) === 'True'); i++) {
      w.step();
      maxInFlight = Math.max(maxInFlight, w.last?.inFlight ?? 0);
    }
    expect(maxInFlight).toBeLessThanOrEqual(4);
    expect(w.status?.lastRebalance?.moves).toBe(w.status?.lastRebalance?.lowerBound);
    expect(w.status?.lastRebalance?.done).toBe(w.status?.lastRebalance?.moves);
    const added = w.status?.members?.find((m) => m.cell === 'cell-6');
    // Zone z0 holds one replica of every shard (120) over three Cells now: share 40, floor 32.
    expect(added?.replicas).toBeGreaterThanOrEqual(32);
    checkHistory(w.published, 2);
  });

  it('a Draining Cell ends with no replica (what Cell drain waits on), with quorum kept in every version', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 10 }), fc.constantFrom('None' as const, 'Acknowledged' as const), (drained, inFlight, handoff) => {
        const w = new World(cellsOf(6), { shards: 48, replicas: 3, migration: { maxInFlight: inFlight, handoff } });
        w.run();
        w.cells = w.cells.map((c, i) => (i === drained ? { ...c, state: 'Draining' } : c));
        for (let i = 0; i < 300; i++) {
          // Hosts acknowledge whatever they are joining at the published epoch.
          if (w.table.kind === 'valid') {
            for (const e of w.table.table.entries) for (const c of e.joining) w.acks.set(c, new Map([...(w.acks.get(c) ?? []), [e.shard, e.epoch]]));
          }
          w.step();
          if (rebalancing(w.last as ShardMapDecision) === 'False' && (w.status?.migrations ?? []).length === 0) break;
        }
        expect(w.status?.members?.find((m) => m.cell === `cell-${drained}`)?.replicas).toBe(0);
        checkHistory(w.published, 2);
      }),
      { numRuns: 12 },
    );
  });

  it('the kill switch freezes moves at their checkpoint and the table as published; release resumes', () => {
    const w = new World(cellsOf(6), { shards: 60, replicas: 3, migration: { maxInFlight: 3 } });
    w.run();
    w.cells = w.cells.map((c, i) => (i === 2 ? { ...c, state: 'Draining' } : c));
    w.step();
    w.step();
    w.killSwitch = true;
    const frozenAt = w.published.length;
    const migrations = w.status?.migrations;
    for (let i = 0; i < 10; i++) w.step();
    expect(w.published.length).toBe(frozenAt);
    expect(w.status?.migrations).toEqual(migrations);
    expect(condition(w.last, 'Enforcing')).toMatchObject({ status: 'False', reason: 'KillSwitchEngaged' });
    expect(w.last?.events.some((e) => e.reason === 'KillSwitchEngaged')).toBe(false); // only on the flip
    w.killSwitch = false;
    w.run();
    expect(w.status?.members?.find((m) => m.cell === 'cell-2')?.replicas).toBe(0);
    expect(condition(w.last, 'Enforcing')).toMatchObject({ status: 'True' });
  });

  it('restores a hand-edited or deleted routing table at a higher version, also for a new leader (from the last-good copy); rebuilds only when that is lost too', () => {
    const w = new World(cellsOf(4), { shards: 16, replicas: 2 });
    w.run();
    const good = w.published.at(-1) as RoutingTable;
    expect(w.lastGood).toMatchObject({ kind: 'valid', table: { version: good.version } });
    if (w.table.kind !== 'valid') throw new Error('no table');
    w.table = { ...w.table, checksum: 'tampered' };
    w.remembered = undefined; // a new leader: nothing in memory
    w.step();
    expect(w.published.at(-1)?.version).toBe(good.version + 1);
    expect(w.published.at(-1)?.entries.map((e) => e.replicas)).toEqual(good.entries.map((e) => e.replicas));
    expect(w.last?.events.map((e) => e.reason)).toContain('RoutingTableRestored');
    expect(w.last?.events.find((e) => e.reason === 'RoutingTableRestored')?.note).toContain('orders-routing-last-good');
    expect(w.lastGood).toMatchObject({ kind: 'valid', table: { version: good.version + 1 } });
    w.table = { kind: 'missing' };
    w.remembered = undefined;
    w.step();
    expect(w.published.at(-1)?.version).toBe(good.version + 2);
    expect(w.published.at(-1)?.entries.map((e) => e.replicas)).toEqual(good.entries.map((e) => e.replicas));
    // The copy lost or edited too, and no memory: rebuilt, every epoch raised.
    w.table = { kind: 'missing' };
    if (w.lastGood.kind !== 'valid') throw new Error('no copy');
    w.lastGood = { ...w.lastGood, annotatedChecksum: 'edited' };
    w.remembered = undefined;
    w.step();
    const rebuilt = w.published.at(-1) as RoutingTable;
    expect(rebuilt.version).toBe(good.version + 3);
    expect(rebuilt.entries.every((e) => e.epoch === rebuilt.version)).toBe(true);
    expect(w.last?.events.map((e) => e.reason)).toContain('RoutingTableRebuilt');
    checkHistory(w.published, 2);
  });

  it('a hand edit routers saw is fenced: restored shards whose entry the edit changed get the new version as epoch', () => {
    const w = new World(cellsOf(4), { shards: 16, replicas: 2 });
    w.run();
    const good = w.published.at(-1) as RoutingTable;
    const entries = good.entries.map((e) => (e.shard === 3 ? { ...e, replicas: ['cell-0', 'cell-1'], epoch: e.epoch + 5 } : e));
    const edited: RoutingTable = { ...good, version: good.version + 7, entries };
    w.table = { kind: 'valid', table: edited, checksum: 'by-hand', annotatedChecksum: 'by-operator' };
    w.published.push(edited); // what routers saw
    w.remembered = undefined;
    w.step();
    const restored = w.published.at(-1) as RoutingTable;
    expect(restored.version).toBe(good.version + 8);
    expect(restored.entries[3]).toMatchObject({ replicas: good.entries[3]?.replicas, epoch: restored.version });
    for (const e of restored.entries) if (e.shard !== 3) expect(e.epoch).toBe(good.entries[e.shard]?.epoch);
    checkHistory(w.published, 2);
  });

  it('a lost or edited last-good copy is written again at the same version, without a new routing version', () => {
    const w = new World(cellsOf(4), { shards: 16, replicas: 2 });
    w.run();
    const version = w.status?.routingVersion;
    w.lastGood = { kind: 'missing' };
    const d = w.step();
    expect(d.apply.map((c) => c.name)).toEqual(['orders-routing-last-good']);
    expect(w.lastGood).toMatchObject({ kind: 'valid', table: { version } });
    expect(w.status?.routingVersion).toBe(version);
    expect(w.step().apply).toEqual([]);
    // A copy one version behind, while this process remembers writing the current one,
    // is the cache lagging: not written again. Without the memory (a new leader) it is.
    const current = w.lastGood as ObservedTable;
    if (current.kind !== 'valid' || w.table.kind !== 'valid') throw new Error('no copy');
    w.lastGood = { ...current, table: { ...current.table, version: (version ?? 0) - 1 }, checksum: 'previous', annotatedChecksum: 'previous' };
    w.remembered = { table: w.table.table, checksum: w.table.checksum };
    expect(w.step().apply).toEqual([]);
    w.remembered = undefined;
    expect(w.step().apply.map((c) => c.name)).toEqual(['orders-routing-last-good']);
    // An older intact copy (put back by hand) is not trusted for a restore.
    const copy = w.lastGood as ObservedTable;
    if (copy.kind !== 'valid') throw new Error('no copy');
    w.lastGood = { ...copy, table: { ...copy.table, version: (version ?? 0) - 1 }, checksum: 'older', annotatedChecksum: 'older' };
    w.table = { kind: 'missing' };
    w.remembered = undefined;
    w.step();
    expect(w.last?.events.map((e) => e.reason)).toContain('RoutingTableRebuilt');
  });

  it('refuses a change of spec.shards once published: Ready=False InvalidSpec naming the field, table and moves frozen; setting it back resumes', () => {
    const w = new World(cellsOf(4), { shards: 16, replicas: 2 });
    w.run();
    const before = w.published.length;
    const version = w.status?.routingVersion ?? 0;
    w.spec = { ...w.spec, shards: 32 };
    w.cells = [...w.cells, { name: 'cell-4', zone: 'z1', capacity: 100, state: 'Active' }];
    w.step();
    expect(condition(w.last, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(w.last, 'Ready')?.message).toMatch(/^spec\.shards: changed from 16 to 32 after routing version \d+ .*set spec\.shards back to 16, or create a new ShardMap with 32 shards/);
    expect(condition(w.last, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(w.last?.events.map((e) => e.reason)).toEqual(['InvalidSpec']);
    w.step();
    expect(w.last?.events).toEqual([]); // reported once
    expect(w.published.length).toBe(before);
    expect(w.status?.migrations ?? []).toEqual([]);
    // The table is still restored at its own shard count while refused.
    w.table = { kind: 'missing' };
    w.remembered = undefined;
    w.step();
    expect(w.published.at(-1)).toMatchObject({ version: version + 1, shards: 16 });
    w.spec = { ...w.spec, shards: 16 };
    w.run();
    expect(condition(w.last, 'Ready')).toMatchObject({ status: 'True', reason: 'Published' });
    expect(condition(w.last, 'Degraded')).toMatchObject({ status: 'False' });
    expect(w.status?.members?.find((m) => m.cell === 'cell-4')?.replicas).toBeGreaterThan(0);
    expect(w.published.every((t) => t.shards === 16)).toBe(true);
    checkHistory(w.published, 2);
  });

  it('the shard count may change freely before the first publication', () => {
    const w = new World(cellsOf(2), { shards: 16, replicas: 3 });
    w.step();
    expect(condition(w.last, 'Ready')?.reason).toBe('InsufficientMembers');
    w.spec = { shards: 32, replicas: 2 };
    w.run();
    expect(w.published.at(-1)).toMatchObject({ shards: 32 });
    expect(condition(w.last, 'Ready')?.status).toBe('True');
  });

  it('a status that lags the ConfigMap (crash between the two writes) resumes without breaking a rule', () => {
    const w = new World(cellsOf(5), { shards: 40, replicas: 3, migration: { maxInFlight: 5 } });
    w.run();
    w.cells = [...w.cells, { name: 'cell-5', zone: 'z2', capacity: 100, state: 'Active' }];
    for (let i = 0; i < 60; i++) {
      w.remembered = i % 3 === 0 ? undefined : w.remembered; // leaders come and go
      w.step({ crashBeforeStatus: i % 4 === 1 });
    }
    w.run();
    expect(w.status?.members?.find((m) => m.cell === 'cell-5')?.replicas).toBeGreaterThan(0);
    checkHistory(w.published, 2);
  });

  it('never builds on a routing table older than its own last write (the cache lags the write)', () => {
    const w = new World(cellsOf(5), { shards: 40, replicas: 3, migration: { maxInFlight: 5 } });
    w.run();
    w.cells = [...w.cells, { name: 'cell-5', zone: 'z2', capacity: 100, state: 'Active' }];
    for (let i = 0; i < 80; i++) {
      const seen = w.table;
      w.step();
      // Every other reconcile, the informer has not delivered the write yet, and this
      // process may or may not remember it (a restart).
      if (i % 2 === 0) {
        w.table = seen;
        if (i % 4 === 0) w.remembered = undefined;
      }
      const migrating = new Set((w.status?.migrations ?? []).filter((m) => m.phase === 'Copying').map((m) => `${m.shard}/${m.to}`));
      const last = w.published.at(-1);
      for (const key of migrating) {
        const [shard, to] = key.split('/');
        expect(last?.entries[Number(shard)]?.joining).toContain(to); // a Copying move is always visible to its host
      }
    }
    w.run();
    expect(w.status?.members?.find((m) => m.cell === 'cell-5')?.replicas).toBeGreaterThan(0);
    checkHistory(w.published, 2);
  });

  it('a member Cell deleted mid-move: the move fails, is dropped and replanned; a Cell changing zone mid-move ends with the spread rule kept', () => {
    const w = new World(cellsOf(6), { shards: 60, replicas: 3, migration: { maxInFlight: 6 } });
    w.run();
    w.cells = [...w.cells, { name: 'cell-6', zone: 'z1', capacity: 100, state: 'Active' }];
    w.step();
    expect(w.status?.migrations?.some((m) => m.to === 'cell-6' && m.phase === 'Copying')).toBe(true);
    w.cells = w.cells.filter((c) => c.name !== 'cell-6'); // deleted while receiving
    w.step();
    expect(w.status?.migrations?.some((m) => m.to === 'cell-6')).toBe(false);
    expect(w.last?.events.map((e) => e.reason)).toContain('MigrationFailed');
    expect(w.published.at(-1)?.entries.some((e) => e.joining.includes('cell-6'))).toBe(false);
    w.cells = [...w.cells, { name: 'cell-7', zone: 'z2', capacity: 100, state: 'Active' }];
    w.step();
    w.cells = w.cells.map((c) => (c.name === 'cell-7' ? { ...c, zone: 'z0' } : c)); // zone changes mid-move
    w.run();
    const zoneOf = new Map(w.cells.map((c) => [c.name, c.zone]));
    for (const e of w.published.at(-1)?.entries ?? []) expect(new Set(e.replicas.map((c) => zoneOf.get(c))).size).toBe(3);
    checkHistory(w.published, 2);
  });

  it('an invalid spec is Ready=False InvalidSpec, keeps the published table, and reports it once', () => {
    const w = new World(cellsOf(3), { shards: 8, replicas: 3 });
    w.run();
    const before = w.published.length;
    const invalid = (status: ShardMapStatus | undefined) =>
      reconcileShardMap({ ...w.observation(), status, spec: { ok: false, message: 'spec.placement.maxLoadFactor: must be at least 1' } }, w.now);
    const d = invalid(w.status);
    expect(d.apply).toEqual([]);
    expect(d.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.placement.maxLoadFactor: must be at least 1' });
    expect(d.status?.routingVersion).toBe(w.status?.routingVersion);
    expect(d.events.map((e) => e.reason)).toEqual(['InvalidSpec']);
    expect(invalid(d.status).events).toEqual([]);
    expect(w.published.length).toBe(before);
  });

  it('names the numbers when members cannot carry the spec, and publishes nothing', () => {
    const none = new World([], { shards: 8, replicas: 3 });
    none.step();
    expect(condition(none.last, 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientMembers', message: 'cellSelector matches no Cell in the namespace' });
    expect(none.published).toHaveLength(0);
    const few = new World(cellsOf(2), { shards: 8, replicas: 3 });
    few.step();
    expect(condition(few.last, 'Ready')?.message).toMatch(/replicas 3 need 3 Cells .* picks 2/);
    const zones = new World(cellsOf(4, 1), { shards: 8, replicas: 3, failureTolerance: 1 });
    zones.step();
    expect(condition(zones.last, 'Ready')?.message).toMatch(/needs at least 2 zones; the members span 1 \(z0\)/);
    const degraded = new World(cellsOf(4, 2), { shards: 8, replicas: 3 });
    degraded.step();
    expect(condition(degraded.last, 'SpreadDegraded')).toMatchObject({ status: 'True', reason: 'TooFewZones' });
    expect(condition(degraded.last, 'SpreadDegraded')?.message).toMatch(/needs 3 zones, the members span 2 \(z0, z1\)/);
  });
});
