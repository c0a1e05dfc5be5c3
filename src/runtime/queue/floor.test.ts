import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateFloor } from './floor.ts';

/** Runs events (key, time) through a floor; returns each key's wake-up times and, per event, the wake-up that covers it. */
function simulate(floor: RateFloor, events: readonly { key: string; at: number }[]) {
  const wakeups = new Map<string, number[]>();
  const covered: { key: string; at: number; wake: number | undefined }[] = [];
  for (const { key, at } of events) {
    const verdict = floor.offer(key, at);
    const list = wakeups.get(key) ?? [];
    wakeups.set(key, list);
    if (verdict.kind === 'now') list.push(at);
    else if (verdict.kind === 'later') list.push(at + verdict.delayMs);
    covered.push({ key, at, wake: undefined });
  }
  // The wake-up covering an event: the first one at or after it.
  for (const c of covered) c.wake = (wakeups.get(c.key) ?? []).find((w) => w >= c.at);
  return { wakeups, covered };
}

const eventsArb = fc
  .array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), gap: fc.integer({ min: 0, max: 1500 }) }), { maxLength: 200 })
  .map((steps) => {
    let t = 0;
    return steps.map(({ key, gap }) => ({ key, at: (t += gap) }));
  });

describe('RateFloor', () => {
  it('spaces wake-ups by the interval, loses no event, and delays none by more than the interval', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 2000 }), (events, m) => {
        const { wakeups, covered } = simulate(new RateFloor({ minIntervalMs: m }), events);
        for (const list of wakeups.values()) {
          for (let i = 1; i < list.length; i++) expect(list[i]! - list[i - 1]!).toBeGreaterThanOrEqual(m);
        }
        for (const c of covered) {
          expect(c.wake).toBeDefined();
          expect(c.wake! - c.at).toBeLessThanOrEqual(m);
        }
      }),
    );
  });

  it('lets an event through at once after a quiet interval, and never wakes more often than events come', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 2000 }), (events, m) => {
        const floor = new RateFloor({ minIntervalMs: m });
        const last = new Map<string, number>();
        for (const { key, at } of events) {
          const before = last.get(key);
          const verdict = floor.offer(key, at);
          if (before === undefined || at - before >= m) expect(verdict).toEqual({ kind: 'now' });
          if (verdict.kind === 'now') last.set(key, at);
          if (verdict.kind === 'later') last.set(key, at + verdict.delayMs);
        }
        const { wakeups } = simulate(new RateFloor({ minIntervalMs: m }), events);
        const count = [...wakeups.values()].reduce((n, l) => n + l.length, 0);
        expect(count).toBeLessThanOrEqual(events.length);
      }),
    );
  });

  it('folds a burst into one wake-up at the end of the interval', () => {
    const floor = new RateFloor({ minIntervalMs: 1000 });
    expect(floor.offer('f', 0)).toEqual({ kind: 'now' });
    expect(floor.offer('f', 10)).toEqual({ kind: 'later', delayMs: 990 });
    for (let t = 20; t < 1000; t += 10) expect(floor.offer('f', t)).toEqual({ kind: 'folded' });
    expect(floor.offer('f', 1000)).toEqual({ kind: 'later', delayMs: 1000 });
    expect(floor.offer('g', 500)).toEqual({ kind: 'now' });
    expect(floor.offer('f', 5000)).toEqual({ kind: 'now' });
  });

  it('with interval 0 lets everything through; past maxKeys it sweeps old keys, then fails open', () => {
    const open = new RateFloor({ minIntervalMs: 0 });
    expect([open.offer('a', 0), open.offer('a', 0)]).toEqual([{ kind: 'now' }, { kind: 'now' }]);
    const small = new RateFloor({ minIntervalMs: 100, maxKeys: 2 });
    small.offer('a', 0);
    small.offer('b', 0);
    expect(small.offer('c', 50)).toEqual({ kind: 'now' });
    expect(small.overflowed).toBe(1);
    expect(small.size).toBe(2);
    expect(small.offer('c', 150)).toEqual({ kind: 'now' }); // a and b are swept
    expect(small.overflowed).toBe(1);
    expect(small.size).toBe(1);
    expect(() => new RateFloor({ minIntervalMs: -1 })).toThrow(RangeError);
  });
});
