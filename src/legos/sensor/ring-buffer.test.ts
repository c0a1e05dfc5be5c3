import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedRingBuffer, type OverflowPolicy } from './ring-buffer.ts';

type Op = { kind: 'push'; value: number } | { kind: 'pop' } | { kind: 'drain' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.integer().map((value) => ({ kind: 'push' as const, value })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'pop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drain' as const }) },
);

/** The obvious array model of each overflow policy. */
function modelPush(model: number[], capacity: number, policy: OverflowPolicy, value: number): { held: boolean; dropped: number; rejected: number } {
  if (model.length < capacity) {
    model.push(value);
    return { held: true, dropped: 0, rejected: 0 };
  }
  if (policy === 'reject') return { held: false, dropped: 0, rejected: 1 };
  if (policy === 'dropNewest') return { held: false, dropped: 1, rejected: 0 };
  if (policy === 'latest') {
    const dropped = model.length;
    model.splice(0, model.length, value);
    return { held: true, dropped, rejected: 0 };
  }
  model.shift();
  model.push(value);
  return { held: true, dropped: 1, rejected: 0 };
}

describe('BoundedRingBuffer', () => {
  it('behaves like an array model for every overflow policy, and its counters add up', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom<OverflowPolicy>('dropOldest', 'dropNewest', 'reject', 'latest'),
        fc.array(opArb, { maxLength: 200 }),
        (capacity, overflow, ops) => {
          const buffer = new BoundedRingBuffer<number>({ capacity, overflow });
          const model: number[] = [];
          let dropped = 0;
          let rejected = 0;
          let taken = 0;
          for (const op of ops) {
            if (op.kind === 'push') {
              const expected = modelPush(model, capacity, overflow, op.value);
              expect(buffer.push(op.value)).toBe(expected.held);
              dropped += expected.dropped;
              rejected += expected.rejected;
            } else if (op.kind === 'pop') {
              const value = model.shift();
              if (value !== undefined) taken++;
              expect(buffer.pop()).toBe(value);
            } else {
              taken += model.length;
              expect(buffer.drain()).toEqual(model.splice(0));
            }
            expect(buffer.toArray()).toEqual(model);
            expect(buffer.size).toBeLessThanOrEqual(capacity);
            expect(buffer.peek()).toBe(model[0]);
            expect(buffer.dropped).toBe(dropped);
            expect(buffer.rejected).toBe(rejected);
            expect(buffer.pushed).toBe(buffer.size + buffer.taken + buffer.dropped + buffer.rejected);
            expect(buffer.taken).toBe(taken);
          }
          if (overflow !== 'reject') expect(buffer.rejected).toBe(0);
        },
      ),
    );
  });

  it('keeps only the newest item when a latest-mode buffer overflows', () => {
    const buffer = new BoundedRingBuffer<number>({ capacity: 3, overflow: 'latest' });
    for (const v of [1, 2, 3, 4]) buffer.push(v);
    expect(buffer.toArray()).toEqual([4]);
    expect(buffer.dropped).toBe(3);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new BoundedRingBuffer({ capacity: 0 })).toThrow(RangeError);
    expect(() => new BoundedRingBuffer({ capacity: 1.5 })).toThrow(RangeError);
  });
});
