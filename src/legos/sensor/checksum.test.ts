import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xorChecksum } from './checksum.ts';

describe('xorChecksum', () => {
  it('matches a known NMEA sentence checksum', () => {
    // $GPGLL,5057.970,N,00146.110,E,142451,A*27
    expect(xorChecksum(new TextEncoder().encode('GPGLL,5057.970,N,00146.110,E,142451,A'))).toBe(0x27);
    expect(xorChecksum([])).toBe(0);
    expect(xorChecksum([0x1ff])).toBe(0xff);
  });

  it('composes over concatenation, and a frame with its checksum appended XORs to 0', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(xorChecksum([...a, ...b])).toBe(xorChecksum(a) ^ xorChecksum(b));
        expect(xorChecksum([...a, xorChecksum(a)])).toBe(0);
        expect(xorChecksum(a)).toBeGreaterThanOrEqual(0);
        expect(xorChecksum(a)).toBeLessThanOrEqual(255);
      }),
    );
  });

  it('detects every single-bit error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (data, at, bit) => {
        const corrupted = Uint8Array.from(data);
        const i = at % data.length;
        corrupted[i] = (corrupted[i] as number) ^ (1 << bit);
        expect(xorChecksum(corrupted)).not.toBe(xorChecksum(data));
      }),
    );
  });
});
