import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCheckpoint,
  decodeRecord,
  decodeSegmentHeader,
  encodeCheckpoint,
  encodeRecord,
  encodeSegmentHeader,
  MAX_OFFSET,
  MAX_SEQUENCE,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  segmentFileName,
} from './format.ts';

const safeOffset = fc.integer({ min: 1, max: MAX_OFFSET });
const optionalSeq = fc.option(fc.integer({ min: 0, max: MAX_SEQUENCE }), { nil: undefined });

describe('segment file names', () => {
  it('round-trip every safe offset and sort like the offsets', () => {
    fc.assert(
      fc.property(safeOffset, safeOffset, (a, b) => {
        expect(parseSegmentFileName(segmentFileName(a))).toBe(a);
        expect(segmentFileName(a) < segmentFileName(b)).toBe(a < b);
      }),
    );
    expect(segmentFileName(1)).toBe('00000000000000000001.seg');
    expect(parseSegmentFileName('00000000000000000001.seg.corrupt')).toBeUndefined();
    expect(parseSegmentFileName('checkpoint')).toBeUndefined();
    expect(parseSegmentFileName('00000000000000000000.seg')).toBeUndefined();
  });
});

describe('records', () => {
  it('round-trip offset, ingest time, sequence and payload', () => {
    fc.assert(
      fc.property(safeOffset, fc.integer({ min: 0, max: MAX_OFFSET }), optionalSeq, fc.uint8Array({ maxLength: 200 }), (offset, ingestMs, sequence, payload) => {
        const buf = new Uint8Array(RECORD_HEADER_BYTES + payload.length + 5);
        const end = encodeRecord(buf, 5, { offset, ingestMs, sequence }, payload);
        expect(end).toBe(buf.length);
        const rec = decodeRecord(buf, 5, end);
        expect(rec).toEqual({ offset, ingestMs, sequence, payloadStart: 5 + RECORD_HEADER_BYTES, end });
        expect(Buffer.from(buf.subarray(5 + RECORD_HEADER_BYTES, end))).toEqual(Buffer.from(payload));
      }),
    );
  });

  it('detect any single flipped bit and any truncation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (payload, at, bit) => {
        const buf = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
        encodeRecord(buf, 0, { offset: 7, ingestMs: 1000, sequence: 3 }, payload);
        const cut = at % buf.length;
        expect(decodeRecord(buf, 0, cut)).toBe('incomplete');
        const flipped = Uint8Array.from(buf);
        flipped[cut] = (flipped[cut] as number) ^ (1 << bit);
        expect(typeof decodeRecord(flipped, 0, flipped.length)).toBe('string');
      }),
    );
  });
});

describe('segment header and checkpoint', () => {
  it('round-trip and reject damage', () => {
    fc.assert(
      fc.property(safeOffset, optionalSeq, fc.nat({ max: SEGMENT_HEADER_BYTES - 1 }), (baseOffset, prevSequence, at) => {
        const header = encodeSegmentHeader({ baseOffset, prevSequence });
        expect(decodeSegmentHeader(header)).toEqual({ baseOffset, prevSequence });
        const damaged = Buffer.from(header);
        damaged[at] = (damaged[at] as number) ^ 0x40;
        expect(decodeSegmentHeader(damaged)).toHaveProperty('error');
        expect(decodeSegmentHeader(header.subarray(0, at))).toHaveProperty('error');
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_OFFSET }), fc.nat({ max: 23 }), (ackedOffset, at) => {
        const buf = encodeCheckpoint(ackedOffset);
        expect(decodeCheckpoint(buf)).toEqual({ ackedOffset });
        const damaged = Buffer.from(buf);
        damaged[at] = (damaged[at] as number) ^ 1;
        expect(decodeCheckpoint(damaged)).toHaveProperty('error');
      }),
    );
  });
});
