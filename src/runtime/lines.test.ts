import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineSplitter } from './lines.ts';

/** Cuts `bytes` at the given offsets (sorted, deduplicated, within range). */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('lineSplitter', () => {
  it('delivers every complete line whole, however the bytes are chunked (UTF-8 split mid-character included)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }).map((s) => s.replaceAll('\n', '')), { maxLength: 20 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 30 }), (lines, trailing, offsets) => {
        const text = lines.join('\n') + (trailing ? '\n' : '');
        const seen: string[] = [];
        const push = lineSplitter((l) => seen.push(l));
        for (const chunk of cut(Buffer.from(text, 'utf8'), offsets)) push(chunk);
        expect(seen).toEqual(text.split('\n').slice(0, -1)); // every piece that a newline ended
      }),
    );
  });

  it('never holds more than maxLineChars of an unterminated line', () => {
    const seen: string[] = [];
    const push = lineSplitter((l) => seen.push(l), { maxLineChars: 4 });
    push('abcdefghij');
    expect(seen).toEqual(['abcd', 'efgh']);
    push('\nxy\n');
    expect(seen).toEqual(['abcd', 'efgh', 'ij', 'xy']);
  });
});
