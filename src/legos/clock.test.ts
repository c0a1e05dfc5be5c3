import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, SystemClock } from './clock.ts';

describe('ManualClock', () => {
  it('wakes sleepers in deadline order and only when due', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 1500 }), async (delays, step) => {
        const clock = new ManualClock();
        const woke: number[] = [];
        const sleeps = delays.map((d, i) => clock.sleep(d).then(() => woke.push(i)));
        clock.advance(step);
        await Promise.resolve();
        await new Promise((r) => setImmediate(r));
        const due = delays.map((d, i) => ({ d, i })).filter((x) => x.d <= step).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.i);
        expect(woke).toEqual(due);
        expect(clock.pendingSleeps).toBe(delays.length - due.length);
        clock.advance(1000);
        await Promise.all(sleeps);
      }),
    );
  });

  it('steps wall time without moving monotonic time', () => {
    const clock = new ManualClock({ wallMs: 1000, monotonicMs: 5 });
    clock.set(0);
    expect(clock.now()).toBe(0);
    expect(clock.monotonic()).toBe(5);
    clock.advance(10);
    expect(clock.now()).toBe(10);
    expect(clock.monotonic()).toBe(15);
  });

  it('rejects a sleep when its signal aborts', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const sleeping = clock.sleep(100, abort.signal);
    abort.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    expect(clock.pendingSleeps).toBe(0);
  });
});

describe('SystemClock', () => {
  it('sleeps at least the requested time', async () => {
    const start = SystemClock.monotonic();
    await SystemClock.sleep(20);
    expect(SystemClock.monotonic() - start).toBeGreaterThanOrEqual(19);
  });
});
