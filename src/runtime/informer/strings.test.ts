import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StringTable } from './strings.ts';

describe('StringTable', () => {
  it('returns an equal string, never holds more than its capacity, and counts clearings', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 200 }), fc.integer({ min: 1, max: 16 }), (values, capacity) => {
        const table = new StringTable({ capacity });
        for (const v of values) {
          expect(table.intern(v)).toBe(v);
          expect(table.size).toBeLessThanOrEqual(capacity);
        }
        expect(table.clearings).toBeLessThanOrEqual(values.length);
      }),
    );
  });

  it('hands out the first copy it kept for an equal string (shared, not a new copy)', () => {
    const table = new StringTable();
    const first = (JSON.parse('["DeploymentPaused"]') as string[])[0] ?? '';
    const second = (JSON.parse('["DeploymentPaused"]') as string[])[0] ?? '';
    table.intern(first);
    const values = table.internValues({ a: second, b: 'x' });
    expect(values).toEqual({ a: 'DeploymentPaused', b: 'x' });
    expect(table.size).toBe(2);
    expect(table.internValues(undefined)).toBeUndefined();
  });

  it('leaves strings longer than maxLength out of the table', () => {
    const table = new StringTable({ maxLength: 4 });
    expect(table.intern('abcdef')).toBe('abcdef');
    expect(table.size).toBe(0);
    table.intern('abc');
    expect(table.size).toBe(1);
  });

  it('empties itself when full and keeps sharing what comes next', () => {
    const table = new StringTable({ capacity: 2 });
    table.intern('a');
    table.intern('b');
    table.intern('c');
    expect(table.clearings).toBe(1);
    expect(table.size).toBe(1);
  });
});
