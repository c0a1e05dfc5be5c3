import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DelayHeap, Fifo } from './structures.ts';

describe('DelayHeap', () => {
  it('pops in (readyAt, seq) order, one entry per key, earliest schedule winning', () => {
    const schedules = fc.array(fc.record({ key: fc.integer({ min: 0, max: 30 }), readyAt: fc.integer({ min: 0, max: 20 }) }), { maxLength: 200, size: 'max' });
    fc.assert(
      fc.property(schedules, fc.array(fc.nat(200), { maxLength: 20 }), (items, popAfter) => {
        const heap = new DelayHeap<number>();
        const model = new Map<number, { readyAt: number; seq: number }>();
        const popPoints = new Set(popAfter);
        const popped: number[] = [];
        const expected: number[] = [];
        const popOne = (): void => {
          const first = [...model].sort(([, a], [, b]) => a.readyAt - b.readyAt || a.seq - b.seq)[0];
          if (first !== undefined) {
            model.delete(first[0]);
            expected.push(first[0]);
          }
          const entry = heap.pop();
          if (entry !== undefined) popped.push(entry.key);
        };
        items.forEach(({ key, readyAt }, seq) => {
          const existing = model.get(key);
          const changed = existing === undefined || readyAt < existing.readyAt;
          if (changed) model.set(key, { readyAt, seq });
          expect(heap.schedule(key, readyAt, seq)).toBe(changed);
          expect(heap.size).toBe(model.size);
          if (popPoints.has(seq)) popOne();
        });
        while (model.size > 0) popOne();
        expect(heap.pop()).toBeUndefined();
        expect(popped).toEqual(expected);
      }),
    );
  });
});

describe('Fifo', () => {
  it('behaves as an array queue across compactions', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(), fc.constant(-1)), { maxLength: 5000, size: 'max' }), (ops) => {
        const fifo = new Fifo<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === -1) expect(fifo.shift()).toBe(model.shift());
          else {
            fifo.push(op);
            model.push(op);
          }
          expect(fifo.length).toBe(model.length);
        }
      }),
      { numRuns: 30 },
    );
  });
});
