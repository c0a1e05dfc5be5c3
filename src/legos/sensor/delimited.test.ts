import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DelimitedMessageBuffer } from './delimited.ts';

const encoder = new TextEncoder();

/** Cuts `bytes` at the given positions (any order, duplicates allowed). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Code points of every UTF-8 length (1 to 4 bytes), weighted evenly; no lone surrogates. */
const codePoint = fc
  .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0x7ff }), fc.integer({ min: 0x800, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }))
  .map((cp) => String.fromCodePoint(cp));

const delimiterArb = fc.constantFrom('\n', '\r\n', '€¶', '||', '\u{1F600}', '\u0000\u0000\u0000');

describe('DelimitedMessageBuffer', () => {
  it('yields exactly the original messages under any chunking, splits inside characters and the delimiter included', () => {
    fc.assert(
      fc.property(
        delimiterArb.chain((delimiter) =>
          fc.tuple(
            fc.constant(delimiter),
            fc.array(
              fc.string({ unit: codePoint, maxLength: 12 }).filter((m) => ![...delimiter].some((c) => m.includes(c))),
              { maxLength: 12 },
            ),
          ),
        ),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 0, max: 40 }),
        ([delimiter, messages], cuts, maxMessageBytes) => {
          const buffer = new DelimitedMessageBuffer({ delimiter, maxMessageBytes });
          const stream = encoder.encode(messages.map((m) => m + delimiter).join(''));
          const out: string[] = [];
          for (const piece of chunk(stream, cuts)) out.push(...buffer.pushText(piece));
          const fits = messages.filter((m) => encoder.encode(m).length <= maxMessageBytes);
          expect(out).toEqual(fits);
          expect(buffer.overflowed).toBe(messages.length - fits.length);
          expect(buffer.messages).toBe(fits.length);
          expect(buffer.invalidUtf8).toBe(0);
          expect(buffer.pendingBytes).toBeLessThanOrEqual(maxMessageBytes + encoder.encode(delimiter).length - 1);
          expect(buffer.end()).toBeUndefined();
        },
      ),
    );
  });

  it('splits arbitrary bytes and returns the unterminated tail at end of stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 10 }).map((m) => m.filter((b) => b !== 0xff)), { maxLength: 10 }),
        fc.uint8Array({ minLength: 1, maxLength: 10 }).map((m) => m.map((b) => (b === 0xff ? 0 : b))),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, tail, cuts) => {
          const delimiter = Uint8Array.of(0xff, 0xff);
          const buffer = new DelimitedMessageBuffer({ delimiter });
          const stream = concat([...messages.flatMap((m) => [m, delimiter]), tail]);
          const out = chunk(stream, cuts).flatMap((piece) => buffer.push(piece));
          expect(out).toEqual(messages);
          expect(buffer.end()).toEqual(tail);
          expect(buffer.pendingBytes).toBe(0);
        },
      ),
    );
  });

  it('drops an oversize message without holding its bytes, then resynchronizes', () => {
    const buffer = new DelimitedMessageBuffer({ delimiter: '\r\n', maxMessageBytes: 4 });
    expect(buffer.pushText('ok\r\n0123456789')).toEqual(['ok']);
    expect(buffer.overflowed).toBe(1);
    expect(buffer.pendingBytes).toBeLessThanOrEqual(1);
    expect(buffer.pushText('abcdef\r')).toEqual([]);
    expect(buffer.pushText('\nnext\r\n')).toEqual(['next']);
    expect(buffer.overflowed).toBe(1);
  });

  it('drops and counts messages that are not valid UTF-8 in text mode', () => {
    const buffer = new DelimitedMessageBuffer();
    expect(buffer.pushText(concat([Uint8Array.of(0xc3, 0x28), encoder.encode('\nfine\n')]))).toEqual(['fine']);
    expect(buffer.invalidUtf8).toBe(1);
    expect(() => new DelimitedMessageBuffer({ delimiter: '' })).toThrow(RangeError);
  });
});
