import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../legos/clock.ts';
import type { QueueMetrics } from './metrics.ts';
import { ExponentialFailureRateLimiter } from './rate-limiter.ts';
import { MAX_DELAY_MS, WorkQueue } from './work-queue.ts';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function drainPending(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  for (let n = queue.len; n > 0; n--) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('WorkQueue delays', () => {
  it('delivers a delayed key at its earliest due time, never before, exactly once', async () => {
    const schedule = fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), ms: fc.integer({ min: 1, max: 500 }) }), { minLength: 1, maxLength: 30, size: 'max' });
    const steps = fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 12, size: 'max' });
    await fc.assert(
      fc.asyncProperty(schedule, steps, async (adds, advances) => {
        const clock = new ManualClock({ monotonicMs: 1000 });
        const queue = new WorkQueue({ clock });
        const due = new Map<string, number>();
        for (const { key, ms } of adds) {
          queue.addAfter(key, ms);
          due.set(key, Math.min(due.get(key) ?? Number.POSITIVE_INFINITY, ms));
        }
        expect(clock.pendingSleeps).toBe(1); // one sleep for the whole heap
        const delivered = new Map<string, number>();
        let elapsed = 0;
        for (const step of [...advances, 1000]) {
          clock.advance(step);
          elapsed += step;
          await flush();
          for (const key of await drainPending(queue)) {
            expect(delivered.has(key)).toBe(false);
            delivered.set(key, elapsed);
          }
          for (const [key, ms] of due) expect(delivered.has(key)).toBe(ms <= elapsed);
        }
        for (const [key, at] of delivered) expect(at).toBeGreaterThanOrEqual(due.get(key)!);
        expect(queue.delayed).toBe(0);
        expect(clock.pendingSleeps).toBe(0);
      }),
    );
  });

  it('keeps the earlier time when a key is scheduled twice, in either order', async () => {
    for (const [first, second] of [
      [100, 50],
      [50, 100],
    ] as const) {
      const clock = new ManualClock();
      const queue = new WorkQueue({ clock });
      queue.addAfter('k', first);
      queue.addAfter('k', second);
      clock.advance(49);
      await flush();
      expect(queue.len).toBe(0);
      clock.advance(1);
      await flush();
      expect(await drainPending(queue)).toEqual(['k']);
      clock.advance(100);
      await flush();
      expect(queue.len).toBe(0);
    }
  });

  it('uses one sleep for a thousand delayed keys and re-arms when an earlier key arrives', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    for (let i = 0; i < 1000; i++) queue.addAfter(`k${i}`, 1000 + i);
    expect(clock.pendingSleeps).toBe(1);
    queue.addAfter('early', 10);
    expect(clock.pendingSleeps).toBe(1);
    clock.advance(10);
    await flush();
    expect(await drainPending(queue)).toEqual(['early']);
    clock.advance(2000);
    await flush();
    expect(queue.len).toBe(1000);
  });

  it('clamps huge delays to the longest timer and still delivers them', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('far', Number.POSITIVE_INFINITY);
    clock.advance(MAX_DELAY_MS - 1);
    await flush();
    expect(queue.len).toBe(0);
    clock.advance(1);
    await flush();
    expect(queue.len).toBe(1);
  });

  it('addRateLimited backs off per key until forget()', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, rateLimiter: new ExponentialFailureRateLimiter() });
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      queue.addRateLimited('k');
      let waited = 0;
      while (queue.len === 0) {
        clock.advance(1);
        waited++;
        await flush();
      }
      waits.push(waited);
      await drainPending(queue);
    }
    expect(waits).toEqual([5, 10, 20, 40]);
    expect(queue.retries('k')).toBe(4);
    queue.forget('k');
    expect(queue.retries('k')).toBe(0);
  });
});

