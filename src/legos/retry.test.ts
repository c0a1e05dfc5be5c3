import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Clock, ManualClock } from './clock.ts';
import { AttemptTimeoutError, BackoffPolicy, MAX_TIMER_DELAY_MS, RetryLoop, RetryPolicy } from './retry.ts';

/** A clock whose sleeps end at once and are recorded, for checking the delay sequence. */
function recordingClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => 0,
    monotonic: () => 0,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
    },
  };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

class Transient extends Error {}
class Fatal extends Error {}

const backoffArb = fc.record({
  initialDelayMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
  multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
  maxDelayMs: fc.double({ min: 0, max: 1_000_000, noNaN: true }),
});

describe('BackoffPolicy', () => {
  it('follows initial × multiplier^(k−2) capped at maxDelay', () => {
    const backoff = new BackoffPolicy({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5, 6, 7].map((k) => backoff.delayForAttempt(k))).toEqual([0, 100, 200, 400, 800, 1000, 1000]);
  });

  it('keeps every delay in [0, maxDelay], jittered or not, even for huge attempt numbers', () => {
    fc.assert(
      fc.property(
        backoffArb,
        fc.constantFrom('none', 'full', 'equal' as const),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: -5, max: 100_000 }),
        (options, jitter, r, attempt) => {
          const delay = new BackoffPolicy({ ...options, jitter, random: () => r }).delayForAttempt(attempt);
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(options.maxDelayMs);
        },
      ),
    );
  });

  it('never decreases without jitter', () => {
    fc.assert(
      fc.property(backoffArb, fc.integer({ min: 1, max: 2000 }), (options, attempt) => {
        const backoff = new BackoffPolicy(options);
        expect(backoff.delayForAttempt(attempt + 1)).toBeGreaterThanOrEqual(backoff.delayForAttempt(attempt));
      }),
    );
  });

  it('keeps full jitter in [0, base] and equal jitter in [base/2, base]', () => {
    fc.assert(
      fc.property(backoffArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 2, max: 60 }), (options, r, attempt) => {
        const base = new BackoffPolicy(options).baseDelay(attempt);
        const full = new BackoffPolicy({ ...options, jitter: 'full', random: () => r }).delayForAttempt(attempt);
        const equal = new BackoffPolicy({ ...options, jitter: 'equal', random: () => r }).delayForAttempt(attempt);
        expect(full).toBeLessThanOrEqual(base);
        expect(equal).toBeGreaterThanOrEqual(base / 2);
        expect(equal).toBeLessThanOrEqual(base);
      }),
    );
  });

  it('rejects invalid options', () => {
    expect(() => new BackoffPolicy({ multiplier: 0.5 })).toThrow(RangeError);
    expect(() => new BackoffPolicy({ initialDelayMs: -1 })).toThrow(RangeError);
    expect(() => new BackoffPolicy({ maxDelayMs: MAX_TIMER_DELAY_MS + 1 })).toThrow(RangeError);
    expect(() => new RetryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
  });
});

