import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { problemArb } from './arbitraries.test-helper.ts';
import { exhaustiveOptimum } from './optimum.test-helper.ts';
import { planPlacement } from './planner.ts';
import type { PlacementInput, PlacementPlan } from './types.ts';

const small = problemArb({ maxShards: 5, maxReplicas: 3, maxMembers: 6, zones: ['a', 'b', 'c'] });
const medium = problemArb({ maxShards: 60, maxReplicas: 4, maxMembers: 14, zones: ['a', 'b', 'c', 'd'] });

function plan(input: PlacementInput): PlacementPlan | undefined {
  const result = planPlacement(input);
  return result.ok ? result.plan : undefined;
}

/** Every hard rule of a complete plan, checked from the input alone (not the planner's bookkeeping). */
function checkRules(input: PlacementInput, p: PlacementPlan): void {
  const byName = new Map(input.members.map((m) => [m.name, m]));
  const load = new Map<string, number>();
  p.target.forEach((cells, s) => {
    expect(new Set(cells).size).toBe(cells.length);
    if (p.unplaced === 0) expect(cells.length).toBe(input.replicas);
    const perDomain = new Map<string, number>();
    for (const name of cells) {
      const m = byName.get(name);
      expect(m).toBeDefined();
      expect(m?.state).not.toBe('Draining');
      if (m?.state === 'Cordoned') expect(input.current[s] ?? []).toContain(name);
      const domain = input.policy.spreadBy === 'zone' ? (m?.zone ?? '') : name;
      perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
      load.set(name, (load.get(name) ?? 0) + 1);
    }
    for (const n of perDomain.values()) expect(n).toBeLessThanOrEqual(p.spread.perDomainLimit);
  });
  const domains = new Set(input.members.filter((m) => m.state !== 'Draining' && m.weight > 0).map((m) => (input.policy.spreadBy === 'zone' ? (m.zone ?? '') : m.name)));
  expect(p.spread.perDomainLimit).toBe(domains.size >= input.replicas ? 1 : Math.ceil(input.replicas / domains.size));
  for (const m of p.members) {
    const held = load.get(m.name) ?? 0;
    expect(held).toBe(m.replicas);
    expect(held).toBeLessThanOrEqual(m.cap);
    if (m.share > 0) expect(m.cap).toBe(Math.min(input.shards, Math.ceil(Math.round(input.policy.maxLoadFactor * m.share * 1e9) / 1e9)));
    if (m.state === 'Active' && p.floorShortfall === 0 && p.unplaced === 0) expect(held).toBeGreaterThanOrEqual(m.floor);
  }
  // Moves are exactly the placements: target minus current, per shard.
  let arrivals = 0;
  p.target.forEach((cells, s) => (arrivals += cells.filter((c) => !(input.current[s] ?? []).includes(c)).length));
  expect(p.moves.length).toBe(arrivals);
  if (p.unplaced === 0) expect(p.moves.length).toBeGreaterThanOrEqual(p.lowerBound);
}