describe('WorkQueue dedupe and processing', () => {
  it('re-delivers a key added while it is processed only after done(), once', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.add('k');
    queue.add('k');
    expect(queue.len).toBe(1);
    const key = await queue.get();
    expect(key).toBe('k');
    queue.add('k');
    queue.add('k');
    expect(queue.len).toBe(0); // held: not handed to anyone else
    const second = queue.get();
    await flush();
    queue.done('k');
    expect(await second).toBe('k');
    queue.done('k');
    expect(queue.len).toBe(0);
    expect(queue.processing).toBe(0);
  });

  it('hands keys to parked gets in arrival order and skips aborted ones', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    const abort = new AbortController();
    const first = queue.get();
    const aborted = queue.get(abort.signal);
    const third = queue.get();
    abort.abort();
    expect(await aborted).toBeUndefined();
    queue.add('x');
    queue.add('y');
    expect([await first, await third]).toEqual(['x', 'y']);
    expect(await queue.get(AbortSignal.abort())).toBeUndefined();
  });

  it('drops adds past maxKeys and rejects gets past maxWaiters, counting both', async () => {
    const queue = new WorkQueue({ clock: new ManualClock(), maxKeys: 2, maxWaiters: 1 });
    queue.add('a');
    queue.add('b');
    queue.add('c');
    queue.addAfter('d', 10);
    queue.addAfter('e', 10);
    queue.addAfter('f', 10);
    expect(queue.len).toBe(2);
    expect(queue.delayed).toBe(2);
    expect(queue.dropped).toBe(2);
    await drainPending(queue);
    void queue.get();
    await expect(queue.get()).rejects.toThrow(RangeError);
    queue.shutDown();
  });
});

describe('WorkQueue shutdown', () => {
  it('shutDown resolves parked gets, discards pending keys and ignores new ones', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const parked = queue.get();
    queue.shutDown();
    expect(await parked).toBeUndefined();
    queue.add('a');
    queue.addAfter('b', 5);
    queue.addRateLimited('c');
    expect([queue.len, queue.delayed, clock.pendingSleeps]).toEqual([0, 0, 0]);
    expect(await queue.get()).toBeUndefined();
  });

  it('shutDownWithDrain waits for keys in flight; their re-adds are dropped', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.add('a');
    queue.add('b');
    queue.addAfter('later', 10);
    const a = await queue.get();
    let drained: boolean | undefined;
    void queue.shutDownWithDrain().then((result) => (drained = result));
    expect(queue.len).toBe(0);
    expect(queue.delayed).toBe(0);
    expect(await queue.get()).toBeUndefined();
    queue.add(a!);
    await flush();
    expect(drained).toBeUndefined();
    queue.done(a!);
    await flush();
    expect(drained).toBe(true);
    expect(queue.len).toBe(0);
  });

  it('shutDown forces a pending drain to resolve false; an aborted drain too', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.add('a');
    await queue.get();
    const abort = new AbortController();
    const aborted = queue.shutDownWithDrain(abort.signal);
    const forced = queue.shutDownWithDrain();
    abort.abort();
    expect(await aborted).toBe(false);
    queue.shutDown();
    expect(await forced).toBe(false);
    expect(await queue.shutDownWithDrain(AbortSignal.abort())).toBe(false);
    queue.done('a');
    expect(await queue.shutDownWithDrain()).toBe(true);
  });
});

describe('WorkQueue metrics', () => {
  it('reports depth, adds, retries, queue and work durations and unfinished work', async () => {
    const events: string[] = [];
    const metrics: QueueMetrics = {
      depth: (n) => events.push(`depth ${n}`),
      added: () => events.push('add'),
      retried: () => events.push('retry'),
      queued: (s) => events.push(`queued ${s}`),
      worked: (s) => events.push(`worked ${s}`),
    };
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, metrics });
    queue.add('a');
    queue.add('a'); // dedupe: not an add
    clock.advance(250);
    await queue.get();
    clock.advance(1500);
    expect(queue.unfinishedWork()).toEqual({ unfinishedSeconds: 1.5, longestRunningSeconds: 1.5 });
    queue.done('a');
    expect(queue.unfinishedWork()).toEqual({ unfinishedSeconds: 0, longestRunningSeconds: 0 });
    queue.addAfter('b', 100);
    clock.advance(100);
    await flush();
    expect(events).toEqual(['add', 'depth 1', 'queued 0.25', 'depth 0', 'worked 1.5', 'retry', 'add', 'depth 1']);
  });
});
