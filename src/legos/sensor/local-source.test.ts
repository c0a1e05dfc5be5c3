import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { BackoffPolicy, RetryPolicy } from '../retry.ts';
import { LocalSensorSource } from './local-source.ts';
import { SequenceCounter } from './sequence.ts';
import type { SensorSample } from './types.ts';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Advances the clock 1 ms at a time, letting async work run between steps. */
async function advanceBy(clock: ManualClock, ms: number): Promise<void> {
  await flush();
  for (let i = 0; i < ms; i++) {
    clock.advance(1);
    await flush();
  }
}

describe('LocalSensorSource', () => {
  it('publishes a sample with times, quality and the next sequence number', async () => {
    const clock = new ManualClock({ wallMs: 5_000 });
    const published: SensorSample<number>[] = [];
    const source = new LocalSensorSource({
      read: () => 42,
      publish: (s) => void published.push(s),
      clock,
      quality: 'good',
      sequence: new SequenceCounter({ start: 100 }),
      group: 'thermal',
    });
    await expect(source.poll()).resolves.toEqual({ value: 42, sourceTimeMs: 5_000, ingestTimeMs: 5_000, sequence: 101, quality: 'good' });
    expect(published).toHaveLength(1);
    expect(source.retryLoop.group).toBe('thermal');
    expect(source.sequence.group).toBeUndefined(); // a caller-supplied counter keeps its own label
  });

  it('takes the source time from the value when the sensor provides one', async () => {
    const source = new LocalSensorSource({ read: () => ({ t: 123, v: 1 }), publish: () => undefined, clock: new ManualClock(), sourceTime: (v) => v.t });
    expect((await source.poll()).sourceTimeMs).toBe(123);
  });

  it('retries failing reads through its retry loop', async () => {
    let calls = 0;
    const source = new LocalSensorSource({
      read: () => {
        if (++calls < 3) throw new Error('EAGAIN');
        return calls;
      },
      publish: () => undefined,
      clock: new ManualClock(),
      retry: new RetryPolicy({ maxAttempts: 3 }),
    });
    expect((await source.poll()).value).toBe(3);
    expect(source.retryLoop.retries).toBe(2);
    expect(source.consecutiveFailures).toBe(0);
  });

  it('reuses the sequence number after a failed publish and counts consecutive failures', async () => {
    let fail = true;
    const sequences: number[] = [];
    const source = new LocalSensorSource({
      read: () => 1,
      publish: (s) => {
        if (fail) throw new Error('spool full');
        sequences.push(s.sequence);
      },
      clock: new ManualClock(),
    });
    await expect(source.poll()).rejects.toThrow('spool full');
    await expect(source.poll()).rejects.toThrow('spool full');
    expect(source.consecutiveFailures).toBe(2);
    expect(source.publishFailures).toBe(2);
    fail = false;
    await source.poll();
    await source.poll();
    expect(sequences).toEqual([1, 2]);
    expect(source.consecutiveFailures).toBe(0);
  });

  it('polls on the interval grid, skips overrun ticks, keeps going after errors, and stops on abort', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const readsAt: number[] = [];
    const errors: string[] = [];
    const source = new LocalSensorSource({
      intervalMs: 100,
      clock,
      read: async () => {
        readsAt.push(clock.monotonic());
        if (readsAt.length === 2) await clock.sleep(130); // a slow read overruns one tick
        if (readsAt.length === 3) throw new Error('EIO');
        return readsAt.length;
      },
      publish: () => undefined,
      onError: (error, stage) => errors.push(`${stage}:${(error as Error).message}`),
    });
    const running = source.run(abort.signal);
    await advanceBy(clock, 450);
    abort.abort();
    await running;
    expect(readsAt).toEqual([0, 100, 300, 400]);
    expect(source.missedTicks).toBe(1);
    expect(errors).toEqual(['read:EIO']);
    expect(source.published).toBe(3);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('does not count an abort during a read as a failure', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const source = new LocalSensorSource({
      clock,
      read: ({ signal }) => clock.sleep(10_000, signal).then(() => 1),
      publish: () => undefined,
      retry: new RetryPolicy({ maxAttempts: 5 }),
      backoff: BackoffPolicy.fixed(10),
    });
    const running = source.run(abort.signal);
    await flush();
    abort.abort();
    await running;
    expect(source.readFailures).toBe(0);
    expect(source.polls).toBe(1);
  });
});
