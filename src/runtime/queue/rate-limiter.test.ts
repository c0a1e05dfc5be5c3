import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../legos/clock.ts';
import { BucketRateLimiter, defaultControllerRateLimiter, ExponentialFailureRateLimiter, MaxOfRateLimiter, type RateLimiter } from './rate-limiter.ts';

const keys = ['a', 'b', 'c'] as const;
type LimiterOp = { kind: 'when' | 'forget'; key: (typeof keys)[number] };
const limiterOps = fc.array(
  fc.record({ kind: fc.constantFrom('when' as const, 'when' as const, 'when' as const, 'forget' as const), key: fc.constantFrom(...keys) }),
  { maxLength: 200, size: 'max' },
);

describe('ExponentialFailureRateLimiter', () => {
  it('waits 5 ms × 2^(n−1) for the n-th failure, within [5 ms, 1000 s], doubling until the cap', () => {
    fc.assert(
      fc.property(limiterOps, (ops: LimiterOp[]) => {
        const limiter = new ExponentialFailureRateLimiter();
        const model = new Map<string, number>();
        const last = new Map<string, number>();
        for (const op of ops) {
          if (op.kind === 'forget') {
            limiter.forget(op.key);
            model.delete(op.key);
            last.delete(op.key);
            expect(limiter.retries(op.key)).toBe(0);
            continue;
          }
          const n = (model.get(op.key) ?? 0) + 1;
          model.set(op.key, n);
          const delay = limiter.when(op.key);
          expect(delay).toBeGreaterThanOrEqual(5);
          expect(delay).toBeLessThanOrEqual(1_000_000);
          expect(delay).toBe(Math.min(5 * 2 ** (n - 1), 1_000_000));
          const previous = last.get(op.key);
          if (previous !== undefined) expect(delay).toBe(Math.min(previous * 2, 1_000_000));
          last.set(op.key, delay);
          expect(limiter.retries(op.key)).toBe(n);
        }
        // Bounded state: only keys with failures since their last forget are held.
        expect(limiter.trackedKeys).toBe(model.size);
      }),
    );
  });

  it('reaches the 1000 s cap and stays there without overflowing', () => {
    const limiter = new ExponentialFailureRateLimiter();
    const delays = Array.from({ length: 2000 }, () => limiter.when('k'));
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(delays[17]).toBe(5 * 2 ** 17); // 655,360 ms; the next doubling would pass the cap
    expect(delays.indexOf(1_000_000)).toBe(18);
    expect(delays.at(-1)).toBe(1_000_000);
  });

  it('evicts the oldest key when maxTrackedKeys is reached and counts it', () => {
    const limiter = new ExponentialFailureRateLimiter({ maxTrackedKeys: 2 });
    limiter.when('a');
    limiter.when('a');
    limiter.when('b');
    limiter.when('c');
    expect(limiter.trackedKeys).toBe(2);
    expect(limiter.evicted).toBe(1);
    expect(limiter.retries('a')).toBe(0);
    expect(limiter.when('a')).toBe(5);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst of 100 through then spaces retries 100 ms apart (10 qps)', () => {
    const clock = new ManualClock();
    const limiter = new BucketRateLimiter({ clock });
    const delays = Array.from({ length: 103 }, (_, i) => limiter.when(`k${i}`));
    expect(delays.slice(0, 100).every((d) => d === 0)).toBe(true);
    expect(delays.slice(100)).toEqual([100, 200, 300]);
    expect(limiter.retries('k0')).toBe(0);
  });
});

describe('MaxOfRateLimiter', () => {
  it('returns the largest delay, the largest retry count, and forgets everywhere', () => {
    fc.assert(
      fc.property(limiterOps, (ops: LimiterOp[]) => {
        const clock = new ManualClock();
        const fast = new ExponentialFailureRateLimiter({ baseDelayMs: 1 });
        const slow = new ExponentialFailureRateLimiter({ baseDelayMs: 7, maxDelayMs: 100 });
        const fastRef = new ExponentialFailureRateLimiter({ baseDelayMs: 1 });
        const slowRef = new ExponentialFailureRateLimiter({ baseDelayMs: 7, maxDelayMs: 100 });
        const combined: RateLimiter = new MaxOfRateLimiter([fast, slow]);
        for (const op of ops) {
          if (op.kind === 'forget') {
            combined.forget(op.key);
            fastRef.forget(op.key);
            slowRef.forget(op.key);
          } else {
            expect(combined.when(op.key)).toBe(Math.max(fastRef.when(op.key), slowRef.when(op.key)));
          }
          expect(combined.retries(op.key)).toBe(Math.max(fastRef.retries(op.key), slowRef.retries(op.key)));
          clock.advance(1);
        }
      }),
    );
  });

  it('default controller limiter: per-key backoff until the overall bucket is exhausted', () => {
    const clock = new ManualClock();
    const limiter = defaultControllerRateLimiter({ clock });
    expect([limiter.when('a'), limiter.when('a'), limiter.when('a')]).toEqual([5, 10, 20]);
    for (let i = 0; i < 97; i++) limiter.when(`other${i}`);
    // 100 tokens spent: the next retry of a fresh key waits for the bucket, not for 5 ms.
    expect(limiter.when('fresh')).toBe(100);
    expect(limiter.retries('a')).toBe(3);
    limiter.forget('a');
    expect(limiter.retries('a')).toBe(0);
  });
});
