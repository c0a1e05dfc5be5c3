import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.ts';

describe('BoundedMap', () => {
  it('never holds more than max, evicts the oldest write first and counts every eviction', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ op: fc.constantFrom('set', 'set', 'delete'), key: fc.integer({ min: 0, max: 12 }) }), { maxLength: 80 }),
        (max, ops) => {
          const evicted: number[] = [];
          const map = new BoundedMap<number, number>({ max, onEvict: (k) => evicted.push(k) });
          const model: number[] = []; // keys, oldest write first
          for (const [i, { op, key }] of ops.entries()) {
            const at = model.indexOf(key);
            if (at >= 0) model.splice(at, 1);
            if (op === 'delete') {
              expect(map.delete(key)).toBe(at >= 0);
              continue;
            }
            map.set(key, i);
            model.push(key);
            if (model.length > max) expect(evicted.at(-1)).toBe(model.shift());
            expect(map.get(key)).toBe(i);
          }
          expect(map.size).toBe(model.length);
          expect([...map.keys()]).toEqual(model);
          expect(map.evictions).toBe(evicted.length);
        },
      ),
    );
  });

  it('refuses a cap that is not a positive integer', () => {
    expect(() => new BoundedMap({ max: 0 })).toThrow(RangeError);
    expect(() => new BoundedMap({ max: 1.5 })).toThrow(RangeError);
  });
});
