import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shardOfKey } from '../legos/placement/key-hash.ts';
import { decodeTable, encodeTable, type RoutingTable } from '../legos/placement/routing-table.ts';
import { ShardHost, type OwnershipChange } from './shard-host.ts';
import { RoutingNotReadyError, ShardRouter } from './shard-router.ts';

const tableArb = fc
  .record({
    shards: fc.integer({ min: 1, max: 40 }),
    replicas: fc.integer({ min: 1, max: 4 }),
    cells: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), { minLength: 1, maxLength: 8 }),
    seed: fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
    version: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ shards, replicas, cells, seed, version }) => ({
    name: 'orders',
    version,
    shards,
    replicas,
    entries: Array.from({ length: shards }, (_, s) => {
      const picked = [...new Set(Array.from({ length: replicas }, (_, k) => cells[(seed[(s * 5 + k) % 200] ?? 0) % cells.length] as string))];
      const joining = (seed[(s * 7) % 200] ?? 0) % 3 === 0 ? [cells[(s + 1) % cells.length] as string].filter((c) => !picked.includes(c)) : [];
      return { shard: s, replicas: picked, primary: picked[0], epoch: (seed[s % 200] ?? 0) % 1000, joining, leaving: [] };
    }),
  }));

function table(version: number, entries: { replicas: string[]; epoch: number; joining?: string[]; leaving?: string[] }[]): RoutingTable {
  return {
    name: 'orders',
    version,
    shards: entries.length,
    replicas: 3,
    keyHash: 'fnv1a32-fmix32',
    entries: entries.map((e, s) => ({ shard: s, replicas: e.replicas, primary: e.replicas[0], epoch: e.epoch, joining: e.joining ?? [], leaving: e.leaving ?? [] })),
  };
}

describe('routing table codec', () => {
  it('decodes what it encodes, with the same checksum', () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const encoded = encodeTable(t);
        const decoded = decodeTable(encoded.binary);
        expect(decoded.checksum).toBe(encoded.checksum);
        expect(decoded.table.version).toBe(t.version);
        expect(decoded.table.entries.map((e) => ({ r: e.replicas, e: e.epoch, j: e.joining }))).toEqual(t.entries.map((e) => ({ r: e.replicas, e: e.epoch, j: e.joining })));
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a table that is not one', () => {
    expect(() => decodeTable(Buffer.from('hello').toString('base64'))).toThrow(/not gzip/);
  });
});

describe('ShardRouter', () => {
  it('answers lookups with the entry of the key’s shard and only moves forward', () => {
    const router = new ShardRouter();
    expect(() => router.lookup('k')).toThrow(RoutingNotReadyError);
    const t2 = table(2, [
      { replicas: ['a', 'b', 'c'], epoch: 1 },
      { replicas: ['b', 'c', 'd'], epoch: 4 },
    ]);
    expect(router.update(t2)).toBe(true);
    const entry = router.lookup('user:42');
    expect(entry.shard).toBe(shardOfKey('user:42', 2));
    expect(entry).toBe(t2.entries[entry.shard]);
    expect(entry.primary).toBe(entry.replicas[0]);
    expect(router.update(table(1, [{ replicas: ['x', 'y', 'z'], epoch: 9 }]))).toBe(false);
    expect(router.version).toBe(2);
  });
});

describe('ShardHost', () => {
  it('reports shards gained, joining and lost (fenced or removed) as the table changes', () => {
    const router = new ShardRouter(
      table(1, [
        { replicas: ['a', 'b', 'c'], epoch: 1 },
        { replicas: ['b', 'c', 'd'], epoch: 1 },
        { replicas: ['a', 'c', 'd'], epoch: 1 },
      ]),
    );
    const host = new ShardHost({ router, cell: 'a' });
    expect([...host.owned().values()].map((o) => [o.shard, o.role])).toEqual([
      [0, 'primary'],
      [2, 'primary'],
    ]);
    const changes: OwnershipChange[] = [];
    host.onChange((c) => changes.push(c));
    router.update(
      table(2, [
        { replicas: ['b', 'c', 'e'], epoch: 2, leaving: ['a'] },
        { replicas: ['b', 'c', 'd'], epoch: 1, joining: ['a'] },
        { replicas: ['c', 'd', 'f'], epoch: 2 },
      ]),
    );
    expect(changes).toEqual([
      {
        version: 2,
        gained: [],
        joining: [{ shard: 1, epoch: 1, role: 'joining' }],
        lost: [
          { shard: 0, epoch: 1, reason: 'fenced' },
          { shard: 2, epoch: 1, reason: 'removed' },
        ],
      },
    ]);
    expect(host.epochOf(1)).toBeUndefined();
    router.update(
      table(3, [
        { replicas: ['b', 'c', 'e'], epoch: 2 },
        { replicas: ['b', 'c', 'a'], epoch: 2 },
        { replicas: ['c', 'd', 'f'], epoch: 2 },
      ]),
    );
    expect(changes[1]?.gained).toEqual([{ shard: 1, epoch: 2, role: 'replica' }]);
    expect(host.epochOf(1)).toBe(2);
    host.close();
  });
});
