import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SHARE_UNITS_PER_RPS, clampDemand, splitLimit, waterFill, type LimitBudget } from './ratepolicy-shares.ts';

const U = SHARE_UNITS_PER_RPS;
const units = (rps: number) => Math.round(rps * U);

const limitArb: fc.Arbitrary<LimitBudget> = fc.record({
  requestsPerSecond: fc.oneof(fc.integer({ min: 1, max: 1_000_000_000 }), fc.double({ min: 0.001, max: 1e6, noNaN: true })),
  burst: fc.integer({ min: 1, max: 1_000_000_000 }),
  scope: fc.constant('Global' as const),
});
const replicasArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 60 });

const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

describe('splitLimit', () => {
  it('Global shares never add up to more than the rate or the burst, exactly, in both modes', () => {
    fc.assert(
      fc.property(limitArb, replicasArb, fc.constantFrom('Even' as const, 'Demand' as const), fc.double({ min: 0, max: 1, noNaN: true }), fc.array(fc.double({ min: 0, max: 2e9, noNaN: true })), (limit, replicas, mode, floorFraction, rawDemands) => {
        const demands = new Map(replicas.flatMap((r, i) => (rawDemands[i] === undefined ? [] : [[r, clampDemand(rawDemands[i], limit.requestsPerSecond).requestsPerSecond] as const])));
        const shares = splitLimit({ limit, mode, replicas, demands, floorFraction });
        expect(shares.size).toBe(replicas.length);
        const rates = [...shares.values()].map((s) => s.requestsPerSecond);
        const bursts = [...shares.values()].map((s) => s.burst);
        expect(sum(rates)).toBeLessThanOrEqual(limit.requestsPerSecond);
        expect(sum(bursts)).toBeLessThanOrEqual(limit.burst);
        for (const r of rates) expect(r).toBeGreaterThanOrEqual(0);
        // Demand: no burst share below one token when the burst has one per replica (the client would round it up)
        if (mode === 'Demand' && limit.burst >= replicas.length && units(limit.requestsPerSecond) > 0) for (const b of bursts) expect(b).toBeGreaterThanOrEqual(1);
        // nearly nothing is left unassigned in Even mode: at most one unit per replica
        if (mode === 'Even') expect(units(limit.requestsPerSecond) - units(sum(rates))).toBeLessThanOrEqual(replicas.length + 1);
      }),
    );
  });

  it('Even gives every replica the same share; PerReplica gives each the whole limit', () => {
    fc.assert(
      fc.property(limitArb, replicasArb, (limit, replicas) => {
        const even = [...splitLimit({ limit, mode: 'Even', replicas }).values()];
        expect(new Set(even.map((s) => s.requestsPerSecond)).size).toBe(1);
        expect(even[0]!.requestsPerSecond).toBeCloseTo(limit.requestsPerSecond / replicas.length, 4);
        const per = [...splitLimit({ limit: { ...limit, scope: 'PerReplica' }, mode: 'Even', replicas }).values()];
        for (const s of per) expect(s).toEqual({ requestsPerSecond: limit.requestsPerSecond, burst: limit.burst });
      }),
    );
  });

  it('Demand is max-min fair with floors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        replicasArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }), { maxLength: 60 }),
        (rate, replicas, floorFraction, reported) => {
          const limit: LimitBudget = { requestsPerSecond: rate, burst: rate, scope: 'Global' };
          const demands = new Map<string, number>();
          replicas.forEach((r, i) => {
            const d = reported[i];
            if (d !== undefined) demands.set(r, clampDemand(d, rate).requestsPerSecond);
          });
          const shares = splitLimit({ limit, mode: 'Demand', replicas, demands, floorFraction });
          const n = replicas.length;
          const even = Math.floor(units(rate) / n);
          const floor = Math.floor(even * floorFraction);
          const s = new Map([...shares].map(([k, v]) => [k, units(v.requestsPerSecond)]));
          const want = (r: string) => (demands.has(r) ? units(demands.get(r)!) : even);
          // floors
          for (const v of s.values()) expect(v).toBeGreaterThanOrEqual(floor);
          const short = replicas.filter((r) => s.get(r)! < want(r));
          if (short.length > 0) {
            // nobody gets more than it asks (or its floor) while someone is short …
            for (const r of replicas) expect(s.get(r)!).toBeLessThanOrEqual(Math.max(want(r), floor));
            // … and a short replica gets as much as anyone (up to one unit of rounding)
            const top = Math.max(...s.values());
            for (const r of short) expect(s.get(r)!).toBeGreaterThanOrEqual(top - 1);
            // the budget is used up (up to rounding)
            expect(units(rate) - sum(s.values())).toBeLessThanOrEqual(n);
          } else {
            // everybody served: spare capacity spread evenly, still within the limit
            for (const r of replicas) expect(s.get(r)!).toBeGreaterThanOrEqual(Math.min(want(r), units(rate)));
          }
        },
      ),
    );
  });

  it('Demand example: small askers are served, the rest share what is left', () => {
    const shares = splitLimit({
      limit: { requestsPerSecond: 1000, burst: 100, scope: 'Global' },
      mode: 'Demand',
      replicas: ['a', 'b', 'c', 'd'],
      demands: new Map([
        ['a', 50],
        ['b', 100],
        ['c', 2000],
        ['d', 900],
      ]),
      floorFraction: 0.1,
    });
    const rps = Object.fromEntries([...shares].map(([k, v]) => [k, Math.round(v.requestsPerSecond)]));
    expect(rps).toEqual({ a: 50, b: 100, c: 425, d: 425 });
    // one token each first (4 of 100), the other 96 follow the rate
    expect(shares.get('c')!.burst).toBeCloseTo(1 + 96 * 0.425, 4);
    expect(shares.get('a')!.burst).toBeCloseTo(1 + 96 * 0.05, 4);
    expect(Math.min(...[...shares.values()].map((v) => v.burst))).toBeGreaterThanOrEqual(1);
  });

  it('Demand with idle replicas: each keeps its floor, spare capacity is spread', () => {
    const shares = splitLimit({
      limit: { requestsPerSecond: 1000, burst: 1000, scope: 'Global' },
      mode: 'Demand',
      replicas: ['a', 'b'],
      demands: new Map([
        ['a', 0],
        ['b', 100],
      ]),
      floorFraction: 0.2,
    });
    // floor 100 each; b wants nothing above it; 800 spare → 400 each
    expect(Math.round(shares.get('a')!.requestsPerSecond)).toBe(500);
    expect(Math.round(shares.get('b')!.requestsPerSecond)).toBe(500);
  });

  it('no replicas: no shares', () => {
    expect(splitLimit({ limit: { requestsPerSecond: 10, burst: 10, scope: 'Global' }, mode: 'Even', replicas: [] }).size).toBe(0);
  });
});