describe('planPlacement', () => {
  it('keeps every rule: distinct cells, domain spread, caps, floors, Cordoned gets nothing new, Draining ends empty', () => {
    fc.assert(
      fc.property(medium, (input) => {
        const p = plan(input);
        if (p) checkRules(input, p);
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic and does not depend on the order members are listed in', () => {
    fc.assert(
      fc.property(medium, fc.integer(), (input, seed) => {
        const a = planPlacement(input);
        expect(planPlacement(structuredClone(input))).toEqual(a);
        const shuffled = [...input.members].sort((x, y) => ((x.name.length * 31 + seed) % 7) - ((y.name.length * 31 + seed) % 7) || (x.name < y.name ? 1 : -1));
        const b = planPlacement({ ...input, members: shuffled });
        if (a.ok && b.ok) {
          expect(b.plan.target).toEqual(a.plan.target);
          expect(b.plan.moves).toEqual(a.plan.moves);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('is stable: planning again over its own target plans 0 moves', () => {
    fc.assert(
      fc.property(medium, (input) => {
        const p = plan(input);
        if (!p || p.unplaced > 0) return;
        const again = plan({ ...input, current: p.target });
        expect(again?.moves).toEqual([]);
        expect(again?.target).toEqual(p.target);
      }),
      { numRuns: 200 },
    );
  });

  it('does not oscillate under repeated small weight changes: alternating two weightings settles to 0 moves', () => {
    fc.assert(
      fc.property(medium, fc.array(fc.integer({ min: -1, max: 1 }), { minLength: 14, maxLength: 14 }), (input, deltas) => {
        // Small: each weight moves by at most 2 %, below the 5 % slack of maxLoadFactor 1.05.
        const members2 = input.members.map((m, i) => ({ ...m, weight: Math.max(50, m.weight * 100) + (deltas[i] ?? 0) }));
        const members1 = input.members.map((m) => ({ ...m, weight: Math.max(50, m.weight * 100) }));
        let current = input.current;
        const moves: number[] = [];
        input = { ...input, policy: { spreadBy: 'cell', maxLoadFactor: Math.max(1.05, input.policy.maxLoadFactor) } };
        for (let round = 0; round < 8; round++) {
          const p = plan({ ...input, members: round % 2 === 0 ? members1 : members2, current });
          if (!p || p.unplaced > 0 || p.floorShortfall > 0) return;
          moves.push(p.moves.length);
          current = p.target;
        }
        expect(moves.slice(4)).toEqual([0, 0, 0, 0]);
      }),
      { numRuns: 150 },
    );
  });

  it('a balanced map plans 0 moves; adding a Cell moves exactly its floor onto it', () => {
    const members = Array.from({ length: 12 }, (_, i) => ({ name: `c${i}`, zone: `z${i % 3}`, weight: 100, state: 'Active' as const }));
    const input: PlacementInput = { shards: 1200, replicas: 3, members, current: [], policy: { maxLoadFactor: 1.05, spreadBy: 'zone' } };
    const first = plan(input) as PlacementPlan;
    expect(first.moves.length).toBe(3600);
    expect(first.lowerBound).toBe(3600);
    expect(plan({ ...input, current: first.target })?.moves.length).toBe(0);
    const grown = plan({ ...input, members: [...members, { name: 'c12', zone: 'z0', weight: 100, state: 'Active' }], current: first.target }) as PlacementPlan;
    const added = grown.members.find((m) => m.name === 'c12');
    expect(grown.moves.length).toBe(added?.floor);
    expect(grown.lowerBound).toBe(grown.moves.length);
    expect(grown.moves.every((m) => m.to === 'c12')).toBe(true);
  });

  it('a Draining member ends empty with exactly its replicas moved, most urgent first', () => {
    const members = Array.from({ length: 9 }, (_, i) => ({ name: `c${i}`, zone: `z${i % 3}`, weight: 10, state: 'Active' as const }));
    const input: PlacementInput = { shards: 300, replicas: 3, members, current: [], policy: { maxLoadFactor: 1.25, spreadBy: 'zone' } };
    const first = plan(input) as PlacementPlan;
    const draining = members.map((m) => (m.name === 'c4' ? { ...m, state: 'Draining' as const } : m));
    const p = plan({ ...input, members: draining, current: first.target }) as PlacementPlan;
    const held = first.members.find((m) => m.name === 'c4')?.replicas ?? 0;
    expect(p.lowerBound).toBe(held);
    expect(p.moves.filter((m) => m.reason === 'Draining').length).toBe(held);
    expect(p.moves[0]?.reason).toBe('Draining');
    expect(p.members.find((m) => m.name === 'c4')?.replicas).toBe(0);
  });

  it('reports spread degradation and the per-zone limit with fewer zones than replicas', () => {
    const members = Array.from({ length: 4 }, (_, i) => ({ name: `c${i}`, zone: `z${i % 2}`, weight: 1, state: 'Active' as const }));
    const p = plan({ shards: 10, replicas: 3, members, current: [], policy: { maxLoadFactor: 1.25, spreadBy: 'zone' } }) as PlacementPlan;
    expect(p.spread).toEqual({ domains: ['z0', 'z1'], perDomainLimit: 2, degraded: true });
    checkRules({ shards: 10, replicas: 3, members, current: [], policy: { maxLoadFactor: 1.25, spreadBy: 'zone' } }, p);
  });

  it('rejects what cannot be placed with a named reason', () => {
    const members = [{ name: 'a', weight: 1, state: 'Active' as const }];
    expect(planPlacement({ shards: 1, replicas: 2, members, current: [], policy: { maxLoadFactor: 1, spreadBy: 'cell' } })).toMatchObject({ ok: false, reason: 'InsufficientMembers' });
    expect(planPlacement({ shards: 0, replicas: 1, members, current: [], policy: { maxLoadFactor: 1, spreadBy: 'cell' } })).toMatchObject({ ok: false, reason: 'InvalidInput' });
    expect(planPlacement({ shards: 1, replicas: 1, members, current: [], policy: { maxLoadFactor: 0.5, spreadBy: 'cell' } })).toMatchObject({ ok: false, reason: 'InvalidInput' });
  });
});

describe('planPlacement against the exhaustive optimum (small instances)', () => {
  it('the lower bound never exceeds the true optimum, the planner places whenever an assignment exists, and matches the optimum in ≥ 99 % of cases', () => {
    let compared = 0;
    let optimal = 0;
    fc.assert(
      fc.property(small, (input) => {
        const p = plan(input);
        if (!p) return;
        const opt = exhaustiveOptimum(input, p, { requireFloors: true });
        const feasible = exhaustiveOptimum(input, p, { requireFloors: false }).moves !== undefined;
        if (feasible) expect(p.unplaced).toBe(0);
        if (opt.moves === undefined) return;
        expect(p.lowerBound).toBeLessThanOrEqual(opt.moves);
        expect(p.floorShortfall).toBe(0);
        expect(p.moves.length).toBeGreaterThanOrEqual(opt.moves);
        compared++;
        if (p.moves.length === opt.moves) optimal++;
        else expect(p.moves.length).toBeLessThanOrEqual(opt.moves + 1); // the greedy's known slack: one swap
      }),
      { numRuns: 2000, seed: 12 },
    );
    expect(compared).toBeGreaterThan(1000);
    expect(optimal / compared).toBeGreaterThanOrEqual(0.99);
  });
});

describe('planPlacement at scale (membership changes over a balanced map)', () => {
  const change = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), zone: fc.integer({ min: 0, max: 6 }), weight: fc.constantFrom(50, 100, 200) }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('drain' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ kind: fc.constant('weight' as const), at: fc.nat(), weight: fc.constantFrom(25, 50, 100, 200, 400) }),
    fc.record({ kind: fc.constant('cordon' as const), at: fc.nat() }),
  );
  it('moves stay within 2 % of the lower bound and every rule holds, change after change', () => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 4 }), fc.constantFrom(1.05, 1.25), (changes, maxLoadFactor) => {
        let members: PlacementInput['members'] = Array.from({ length: 48 }, (_, i) => ({ name: `c${i}`, zone: `z${i % 6}`, weight: [50, 100, 100, 200][i % 4] as number, state: 'Active' as const }));
        const base = { shards: 2048, replicas: 3, policy: { maxLoadFactor, spreadBy: 'zone' as const } };
        let current = (plan({ ...base, members, current: [] }) as PlacementPlan).target;
        let added = 0;
        for (const c of changes) {
          const at = 'at' in c ? c.at % members.length : 0;
          if (c.kind === 'add') members = [...members, { name: `n${added++}`, zone: `z${c.zone}`, weight: c.weight, state: 'Active' }];
          else if (c.kind === 'remove') members = members.filter((_, i) => i !== at);
          else if (c.kind === 'drain') members = members.map((m, i) => ((i - at + members.length) % members.length < c.count ? { ...m, state: 'Draining' } : m));
          else if (c.kind === 'weight') members = members.map((m, i) => (i === at ? { ...m, weight: c.weight } : m));
          else members = members.map((m, i) => (i === at ? { ...m, state: 'Cordoned' } : m));
          const input = { ...base, members, current };
          const p = plan(input);
          if (!p) return;
          checkRules(input, p);
          expect(p.unplaced).toBe(0);
          expect(p.moves.length).toBeLessThanOrEqual(Math.floor(p.lowerBound * 1.02));
          current = p.target;
        }
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});
