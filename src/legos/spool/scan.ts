/**
 * Scanning one segment's bytes on open: validates the header and every record (CRC,
 * contiguous offsets), builds the sparse index, and when it meets damage, looks past it
 * for valid records so the caller can tell a torn tail (nothing valid after) from
 * corruption in the middle (valid records follow). Pure: takes the file's bytes.
 *
 * Limitations: the search past damage tries the damaged record's own length first and
 * then every byte position, filtered cheaply by length and by the offsets that could
 * plausibly sit there; on a large, badly damaged segment that costs one pass over the rest.
 */
import { decodeRecord, decodeSegmentHeader, MAX_PAYLOAD_BYTES, peekRecord, RECORD_HEADER_BYTES, type RecordFault, SEGMENT_HEADER_BYTES, type SegmentHeader } from './format.ts';
import { emptyIndex, INDEX_STRIDE_BYTES, type SparseIndex } from './segment.ts';

/** Where and why a segment stops being valid. */
export interface SegmentDamage {
  /** File position of the first byte that is not part of a valid record. */
  readonly position: number;
  /** The offset the record at `position` should have had. */
  readonly expectedOffset: number;
  readonly fault: RecordFault | 'bad-offset' | 'bad-header';
  /** A human-readable cause. */
  readonly detail: string;
  /** True when a valid record sits somewhere after the damage. */
  readonly validAfter: boolean;
  /** Highest offset among the valid records found after the damage, 0 when none. */
  readonly maxOffsetAfter: number;
  /** Highest sequence among the valid records found after the damage. */
  readonly maxSequenceAfter: number | undefined;
}

/** The result of scanning a segment. */
export interface SegmentScan {
  /** The decoded header, undefined when it is missing or invalid (see `damage`). */
  readonly header: SegmentHeader | undefined;
  /** Bytes of the intact prefix: the header and every valid record before any damage. */
  readonly validBytes: number;
  readonly records: number;
  /** Offset of the last valid record, `baseOffset - 1` when none. */
  readonly lastOffset: number;
  readonly lastIngestMs: number | undefined;
  /** Last sequence carried by a valid record, else the header's previous sequence. */
  readonly lastSequence: number | undefined;
  readonly index: SparseIndex;
  readonly nextIndexAt: number;
  readonly damage: SegmentDamage | undefined;
}

/** Scan options: the base offset the file name gives, and the highest offset allowed. */
export interface ScanOptions {
  readonly baseOffset: number;
  /** Offsets above this (e.g. the next segment's base - 1) count as damage. */
  readonly maxOffset: number;
}

/** Scans a whole segment file's bytes. */
export function scanSegment(buf: Uint8Array, options: ScanOptions): SegmentScan {
  const index = emptyIndex();
  const decoded = decodeSegmentHeader(buf);
  if ('error' in decoded || decoded.baseOffset !== options.baseOffset) {
    const detail = 'error' in decoded ? decoded.error : `header names base offset ${decoded.baseOffset}, file name says ${options.baseOffset}`;
    const damage = lookPast(buf, 0, { fault: 'bad-header', detail, expectedOffset: options.baseOffset, lastGood: options.baseOffset - 1, maxOffset: options.maxOffset, tryAt: undefined });
    return { header: undefined, validBytes: 0, records: 0, lastOffset: options.baseOffset - 1, lastIngestMs: undefined, lastSequence: undefined, index, nextIndexAt: SEGMENT_HEADER_BYTES, damage };
  }
  let pos = SEGMENT_HEADER_BYTES;
  let expected = options.baseOffset;
  let lastIngestMs: number | undefined;
  let lastSequence = decoded.prevSequence;
  let nextIndexAt = pos;
  let damage: SegmentDamage | undefined;
  while (pos < buf.length) {
    const rec = decodeRecord(buf, pos, buf.length);
    if (typeof rec === 'string' || rec.offset !== expected || expected > options.maxOffset) {
      const fault = typeof rec === 'string' ? rec : 'bad-offset';
      const detail = typeof rec === 'string' ? faultDetail(rec) : `record carries offset ${rec.offset}, expected ${expected} (at most ${options.maxOffset})`;
      const tryAt = fault === 'bad-crc' || fault === 'bad-offset' ? pos + RECORD_HEADER_BYTES + peekRecord(buf, pos).length : undefined;
      damage = lookPast(buf, pos, { fault, detail, expectedOffset: expected, lastGood: expected - 1, maxOffset: options.maxOffset, tryAt });
      break;
    }
    if (pos >= nextIndexAt) {
      index.offsets.push(rec.offset);
      index.positions.push(pos);
      index.ingestMs.push(rec.ingestMs);
      nextIndexAt = pos + INDEX_STRIDE_BYTES;
    }
    lastIngestMs = rec.ingestMs;
    if (rec.sequence !== undefined) lastSequence = rec.sequence;
    pos = rec.end;
    expected++;
  }
  return { header: decoded, validBytes: pos, records: expected - options.baseOffset, lastOffset: expected - 1, lastIngestMs, lastSequence, index, nextIndexAt, damage };
}