describe('RetryLoop', () => {
  it('makes min(failures + 1, maxAttempts) attempts and sleeps the backoff delays between them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 10 }), backoffArb, async (maxAttempts, failures, options) => {
        const clock = recordingClock();
        const backoff = new BackoffPolicy(options);
        const loop = new RetryLoop({ retry: new RetryPolicy({ maxAttempts }), backoff, clock });
        let calls = 0;
        const errors: Error[] = [];
        const outcome = await loop
          .run(({ attempt }) => {
            calls++;
            expect(attempt).toBe(calls);
            if (calls <= failures) {
              const error = new Transient(`failure ${calls}`);
              errors.push(error);
              throw error;
            }
            return 'ok';
          })
          .then(
            (value) => ({ value }),
            (error: unknown) => ({ error }),
          );
        const expectedCalls = Math.min(failures + 1, maxAttempts);
        expect(calls).toBe(expectedCalls);
        expect(loop.attempts).toBe(expectedCalls);
        expect(loop.retries).toBe(expectedCalls - 1);
        if (failures < maxAttempts) expect(outcome).toEqual({ value: 'ok' });
        else expect(outcome).toEqual({ error: errors.at(-1) });
        expect(clock.slept).toEqual(Array.from({ length: expectedCalls - 1 }, (_, i) => backoff.delayForAttempt(i + 2)));
      }),
    );
  });

  it('retries only the errors the policy names and rethrows the first other one unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), async (transient) => {
        const loop = new RetryLoop({
          retry: new RetryPolicy({ maxAttempts: 20, retryable: (e) => e instanceof Transient }),
          clock: recordingClock(),
        });
        const thrown: Error[] = [];
        let calls = 0;
        const outcome = await loop
          .run(() => {
            const isTransient = transient[calls++];
            if (isTransient === undefined) return 'done';
            const error = isTransient ? new Transient() : new Fatal();
            thrown.push(error);
            throw error;
          })
          .catch((error: unknown) => error);
        const firstFatal = transient.indexOf(false);
        if (firstFatal === -1) {
          expect(outcome).toBe('done');
          expect(calls).toBe(transient.length + 1);
        } else {
          expect(outcome).toBe(thrown[firstFatal]);
          expect(outcome).toBeInstanceOf(Fatal);
          expect(calls).toBe(firstFatal + 1);
        }
      }),
    );
  });

  it('times out a hung attempt on the clock, aborts its signal, and retries', async () => {
    const clock = new ManualClock();
    const loop = new RetryLoop({ retry: new RetryPolicy({ maxAttempts: 2 }), clock, attemptTimeoutMs: 50 });
    const signals: AbortSignal[] = [];
    const result = loop.run(({ attempt, signal }) => {
      signals.push(signal);
      if (attempt === 1) return new Promise<string>(() => undefined); // hangs forever
      return 'second';
    });
    await flush();
    clock.advance(49);
    await flush();
    expect(signals).toHaveLength(1);
    clock.advance(1);
    await expect(result).resolves.toBe('second');
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(AttemptTimeoutError);
    expect(loop.timeouts).toBe(1);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('rethrows AttemptTimeoutError when the timeout is not retryable', async () => {
    const clock = new ManualClock();
    const loop = new RetryLoop({
      retry: new RetryPolicy({ maxAttempts: 5, retryable: (e) => !(e instanceof AttemptTimeoutError) }),
      clock,
      attemptTimeoutMs: 10,
    });
    const result = loop.run(() => new Promise<never>(() => undefined));
    await flush();
    clock.advance(10);
    await expect(result).rejects.toBeInstanceOf(AttemptTimeoutError);
    expect(loop.attempts).toBe(1);
  });

  it('stops at once when aborted during an attempt or a backoff sleep', async () => {
    const clock = new ManualClock();
    const loop = new RetryLoop({ retry: new RetryPolicy({ maxAttempts: 10 }), backoff: BackoffPolicy.fixed(1000), clock });
    const abort = new AbortController();
    let calls = 0;
    const result = loop.run(
      () => {
        calls++;
        throw new Transient();
      },
      { signal: abort.signal },
    );
    await flush();
    expect(clock.pendingSleeps).toBe(1);
    abort.abort(new Error('shutdown'));
    await expect(result).rejects.toThrow('shutdown');
    expect(calls).toBe(1);
    expect(clock.pendingSleeps).toBe(0);

    const hung = new AbortController();
    let attemptSignal: AbortSignal | undefined;
    const running = loop.run(
      ({ signal }) => {
        attemptSignal = signal;
        return new Promise<never>(() => undefined);
      },
      { signal: hung.signal },
    );
    await flush();
    hung.abort(new Error('stop'));
    await expect(running).rejects.toThrow('stop');
    expect(attemptSignal?.aborted).toBe(true);
    expect(loop.failures).toBe(2);
  });

  it('reports each retry before sleeping', async () => {
    const events: number[] = [];
    const loop = new RetryLoop({
      retry: new RetryPolicy({ maxAttempts: 3 }),
      backoff: BackoffPolicy.fixed(5),
      clock: recordingClock(),
      onRetry: (event) => events.push(event.attempt),
      group: 'thermal',
    });
    await expect(
      loop.run(() => {
        throw new Transient();
      }),
    ).rejects.toBeInstanceOf(Transient);
    expect(events).toEqual([1, 2]);
    expect(loop.group).toBe('thermal');
  });
});
