import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { runOnInterval } from './schedule.ts';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('runOnInterval', () => {
  it('keeps ticks on the grid origin + k × interval whatever each tick costs, skipping overrun due times', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 15 }), async (intervalMs, costs) => {
        const clock = new ManualClock({ monotonicMs: 1000 });
        const abort = new AbortController();
        const ticks: { index: number; at: number; due: number }[] = [];
        let missed = 0;
        const done = runOnInterval({
          clock,
          intervalMs,
          signal: abort.signal,
          onMissed: (n) => (missed += n),
          tick: async ({ index, dueAtMs }) => {
            ticks.push({ index, at: clock.monotonic(), due: dueAtMs });
            const cost = costs[ticks.length - 1] ?? 0;
            if (cost > 0) await clock.sleep(cost);
            if (ticks.length === costs.length) abort.abort();
          },
        });
        // Drive time 1 ms at a time until the loop stops (bounded).
        for (let step = 0; step < 10_000 && !abort.signal.aborted; step++) {
          await flush();
          if (!abort.signal.aborted) clock.advance(1);
        }
        await done;
        expect(ticks).toHaveLength(costs.length);
        for (const [i, tick] of ticks.entries()) {
          expect(tick.due).toBe(1000 + tick.index * intervalMs);
          expect(tick.at).toBe(tick.due); // never late: ManualClock wakes exactly on time
          if (i === 0) continue;
          const previous = ticks[i - 1]!;
          const finished = previous.at + (costs[i - 1] ?? 0);
          // The first due time not before the previous tick finished.
          expect(tick.index).toBe(Math.max(previous.index + 1, Math.ceil((finished - 1000) / intervalMs)));
        }
        expect(missed).toBe(ticks.at(-1)!.index - (ticks.length - 1));
      }),
      { numRuns: 50 },
    );
  });

  it('resolves promptly when aborted while waiting', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    let ticks = 0;
    const done = runOnInterval({ clock, intervalMs: 1000, signal: abort.signal, immediate: false, tick: () => void ticks++ });
    await flush();
    expect(clock.pendingSleeps).toBe(1);
    abort.abort();
    await done;
    expect(ticks).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
    await expect(runOnInterval({ clock, intervalMs: 0, signal: abort.signal, tick: () => undefined })).rejects.toThrow(RangeError);
  });
});
