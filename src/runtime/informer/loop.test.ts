import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_WATCH_FAILURE_MS, initialLoopState, listDue, stepLoop, watchBudgetSeconds, type LoopEvent } from './loop.ts';

const event: fc.Arbitrary<LoopEvent> = fc.oneof(
  fc.record({ type: fc.constant('listed' as const), at: fc.nat({ max: 1e9 }), relistPeriodMs: fc.constantFrom(0, 1000, 1_800_000), jitter: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }),
  fc.record({ type: fc.constant('watchEnded' as const), delivered: fc.nat({ max: 3 }), durationMs: fc.nat({ max: 5000 }) }),
  fc.constant({ type: 'expired' as const }),
  fc.constant({ type: 'failed' as const }),
);

describe('the informer loop', () => {
  it('starts by listing, and leaves the list phase only by a successful list', () => {
    expect(listDue(initialLoopState, 0, 0)).toBe(true);
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        let state = initialLoopState;
        for (const e of events) {
          const next = stepLoop(state, e);
          if (state.phase === 'list' && next.phase === 'watch') expect(e.type).toBe('listed');
          if (e.type === 'expired') expect(next.phase).toBe('list');
          expect(next.failures).toBeGreaterThanOrEqual(0);
          state = next;
        }
      }),
    );
  });

  it('counts failures in a row: errors and empty instant watches add one, a list or a real watch clears them, Gone caps them at one', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        let state = initialLoopState;
        for (const e of events) {
          const next = stepLoop(state, e);
          const expected =
            e.type === 'listed' ? 0
            : e.type === 'failed' ? state.failures + 1
            : e.type === 'expired' ? Math.min(state.failures, 1)
            : e.delivered === 0 && e.durationMs < EMPTY_WATCH_FAILURE_MS ? state.failures + 1 : 0;
          expect(next.failures).toBe(expected);
          state = next;
        }
      }),
    );
  });

  it('schedules the relist within ±10 % of the period and sizes the watch to end by then', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1e9 }), fc.integer({ min: 1000, max: 3_600_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (at, period, jitter) => {
        const state = stepLoop(initialLoopState, { type: 'listed', at, relistPeriodMs: period, jitter });
        expect(state.relistAt - at).toBeGreaterThanOrEqual(period * 0.9 - 1e-6);
        expect(state.relistAt - at).toBeLessThan(period * 1.1 + 1e-6);
        expect(listDue(state, at, period)).toBe(false);
        expect(listDue(state, state.relistAt, period)).toBe(true);
        expect(listDue(state, state.relistAt, 0)).toBe(false);
        expect(watchBudgetSeconds(state, at, period)).toBe(Math.max(1, Math.floor((state.relistAt - at) / 1000)));
        expect(watchBudgetSeconds(state, at, 0)).toBe(Infinity);
      }),
    );
  });
});
