import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { RateMatchedSensor } from './rate-matched.ts';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('RateMatchedSensor', () => {
  it('fifo: a burst into a small queue keeps the newest items and releases one per demand', () => {
    const emitted: number[] = [];
    const sensor = new RateMatchedSensor<number>({ mode: 'fifo', capacity: 2, emit: (v) => void emitted.push(v) });
    for (const v of [1, 2, 3]) sensor.offer(v);
    expect(sensor.demand()).toBe(true);
    expect(sensor.demand()).toBe(true);
    expect(sensor.demand()).toBe(false);
    expect(emitted).toEqual([2, 3]);
    expect([sensor.dropped, sensor.idleDemands]).toEqual([1, 1]);
  });

  it('latest: each demand releases the newest item offered since the last release', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant('demand' as const)), { maxLength: 100 }), (steps) => {
        const emitted: number[] = [];
        const sensor = new RateMatchedSensor<number>({ emit: (v) => void emitted.push(v) });
        let waiting: number | undefined;
        const expected: number[] = [];
        for (const step of steps) {
          if (step === 'demand') {
            expect(sensor.demand()).toBe(waiting !== undefined);
            if (waiting !== undefined) expected.push(waiting);
            waiting = undefined;
          } else {
            sensor.offer(step);
            waiting = step;
          }
          expect(sensor.waiting).toBeLessThanOrEqual(1);
        }
        expect(emitted).toEqual(expected);
        expect(sensor.offered).toBe(sensor.released + sensor.dropped + sensor.waiting);
      }),
    );
  });

  it('fifo: releases in arrival order and accounts for every offered item', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 100 }), (capacity, steps) => {
        const emitted: number[] = [];
        const sensor = new RateMatchedSensor<number>({ mode: 'fifo', capacity, emit: (v) => void emitted.push(v) });
        let n = 0;
        for (const isOffer of steps) {
          if (isOffer) sensor.offer(n++);
          else sensor.demand();
          expect(sensor.waiting).toBeLessThanOrEqual(capacity);
        }
        expect(emitted).toEqual([...emitted].sort((a, b) => a - b));
        expect(sensor.offered).toBe(n);
        expect(n).toBe(sensor.released + sensor.dropped + sensor.waiting);
      }),
    );
  });

  it('releases at a fixed rate on the clock and reports emit failures', async () => {
    const clock = new ManualClock();
    const emitted: number[] = [];
    const errors: unknown[] = [];
    const sensor = new RateMatchedSensor<number>({
      mode: 'fifo',
      releaseIntervalMs: 100,
      clock,
      emit: (v) => {
        if (v === 2) throw new Error('sink down');
        emitted.push(v);
      },
      onError: (e) => errors.push(e),
    });
    for (const v of [1, 2, 3, 4]) sensor.offer(v);
    const abort = new AbortController();
    const running = sensor.run(abort.signal);
    await flush();
    expect(emitted).toEqual([]);
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      await flush();
    }
    expect(emitted).toEqual([1, 3]);
    expect(errors).toHaveLength(1);
    expect(sensor.emitFailures).toBe(1);
    abort.abort();
    await running;
    expect(sensor.waiting).toBe(1);
  });

  it('validates its options', async () => {
    expect(() => new RateMatchedSensor({ mode: 'fifo', capacity: 0, emit: () => undefined })).toThrow(RangeError);
    await expect(new RateMatchedSensor({ emit: () => undefined }).run(new AbortController().signal)).rejects.toThrow('releaseIntervalMs');
  });
});
