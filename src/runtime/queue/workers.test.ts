import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../legos/clock.ts';
import type { RetryClass } from '../../kube/errors.ts';
import type { ReconcileMetrics, ReconcileOutcome } from './metrics.ts';
import { ExponentialFailureRateLimiter } from './rate-limiter.ts';
import { WorkQueue } from './work-queue.ts';
import { type ReconcileResult, WorkerPool } from './workers.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

class Classified extends Error {
  readonly retry: RetryClass;
  constructor(retry: RetryClass) {
    super(retry);
    this.retry = retry;
  }
}
const classify = (error: unknown): RetryClass => (error instanceof Classified ? error.retry : 'backoff');

type Outcome = 'success' | 'requeueAfter' | RetryClass | 'weird';

interface Call {
  readonly key: string;
  readonly signal: AbortSignal;
  finish(outcome: Outcome): void;
}

/** A reconcile whose calls stay pending until the test finishes them. */
class FakeReconciler {
  readonly calls: Call[] = [];
  readonly running = new Set<string>();
  readonly overlaps: string[] = [];
  maxRunning = 0;
  readonly reconcile = (key: string, signal: AbortSignal): Promise<ReconcileResult | void> => {
    if (this.running.has(key)) this.overlaps.push(key);
    this.running.add(key);
    this.maxRunning = Math.max(this.maxRunning, this.running.size);
    return new Promise<ReconcileResult | void>((resolve, reject) => {
      this.calls.push({
        key,
        signal,
        finish: (outcome) => {
          this.running.delete(key);
          if (outcome === 'success') resolve();
          else if (outcome === 'requeueAfter') resolve({ requeueAfterMs: 50 });
          // A rejection that is not an Error, on purpose: the pool must cope with it.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          else if (outcome === 'weird') reject(Object.assign(Object.create(null) as object, { not: 'an error' }));
          else reject(new Classified(outcome));
        },
      });
    });
  };
  /** Finishes the oldest pending call of `key` (or the oldest call overall). */
  finish(outcome: Outcome, key?: string): string {
    const index = this.calls.findIndex((c) => key === undefined || c.key === key);
    const [call] = this.calls.splice(index, 1);
    if (call === undefined) throw new Error(`no pending call${key ? ` for ${key}` : ''}`);
    call.finish(outcome);
    return call.key;
  }
  pendingKeys(): string[] {
    return this.calls.map((c) => c.key);
  }
}

function recorder(): ReconcileMetrics & { outcomes: ReconcileOutcome[]; errors: RetryClass[] } {
  const outcomes: ReconcileOutcome[] = [];
  const errors: RetryClass[] = [];
  return { outcomes, errors, reconciled: (o) => void outcomes.push(o), errored: (r) => void errors.push(r), activeWorkers: () => {} };
}

function setup(options: { concurrency?: number; maxImmediateRetries?: number } = {}) {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock, rateLimiter: new ExponentialFailureRateLimiter() });
  const fake = new FakeReconciler();
  const metrics = recorder();
  const terminal: string[] = [];
  const pool = new WorkerPool({
    queue,
    clock,
    classify,
    reconcile: fake.reconcile,
    metrics,
    concurrency: options.concurrency ?? 1,
    maxImmediateRetries: options.maxImmediateRetries,
    onTerminal: (key) => terminal.push(key),
  });
  const running = pool.start();
  return { clock, queue, fake, metrics, terminal, pool, running };
}