function faultDetail(fault: RecordFault): string {
  switch (fault) {
    case 'incomplete':
      return 'record runs past the end of the file';
    case 'bad-length':
      return `record length above ${MAX_PAYLOAD_BYTES} bytes`;
    case 'bad-crc':
      return 'record CRC-32C mismatch';
    case 'bad-field':
      return 'record header field out of range';
  }
}

interface LookPast {
  readonly fault: SegmentDamage['fault'];
  readonly detail: string;
  readonly expectedOffset: number;
  readonly lastGood: number;
  readonly maxOffset: number;
  /** A position to try before the byte-by-byte search (just after the damaged record). */
  readonly tryAt: number | undefined;
}

/** Describes damage at `from` and searches past it for valid records. */
function lookPast(buf: Uint8Array, from: number, what: LookPast): SegmentDamage {
  const first = what.tryAt !== undefined && validAt(buf, what.tryAt, from, what) ? what.tryAt : searchValid(buf, from, what);
  let maxOffsetAfter = 0;
  let maxSequenceAfter: number | undefined;
  if (first !== undefined) {
    // Follow the chain of valid records from the first one found.
    let pos = first;
    let expected = -1;
    for (;;) {
      const rec = decodeRecord(buf, pos, buf.length);
      if (typeof rec === 'string' || (expected >= 0 && rec.offset !== expected) || rec.offset > what.maxOffset) break;
      maxOffsetAfter = Math.max(maxOffsetAfter, rec.offset);
      if (rec.sequence !== undefined) maxSequenceAfter = Math.max(maxSequenceAfter ?? 0, rec.sequence);
      expected = rec.offset + 1;
      pos = rec.end;
    }
  }
  return { position: from, expectedOffset: what.expectedOffset, fault: what.fault, detail: what.detail, validAfter: first !== undefined, maxOffsetAfter, maxSequenceAfter };
}

function searchValid(buf: Uint8Array, from: number, what: LookPast): number | undefined {
  for (let q = from + 1; q + RECORD_HEADER_BYTES <= buf.length; q++) {
    if (validAt(buf, q, from, what)) return q;
  }
  return undefined;
}

/** True when a valid record whose offset could plausibly sit at `q` starts there. */
function validAt(buf: Uint8Array, q: number, from: number, what: LookPast): boolean {
  if (q + RECORD_HEADER_BYTES > buf.length) return false;
  const peek = peekRecord(buf, q);
  if (peek.length > MAX_PAYLOAD_BYTES || q + RECORD_HEADER_BYTES + peek.length > buf.length) return false;
  // Each record takes at least RECORD_HEADER_BYTES, so offsets cannot run ahead of position.
  const highest = Math.min(what.maxOffset, what.expectedOffset + Math.floor((q - from) / RECORD_HEADER_BYTES));
  if (peek.offset <= what.lastGood || peek.offset > highest) return false;
  const rec = decodeRecord(buf, q, buf.length);
  return typeof rec !== 'string';
}
