import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedEpochError, parsePublishedEpoch } from './fence.ts';

describe('parsePublishedEpoch', () => {
  it('reads absent as 0 and decimal integers as themselves', () => {
    expect(parsePublishedEpoch(undefined, 'ns')).toBe(0);
    fc.assert(
      fc.property(fc.nat({ max: 999_999_999_999_999 }), (n) => {
        expect(parsePublishedEpoch(` ${n}\n`, 'ns')).toBe(n);
      }),
    );
  });

  it('refuses anything else with an error naming the ConfigMap and the value (never 0, which would let any epoch win)', () => {
    for (const raw of ['', 'not-a-number', '-1', '1.5', '1e3', '0x10', '9'.repeat(16)]) {
      const error = (() => {
        try {
          parsePublishedEpoch(raw, 'manyfold-system');
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error, raw).toBeInstanceOf(MalformedEpochError);
      expect((error as MalformedEpochError).message).toContain('manyfold-system/manyfold-fencing');
      expect((error as MalformedEpochError).value).toBe(raw.slice(0, 64));
    }
  });
});