describe('WorkerPool', () => {
  it('respects the concurrency bound and never runs one key twice at once', async () => {
    type Step = { kind: 'add'; key: string } | { kind: 'finish'; pick: number; outcome: Outcome } | { kind: 'advance'; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }),
      fc.record({
        kind: fc.constant('finish' as const),
        pick: fc.nat(8),
        outcome: fc.constantFrom<Outcome>('success', 'success', 'requeueAfter', 'immediate', 'backoff', 'terminal', 'weird'),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 60, size: 'max' }), async (concurrency, steps) => {
        const { clock, queue, fake, metrics, terminal, pool, running } = setup({ concurrency });
        let finished = 0;
        let failed = 0;
        for (const s of steps) {
          if (s.kind === 'add') queue.add(s.key);
          else if (s.kind === 'advance') clock.advance(s.ms);
          else if (fake.calls.length > 0) {
            const key = fake.pendingKeys()[s.pick % fake.calls.length]!;
            fake.finish(s.outcome, key);
            finished++;
            if (s.outcome === 'backoff' || s.outcome === 'terminal' || s.outcome === 'weird') failed++;
          }
          await flush();
          expect(fake.running.size).toBeLessThanOrEqual(concurrency);
          expect(pool.active).toBe(fake.running.size);
          expect(fake.overlaps).toEqual([]);
          // Workers are never idle while keys wait.
          if (queue.len > 0) expect(fake.running.size).toBe(concurrency);
        }
        expect(fake.maxRunning).toBeLessThanOrEqual(concurrency);
        expect(metrics.outcomes).toHaveLength(finished);
        // 'immediate' may escalate to an error after 5 in a row; the rest fail as scripted.
        expect(metrics.errors.length).toBeGreaterThanOrEqual(failed);
        expect(metrics.errors.filter((e) => e === 'terminal')).toHaveLength(terminal.length);
        const stopped = pool.stop({ timeoutMs: 10 });
        while (fake.calls.length > 0) fake.finish('success');
        expect(await stopped).toBe(true);
        await running;
      }),
    );
  });

  it('success forgets the key; requeueAfter brings it back after exactly that long', async () => {
    const { clock, queue, fake, metrics, pool } = setup();
    queue.addRateLimited('k');
    clock.advance(5);
    await flush();
    fake.finish('requeueAfter');
    await flush();
    expect(queue.retries('k')).toBe(0); // forgotten
    clock.advance(49);
    await flush();
    expect(fake.calls).toHaveLength(0);
    clock.advance(1);
    await flush();
    fake.finish('success');
    await flush();
    expect(metrics.outcomes).toEqual(['requeue_after', 'success']);
    await pool.stop();
  });

  it('backoff failures retry after 5, 10, 20 ms', async () => {
    const { clock, queue, fake, metrics, pool } = setup();
    queue.add('k');
    await flush();
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      fake.finish('backoff');
      await flush();
      let waited = 0;
      while (fake.calls.length === 0) {
        clock.advance(1);
        waited++;
        await flush();
      }
      waits.push(waited);
    }
    expect(waits).toEqual([5, 10, 20]);
    expect(queue.retries('k')).toBe(3);
    expect(metrics.errors).toEqual(['backoff', 'backoff', 'backoff']);
    fake.finish('success');
    await pool.stop();
  });

  it('immediate failures requeue at once without backoff growth, then back off after the streak cap', async () => {
    const { clock, queue, fake, metrics, pool } = setup({ maxImmediateRetries: 2 });
    queue.add('k');
    await flush();
    for (let i = 0; i < 2; i++) {
      fake.finish('immediate');
      await flush();
      expect(fake.pendingKeys()).toEqual(['k']); // back without the clock moving
    }
    expect(queue.retries('k')).toBe(0);
    fake.finish('immediate'); // third in a row: backs off
    await flush();
    expect(fake.calls).toHaveLength(0);
    clock.advance(5);
    await flush();
    expect(fake.pendingKeys()).toEqual(['k']);
    fake.finish('success'); // closes the streak
    queue.add('k');
    await flush();
    fake.finish('immediate');
    await flush();
    expect(fake.pendingKeys()).toEqual(['k']);
    fake.finish('success');
    await flush();
    expect(metrics.outcomes).toEqual(['requeue', 'requeue', 'error', 'success', 'requeue', 'success']);
    expect(metrics.errors).toEqual(['backoff']);
    await pool.stop();
  });

  it('terminal failures are reported and not retried', async () => {
    const { clock, queue, fake, terminal, metrics, pool } = setup();
    queue.addRateLimited('k');
    clock.advance(5);
    await flush();
    fake.finish('terminal');
    await flush();
    clock.advance(10_000_000);
    await flush();
    expect(fake.calls).toHaveLength(0);
    expect(terminal).toEqual(['k']);
    expect(queue.retries('k')).toBe(0);
    expect(metrics.errors).toEqual(['terminal']);
    await pool.stop();
  });

  it('survives synchronous throws, non-Error rejections and throwing callbacks', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue<string>({ clock, rateLimiter: new ExponentialFailureRateLimiter() });
    const seen: string[] = [];
    const pool = new WorkerPool({
      queue,
      clock,
      concurrency: 2,
      reconcile: (key: string) => {
        seen.push(key);
        if (key === 'sync') throw new Error('sync boom');
        if (key === 'value') return Promise.reject('a bare string'); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
        return undefined;
      },
      classify: (error) => {
        if (error instanceof Error && error.message === 'sync boom') throw new Error('classify boom');
        return 'terminal';
      },
      onError: () => {
        throw new Error('onError boom');
      },
      onTerminal: () => {
        throw new Error('onTerminal boom');
      },
    });
    const running = pool.start();
    queue.add('sync');
    queue.add('value');
    queue.add('fine');
    await flush();
    expect(seen).toEqual(['sync', 'value', 'fine']);
    clock.advance(5); // 'sync' was classified as backoff (classify threw): back in 5 ms
    await flush();
    expect(seen).toEqual(['sync', 'value', 'fine', 'sync']);
    expect(queue.retries('sync')).toBe(2); // failed again on the retry
    clock.advance(1_000_000);
    await flush();
    expect(seen.filter((k) => k === 'value')).toEqual(['value']); // terminal: never retried
    expect(await pool.stop()).toBe(true);
    await running;
  });

  it('stop drains in-flight reconciles, takes no new work, and times out on a hung one', async () => {
    const { queue, fake, pool, clock, running } = setup({ concurrency: 2 });
    queue.add('a');
    queue.add('b');
    queue.add('c');
    await flush();
    expect(fake.pendingKeys()).toEqual(['a', 'b']);
    const stopped = pool.stop({ timeoutMs: 1000 });
    await flush();
    fake.finish('success', 'a');
    await flush();
    expect(fake.pendingKeys()).toEqual(['b']); // 'c' was not started
    const hung = fake.calls[0]!;
    expect(hung.signal.aborted).toBe(false);
    clock.advance(1000);
    expect(await stopped).toBe(false);
    expect(hung.signal.aborted).toBe(true);
    await running; // start() settles even though a reconcile hangs
  });

  it('stops when the start signal aborts', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const pool = new WorkerPool({ queue, clock, classify, reconcile: () => undefined });
    const abort = new AbortController();
    const running = pool.start(abort.signal);
    abort.abort();
    await running;
    expect(queue.shuttingDown).toBe(true);
    expect(() => pool.start()).toThrow();
  });
});
