import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonEqual, setCondition, type ConditionInput } from './conditions.ts';

const input = fc.record<ConditionInput>({
  type: fc.constantFrom('Ready', 'Progressing', 'Degraded'),
  status: fc.constantFrom('True', 'False', 'Unknown'),
  reason: fc.constantFrom('Ok', 'InvalidSpec', 'Waiting'),
  message: fc.string({ maxLength: 8 }),
});

describe('setCondition', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 30 }), (inputs) => {
        let list = setCondition(undefined, inputs[0] as ConditionInput, { now: 't0', generation: 1 });
        inputs.slice(1).forEach((next, i) => {
          const before = list.find((c) => c.type === next.type);
          list = setCondition(list, next, { now: `t${i + 1}`, generation: i + 2 });
          const after = list.find((c) => c.type === next.type);
          expect(after?.status).toBe(next.status);
          expect(after?.observedGeneration).toBe(i + 2);
          if (before && before.status === next.status) expect(after?.lastTransitionTime).toBe(before.lastTransitionTime);
          else expect(after?.lastTransitionTime).toBe(`t${i + 1}`);
        });
        expect(new Set(list.map((c) => c.type)).size).toBe(list.length);
      }),
    );
  });

  it('is idempotent: setting the same input twice changes nothing', () => {
    fc.assert(
      fc.property(input, (c) => {
        const once = setCondition([], c, { now: 'a', generation: 3 });
        const twice = setCondition(once, c, { now: 'b', generation: 3 });
        expect(jsonEqual(once, twice)).toBe(true);
      }),
    );
  });
});

describe('jsonEqual', () => {
  it('agrees with canonical JSON comparison', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const canon = (v: unknown): string =>
          JSON.stringify(v, (_k, x: unknown) =>
            x !== null && typeof x === 'object' && !Array.isArray(x)
              ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)))
              : x,
          );
        expect(jsonEqual(a, b)).toBe(canon(a) === canon(b));
        expect(jsonEqual(a, structuredClone(a))).toBe(true);
      }),
    );
  });
});
