import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCellSpec } from '../crds/cell.ts';
import { parseShardMapSpec } from '../crds/shardmap.ts';
import { reconcileShardMap, type MemberCell } from './shardmap.ts';

const read = async (file: string) =>
  parseAllDocuments(await readFile(new URL(`../../examples/${file}`, import.meta.url), 'utf8')).map((d) => d.toJSON() as { kind: string; metadata: { name: string }; spec: unknown });

describe('examples/shard-map.yaml over examples/cells.yaml', () => {
  it('is a valid ShardMap that publishes a table with one replica per zone and no degraded spread', async () => {
    const [map] = await read('shard-map.yaml');
    const parsed = parseShardMapSpec(map?.spec);
    if (!parsed.ok) throw new Error(parsed.message);
    const cells: MemberCell[] = (await read('cells.yaml')).map((c) => {
      const spec = parseCellSpec(c.spec);
      if (!spec.ok) throw new Error(spec.message);
      return { name: c.metadata.name, zone: spec.value.zone, capacity: spec.value.capacity, state: spec.value.state };
    });
    const decision = reconcileShardMap(
      { name: map?.metadata.name ?? '', namespace: 'shop', uid: 'u', generation: 1, spec: { ok: true, value: parsed.value }, status: undefined, cells, table: { kind: 'missing' }, lastGood: { kind: 'missing' }, acks: new Map(), killSwitch: { engaged: false } },
      Date.parse('2026-12-05T00:00:00Z'),
    );
    const conditions = new Map((decision.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(conditions.get('Ready')).toMatchObject({ status: 'True', reason: 'Published' });
    expect(conditions.get('SpreadDegraded')?.status).toBe('False');
    const table = decision.published?.table;
    expect(table?.entries.every((e) => new Set(e.replicas.map((c) => (c === 'shop-c' ? 'zone-b' : 'zone-a'))).size === 2)).toBe(true);
    expect(decision.status?.members?.find((m) => m.cell === 'shop-c')?.replicas).toBe(256);
  });
});