describe('waterFill', () => {
  it('serves small demands in full and never exceeds the capacity', () => {
    expect(waterFill(10, [1, 8, 8])).toEqual([1, 4, 5]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.array(fc.integer({ min: 0, max: 1e12 }), { maxLength: 50 }), (cap, demands) => {
        const out = waterFill(cap, demands);
        expect(sum(out)).toBeLessThanOrEqual(cap);
        out.forEach((a, i) => expect(a).toBeLessThanOrEqual(demands[i]!));
        if (sum(demands) <= cap) expect(out).toEqual(demands);
      }),
    );
  });
});

describe('clampDemand', () => {
  it('clamps what cannot be trusted and says why', () => {
    expect(clampDemand(-5, 100)).toEqual({ requestsPerSecond: 0, clamped: 'Negative' });
    expect(clampDemand(Number.NaN, 100)).toEqual({ requestsPerSecond: 0, clamped: 'NotANumber' });
    expect(clampDemand('12', 100)).toEqual({ requestsPerSecond: 0, clamped: 'NotANumber' });
    expect(clampDemand(1e300, 100)).toEqual({ requestsPerSecond: 100, clamped: 'AboveLimit' });
    expect(clampDemand(42, 100)).toEqual({ requestsPerSecond: 42 });
  });
});
