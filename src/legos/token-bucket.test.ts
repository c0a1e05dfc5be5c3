import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { TokenBucket } from './token-bucket.ts';

type Op = { kind: 'advance'; ms: number } | { kind: 'take'; n: number } | { kind: 'reserve'; n: number };

const opArb = (burst: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ kind: fc.constant('take' as const), n: fc.integer({ min: 1, max: burst + 1 }) }),
    fc.record({ kind: fc.constant('reserve' as const), n: fc.integer({ min: 1, max: burst }) }),
  );

const scenarioArb = fc
  .record({ rate: fc.integer({ min: 1, max: 50 }), burst: fc.integer({ min: 1, max: 20 }) })
  .chain(({ rate, burst }) => fc.record({ rate: fc.constant(rate), burst: fc.constant(burst), ops: fc.array(opArb(burst), { maxLength: 80, size: 'max' }) }));

describe('TokenBucket', () => {
  it('never grants more than burst + rate × elapsed over any window', () => {
    fc.assert(
      fc.property(scenarioArb, ({ rate, burst, ops }) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ ratePerSecond: rate, burst, clock });
        const grants: { at: number; n: number }[] = [];
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms);
          else if (op.kind === 'take') {
            if (bucket.tryTake(op.n)) grants.push({ at: clock.monotonic(), n: op.n });
          } else {
            const delay = bucket.reserve(op.n);
            expect(delay).toBeGreaterThanOrEqual(0);
            grants.push({ at: clock.monotonic() + delay, n: op.n });
          }
          expect(bucket.tokens()).toBeLessThanOrEqual(burst);
        }
        grants.sort((a, b) => a.at - b.at);
        for (let i = 0; i < grants.length; i++) {
          let granted = 0;
          for (let j = i; j < grants.length; j++) {
            granted += grants[j]!.n;
            const window = grants[j]!.at - grants[i]!.at;
            // Reservation times come from one division, so allow one rounding step.
            expect(granted).toBeLessThanOrEqual(burst + (rate * window) / 1000 + 1e-9);
          }
        }
      }),
    );
  });

  it('grants a token once delayFor() has elapsed (liveness, exact with integer inputs)', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 20 }), ({ rate, burst, ops }, want) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ ratePerSecond: rate, burst, clock });
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms);
          else if (op.kind === 'take') bucket.tryTake(op.n);
          else bucket.reserve(op.n);
        }
        const n = Math.min(want, burst);
        const delay = bucket.delayFor(n);
        if (delay > 0) {
          expect(bucket.tryTake(n)).toBe(false);
          clock.advance(Math.ceil(delay) - 1);
          if (Math.ceil(delay) - 1 < delay) expect(bucket.tryTake(n)).toBe(false);
          clock.advance(1);
        }
        expect(bucket.tryTake(n)).toBe(true);
      }),
    );
  });

  it('reserve() returns the same wait delayFor() predicted and commits the tokens', () => {
    fc.assert(
      fc.property(scenarioArb, ({ rate, burst, ops }) => {
        const clock = new ManualClock();
        const bucket = new TokenBucket({ ratePerSecond: rate, burst, clock });
        for (const op of ops) {
          if (op.kind === 'advance') {
            clock.advance(op.ms);
            continue;
          }
          const predicted = bucket.delayFor(op.n);
          const before = bucket.tokens();
          if (op.kind === 'reserve') {
            expect(bucket.reserve(op.n)).toBeCloseTo(predicted, 9);
            expect(bucket.tokens()).toBeCloseTo(before - op.n, 9);
          } else {
            expect(bucket.tryTake(op.n)).toBe(predicted === 0);
          }
        }
      }),
    );
  });

  it('keeps fractional tokens across refills instead of truncating them', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 3, burst: 5, clock, initialTokens: 0 });
    for (let i = 0; i < 9; i++) {
      clock.advance(37);
      expect(bucket.tryTake()).toBe(false);
    }
    // 9 × 37 ms × 3 tokens/s = 0.999 tokens; one more millisecond makes exactly 1.002.
    expect(bucket.tokens()).toBe(0.999);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tokens()).toBeCloseTo(0.002, 12);
  });

  it('supports rates below one token per second', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 0.5, burst: 1, clock, initialTokens: 0 });
    expect(bucket.delayFor()).toBe(2000);
    clock.advance(1999);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
  });

  it('makes successive reservations wait one emission interval each', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2, clock });
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 100, 200]);
    clock.advance(200);
    expect(bucket.tokens()).toBe(0);
    expect(bucket.tryTake()).toBe(false);
  });

  it('rejects invalid parameters', () => {
    const clock = new ManualClock();
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: Number.POSITIVE_INFINITY, burst: 1, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 2, clock, initialTokens: 3 })).toThrow(RangeError);
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2, clock });
    expect(() => bucket.tryTake(0)).toThrow(RangeError);
    expect(() => bucket.reserve(3)).toThrow(RangeError);
    expect(bucket.tryTake(3)).toBe(false);
    expect(bucket.delayFor(3)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('TokenBucket.reconfigure', () => {
  it('keeps the tokens accrued so far up to the new burst and refills at the new rate from then on', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 10, clock, initialTokens: 0 });
    clock.advance(500); // 5 tokens at the old rate
    bucket.reconfigure({ ratePerSecond: 100, burst: 3 });
    expect(bucket.tokens()).toBe(3);
    expect(bucket.ratePerSecond).toBe(100);
    expect(bucket.burst).toBe(3);
    expect(bucket.tryTake(3)).toBe(true);
    clock.advance(10); // 1 token at the new rate
    expect(bucket.tokens()).toBe(1);
    bucket.reconfigure({ ratePerSecond: 1, burst: 50 });
    expect(bucket.tokens()).toBe(1); // raising the burst adds nothing
    expect(() => bucket.reconfigure({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
  });

  it('never grants more than the largest burst + ∫ rate over any window, across changes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 500 }) }),
            fc.record({ kind: fc.constant('take' as const), n: fc.integer({ min: 1, max: 5 }) }),
            fc.record({ kind: fc.constant('set' as const), rate: fc.integer({ min: 1, max: 50 }), burst: fc.integer({ min: 1, max: 10 }) }),
          ),
          { maxLength: 100, size: 'max' },
        ),
        (ops) => {
          const clock = new ManualClock();
          const bucket = new TokenBucket({ ratePerSecond: 10, burst: 10, clock });
          let maxBurst = 10;
          const timeline: { at: number; rate: number }[] = [{ at: 0, rate: 10 }];
          const grants: { at: number; n: number }[] = [];
          for (const op of ops) {
            if (op.kind === 'advance') clock.advance(op.ms);
            else if (op.kind === 'take') {
              if (bucket.tryTake(op.n)) grants.push({ at: clock.monotonic(), n: op.n });
            } else {
              bucket.reconfigure({ ratePerSecond: op.rate, burst: op.burst });
              maxBurst = Math.max(maxBurst, op.burst);
              timeline.push({ at: clock.monotonic(), rate: op.rate });
            }
          }
          const integral = (a: number, b: number) => {
            let total = 0;
            timeline.forEach((seg, i) => {
              const end = timeline[i + 1]?.at ?? Number.POSITIVE_INFINITY;
              const lo = Math.max(a, seg.at);
              const hi = Math.min(b, end);
              if (hi > lo) total += (seg.rate * (hi - lo)) / 1000;
            });
            return total;
          };
          for (let i = 0; i < grants.length; i++) {
            let granted = 0;
            for (let j = i; j < grants.length; j++) {
              granted += grants[j]!.n;
              expect(granted).toBeLessThanOrEqual(maxBurst + integral(grants[i]!.at, grants[j]!.at) + 1e-9);
            }
          }
        },
      ),
    );
  });
});
