import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import type { HealthStatus } from './types.ts';
import { SensorHealthWatchdog, assessHealth } from './watchdog.ts';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('SensorHealthWatchdog', () => {
  it('is stale exactly when nothing arrived for staleAfter, and error whenever the failure count reaches errorAfter', () => {
    type Step = { kind: 'wait'; ms: number } | { kind: 'sample' } | { kind: 'errors'; n: number };
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 300 }) }),
      fc.constant({ kind: 'sample' as const }),
      fc.record({ kind: fc.constant('errors' as const), n: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 3 }), fc.array(stepArb, { maxLength: 50 }), (staleAfterMs, errorAfter, steps) => {
        const clock = new ManualClock({ monotonicMs: 50 });
        let errors = 0;
        const watchdog = new SensorHealthWatchdog({ staleAfterMs, errorAfter, clock, errorCount: () => errors });
        let lastSeen = 50;
        for (const step of steps) {
          if (step.kind === 'wait') clock.advance(step.ms);
          else if (step.kind === 'sample') {
            watchdog.observe();
            lastSeen = clock.monotonic();
          } else errors = step.n;
          const status = watchdog.check();
          const expected = errors >= errorAfter ? 'error' : clock.monotonic() - lastSeen >= staleAfterMs ? 'stale' : 'ok';
          expect(status.status).toBe(expected);
          expect(status.errorCount).toBe(errors);
          expect(status.message === '').toBe(expected === 'ok');
        }
      }),
    );
  });

  it('reports on its own timer, so silence turns into stale without any trigger', async () => {
    const clock = new ManualClock({ wallMs: 1_000 });
    const reports: HealthStatus[] = [];
    const watchdog = new SensorHealthWatchdog({ staleAfterMs: 100, checkIntervalMs: 50, clock, report: (s) => reports.push(s), group: 'g' });
    const abort = new AbortController();
    const running = watchdog.run(abort.signal);
    await flush();
    watchdog.observe({ value: 1 });
    for (let i = 0; i < 4; i++) {
      clock.advance(50);
      await flush();
    }
    abort.abort();
    await running;
    expect(reports.map((r) => r.status)).toEqual(['ok', 'ok', 'stale', 'stale', 'stale']);
    expect(reports[2]).toEqual({ status: 'stale', message: 'no sample for 100 ms (stale after 100 ms)', observedAtMs: 1_100, errorCount: 0, lastSampleAtMs: 1_000 });
    expect(watchdog.transitions).toBe(1);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('explains itself and prefers error over stale', () => {
    const base = { nowMs: 1000, lastSeenMs: 0, sawSample: false, staleAfterMs: 10, errorAfter: 2 };
    expect(assessHealth({ ...base, errorCount: 1 })).toEqual({ status: 'stale', message: 'no sample since start for 1000 ms (stale after 10 ms)' });
    expect(assessHealth({ ...base, errorCount: 2 })).toEqual({ status: 'error', message: 'source failing: 2 consecutive failure(s)' });
    expect(() => new SensorHealthWatchdog({ staleAfterMs: 0 })).toThrow(RangeError);
  });
});
