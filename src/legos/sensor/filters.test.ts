import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChangeFilter, ThresholdFilter, changedEnough, deepEqual } from './filters.ts';

// Small integers make a change exactly equal to the threshold likely (it must not pass).
const finite = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -5, max: 5 }));
const thresholdArb = fc.oneof(fc.double({ min: 0, max: 1000, noNaN: true }), fc.integer({ min: 0, max: 3 }));

describe('ThresholdFilter on numbers', () => {
  it('passes the first value, then exactly the values farther than the threshold from the last passed one', () => {
    fc.assert(
      fc.property(thresholdArb, fc.array(finite, { minLength: 1, maxLength: 60 }), (threshold, values) => {
        const filter = new ThresholdFilter<number>({ threshold });
        const passed: number[] = [];
        for (const value of values) {
          const last = passed.at(-1);
          const shouldPass = last === undefined || Math.abs(value - last) > threshold;
          expect(filter.accepts(value)).toBe(shouldPass);
          if (shouldPass) passed.push(value);
        }
        expect(passed[0]).toBe(values[0]);
        for (let i = 1; i < passed.length; i++) expect(Math.abs((passed[i] as number) - (passed[i - 1] as number))).toBeGreaterThan(threshold);
        expect(filter.passed + filter.suppressed).toBe(values.length);
      }),
    );
  });

  it('suppresses a change exactly equal to the threshold', () => {
    const filter = new ThresholdFilter<number>({ threshold: 1 });
    expect([0, 1, -1, 1.000001].map((v) => filter.accepts(v))).toEqual([true, false, false, true]);
  });

  it('lets a slow drift through once it has accumulated beyond the threshold', () => {
    const filter = new ThresholdFilter<number>({ threshold: 1 });
    expect([0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4].map((v) => filter.accepts(v))).toEqual([true, false, false, true, false, false, true]);
  });

  it('treats NaN and infinities as documented', () => {
    const filter = new ThresholdFilter<number>({ threshold: 5 });
    expect([1, Number.NaN, Number.NaN, 2, Infinity, Infinity, -Infinity].map((v) => filter.accepts(v))).toEqual([true, true, false, true, true, false, true]);
    expect(() => new ThresholdFilter({ threshold: -1 })).toThrow(RangeError);
    expect(() => new ThresholdFilter({ threshold: Number.NaN })).toThrow(RangeError);
  });
});

describe('ThresholdFilter on lists and maps', () => {
  it('passes a list when its length changed or any member moved more than the threshold', () => {
    fc.assert(
      fc.property(thresholdArb, fc.array(fc.array(finite, { maxLength: 3 }), { minLength: 1, maxLength: 40 }), (threshold, values) => {
        const filter = new ThresholdFilter<number[]>({ threshold });
        let last: number[] | undefined;
        for (const value of values) {
          const shouldPass = last === undefined || last.length !== value.length || value.some((v, i) => Math.abs(v - (last as number[])[i]!) > threshold);
          expect(filter.accepts(value)).toBe(shouldPass);
          if (shouldPass) last = value;
        }
      }),
    );
  });

  it('passes a map when its key set changed or any member moved more than the threshold', () => {
    const mapArb = fc.dictionary(fc.constantFrom('x', 'y', 'z'), finite, { maxKeys: 3 });
    fc.assert(
      fc.property(thresholdArb, fc.array(mapArb, { minLength: 1, maxLength: 40 }), (threshold, values) => {
        const filter = new ThresholdFilter<Record<string, number>>({ threshold });
        let last: Record<string, number> | undefined;
        for (const value of values) {
          const keys = Object.keys(value).sort().join();
          const shouldPass =
            last === undefined ||
            keys !== Object.keys(last).sort().join() ||
            Object.entries(value).some(([k, v]) => Math.abs(v - (last as Record<string, number>)[k]!) > threshold);
          expect(filter.accepts(value)).toBe(shouldPass);
          if (shouldPass) last = value;
        }
      }),
    );
  });

  it('compares non-numbers by inequality and uses the key function', () => {
    const filter = new ThresholdFilter<{ state: string; t: number }>({ threshold: 10, key: (v) => v.state });
    expect(['on', 'on', 'off', 'off', 'on'].map((state, t) => filter.accepts({ state, t }))).toEqual([true, false, true, false, true]);
    expect(changedEnough({ a: [1, 'x'] }, { a: [1, 'y'] }, 100)).toBe(true);
    expect(changedEnough({ a: [1, 'x'] }, { a: [50, 'x'] }, 100)).toBe(false);
    expect(changedEnough([1], { 0: 1 }, 100)).toBe(true);
    expect(changedEnough(null, 0, 100)).toBe(true);
  });
});

describe('ChangeFilter', () => {
  const valueArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'b'), fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 2 }));

  it('passes exactly the values structurally different from the last passed one', () => {
    fc.assert(
      fc.property(fc.array(valueArb, { minLength: 1, maxLength: 60 }), (values) => {
        const filter = new ChangeFilter<unknown>();
        const passed: unknown[] = [];
        for (const value of values) {
          const shouldPass = passed.length === 0 || JSON.stringify(passed.at(-1)) !== JSON.stringify(value);
          expect(filter.accepts(value)).toBe(shouldPass);
          if (shouldPass) passed.push(value);
        }
        for (let i = 1; i < passed.length; i++) expect(deepEqual(passed[i], passed[i - 1])).toBe(false);
        expect(filter.passed).toBe(passed.length);
      }),
    );
  });

  it('compares by key and passes again after reset', () => {
    const filter = new ChangeFilter<{ id: number; v: number }>({ key: (s) => s.v });
    expect(filter.accepts({ id: 1, v: 5 })).toBe(true);
    expect(filter.accepts({ id: 2, v: 5 })).toBe(false);
    filter.reset();
    expect(filter.accepts({ id: 3, v: 5 })).toBe(true);
    expect(filter.suppressed).toBe(1);
  });

  it('treats values nested deeper than the walk limit as changed', () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);
    expect(deepEqual(deep(10), deep(10))).toBe(true);
    expect(deepEqual(deep(100), deep(100))).toBe(false);
  });
});
