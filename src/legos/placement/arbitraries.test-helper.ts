/** fast-check generators of small placement problems (tests only). */
import fc from 'fast-check';
import type { MemberState, PlacementInput, PlacementMember } from './types.ts';

const stateArb: fc.Arbitrary<MemberState> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('Active' as const) },
  { weight: 1, arbitrary: fc.constant('Cordoned' as const) },
  { weight: 1, arbitrary: fc.constant('Draining' as const) },
);

export function membersArb(options: { min: number; max: number; zones: readonly string[]; maxWeight: number }): fc.Arbitrary<PlacementMember[]> {
  return fc
    .array(fc.record({ zone: fc.constantFrom(...options.zones), weight: fc.integer({ min: 0, max: options.maxWeight }), state: stateArb }), {
      minLength: options.min,
      maxLength: options.max,
    })
    .map((ms) => ms.map((m, i) => ({ name: `c${i}`, zone: m.zone, weight: m.weight === 0 && i % 2 === 0 ? 1 : m.weight, state: m.state })));
}

/** A problem with a current assignment that may name gone Cells, duplicates and too many replicas. */
export function problemArb(options: { maxShards: number; maxReplicas: number; maxMembers: number; zones: readonly string[] }): fc.Arbitrary<PlacementInput> {
  return fc
    .record({
      shards: fc.integer({ min: 1, max: options.maxShards }),
      replicas: fc.integer({ min: 1, max: options.maxReplicas }),
      members: membersArb({ min: 1, max: options.maxMembers, zones: options.zones, maxWeight: 4 }),
      maxLoadFactor: fc.constantFrom(1, 1.05, 1.25, 1.5, 2),
      spreadBy: fc.constantFrom('zone' as const, 'cell' as const),
      seed: fc.array(fc.array(fc.integer({ min: 0, max: options.maxMembers + 1 }), { maxLength: options.maxReplicas + 1 }), { maxLength: options.maxShards }),
    })
    .map(({ shards, replicas, members, maxLoadFactor, spreadBy, seed }) => ({
      shards,
      replicas,
      members,
      policy: { maxLoadFactor, spreadBy },
      current: Array.from({ length: shards }, (_, s) => (seed[s] ?? []).map((i) => members[i]?.name ?? `gone${i}`)),
    }));
}
