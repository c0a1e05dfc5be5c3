import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRecord, encodeSegmentHeader, MAX_OFFSET, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import { scanSegment } from './scan.ts';

/** A segment file's bytes holding `payloads` from offset `base`, with the record start positions. */
function buildSegment(base: number, payloads: readonly Uint8Array[]): { bytes: Buffer; starts: number[] } {
  const size = SEGMENT_HEADER_BYTES + payloads.reduce((s, p) => s + RECORD_HEADER_BYTES + p.length, 0);
  const bytes = Buffer.alloc(size);
  encodeSegmentHeader({ baseOffset: base, prevSequence: undefined }).copy(bytes);
  const starts: number[] = [];
  let pos = SEGMENT_HEADER_BYTES;
  payloads.forEach((p, i) => {
    starts.push(pos);
    pos = encodeRecord(bytes, pos, { offset: base + i, ingestMs: 1000 + i, sequence: i }, p);
  });
  return { bytes, starts };
}

const payloads = fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 30 });
const base = fc.integer({ min: 1, max: 1_000_000 });

describe('scanSegment', () => {
  it('accepts an intact segment whole', () => {
    fc.assert(
      fc.property(base, payloads, (b, ps) => {
        const { bytes } = buildSegment(b, ps);
        const scan = scanSegment(bytes, { baseOffset: b, maxOffset: MAX_OFFSET });
        expect(scan.damage).toBeUndefined();
        expect(scan).toMatchObject({ validBytes: bytes.length, records: ps.length, lastOffset: b + ps.length - 1, lastSequence: ps.length - 1, lastIngestMs: 1000 + ps.length - 1 });
        expect(scan.index.offsets[0]).toBe(b);
        expect(scan.index.positions[0]).toBe(SEGMENT_HEADER_BYTES);
      }),
    );
  });

  it('sees a cut anywhere as a tail with nothing valid after it, keeping every whole record before it', () => {
    fc.assert(
      fc.property(base, payloads, fc.nat(), (b, ps, at) => {
        const { bytes, starts } = buildSegment(b, ps);
        const cut = SEGMENT_HEADER_BYTES + (at % (bytes.length - SEGMENT_HEADER_BYTES));
        const scan = scanSegment(bytes.subarray(0, cut), { baseOffset: b, maxOffset: MAX_OFFSET });
        const whole = starts.filter((s, i) => (starts[i + 1] ?? bytes.length) <= cut && s < cut).length;
        expect(scan.records).toBe(whole);
        expect(scan.validBytes).toBe(starts[whole] ?? bytes.length);
        if (scan.validBytes === cut) expect(scan.damage).toBeUndefined();
        else expect(scan.damage).toMatchObject({ fault: 'incomplete', validAfter: false, position: scan.validBytes, expectedOffset: b + whole });
      }),
    );
  });

  it('reports a damaged record followed by valid ones as damage with valid data after it', () => {
    fc.assert(
      fc.property(base, payloads.filter((ps) => ps.length >= 2), fc.nat(), fc.nat(), (b, ps, k, at) => {
        const { bytes, starts } = buildSegment(b, ps);
        const victim = k % (ps.length - 1);
        const start = starts[victim] as number;
        const size = (starts[victim + 1] as number) - start;
        const pos = start + (at % size);
        bytes[pos] = (bytes[pos] as number) ^ 0xff;
        const scan = scanSegment(bytes, { baseOffset: b, maxOffset: MAX_OFFSET });
        expect(scan.records).toBe(victim);
        expect(scan.damage).toMatchObject({ position: start, expectedOffset: b + victim, validAfter: true, maxOffsetAfter: b + ps.length - 1 });
      }),
    );
  });

  it('sees a bad CRC in the last record as a tail with nothing valid after it', () => {
    fc.assert(
      fc.property(base, payloads, (b, ps) => {
        const { bytes, starts } = buildSegment(b, ps);
        const last = starts.at(-1) as number;
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
        bytes[last + 4] = (bytes[last + 4] as number) ^ 1;
        const scan = scanSegment(bytes, { baseOffset: b, maxOffset: MAX_OFFSET });
        expect(scan.damage).toMatchObject({ position: last, fault: 'bad-crc', validAfter: false });
      }),
    );
  });

  it('treats offsets beyond maxOffset, a wrong base and a bad header as damage', () => {
    const { bytes, starts } = buildSegment(10, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    expect(scanSegment(bytes, { baseOffset: 10, maxOffset: 11 }).damage).toMatchObject({ fault: 'bad-offset', position: starts[2], expectedOffset: 12 });
    expect(scanSegment(bytes, { baseOffset: 9, maxOffset: MAX_OFFSET }).damage).toMatchObject({ fault: 'bad-header', position: 0 });
    const headerless = Buffer.from(bytes);
    headerless[0] = 0;
    const scan = scanSegment(headerless, { baseOffset: 10, maxOffset: MAX_OFFSET });
    expect(scan.header).toBeUndefined();
    expect(scan.damage).toMatchObject({ fault: 'bad-header', validAfter: true, maxOffsetAfter: 12 });
    expect(scanSegment(bytes.subarray(0, 7), { baseOffset: 10, maxOffset: MAX_OFFSET }).damage).toMatchObject({ fault: 'bad-header', validAfter: false });
  });
});
