/**
 * The spool's on-disk format: segment file names, the segment header, record framing and
 * the checkpoint file. Pure encoding and decoding over byte arrays; no I/O.
 *
 * Segment file `<20-digit base offset>.seg`:
 *
 * ```
 * segment header (32 B): u32 magic "MFSG" | u16 version | u16 flags (0)
 *                        | u64 base offset | u64 last sequence before this segment + 1 (0 = none)
 *                        | u32 CRC-32C of bytes 0..24 | u32 reserved (0)
 * record (32 B + payload): u32 payload length | u32 CRC-32C of bytes 8..(32 + length)
 *                        | u64 offset | u64 ingest wall time (ms) | u64 sequence + 1 (0 = none)
 *                        | payload
 * ```
 *
 * All integers are little-endian; u64 fields hold JavaScript safe integers (< 2^53), which
 * is what the API hands out. Offsets inside one segment are contiguous, starting at the
 * base offset, so a reader can tell a misframed or foreign record from a real one.
 *
 * Checkpoint file `checkpoint` (24 B): u32 magic "MFCK" | u16 version | u16 flags
 * | u64 acknowledged offset | u32 CRC-32C of bytes 0..16 | u32 reserved.
 *
 * Limitations: version 1 only; a file with another magic or version is treated as corrupt.
 */
import { crc32c } from './crc32c.ts';

/** Bytes in a segment header. */
export const SEGMENT_HEADER_BYTES = 32;
/** Bytes of framing before each record's payload. */
export const RECORD_HEADER_BYTES = 32;
/** Bytes in the checkpoint file. */
export const CHECKPOINT_BYTES = 24;
/** Hard upper bound on one payload (16 MiB); `maxRecordBytes` may not exceed it. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Highest offset the format and the API accept (2^53 - 1). */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** Highest application sequence accepted (stored as sequence + 1, so one below MAX_OFFSET). */
export const MAX_SEQUENCE = MAX_OFFSET - 1;

const SEGMENT_MAGIC = 0x4753464d; // "MFSG" read little-endian
const CHECKPOINT_MAGIC = 0x4b43464d; // "MFCK"
const FORMAT_VERSION = 1;
const SEGMENT_NAME = /^(\d{20})\.seg$/;
const TWO_32 = 0x1_0000_0000;

/** File name of the segment whose first record has offset `baseOffset`. */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.seg`;
}

/** The base offset a segment file name encodes, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (!match) return undefined;
  const base = Number(match[1]);
  return Number.isSafeInteger(base) && base >= 1 ? base : undefined;
}

function writeU32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value & 0xff;
  buf[pos + 1] = (value >>> 8) & 0xff;
  buf[pos + 2] = (value >>> 16) & 0xff;
  buf[pos + 3] = (value >>> 24) & 0xff;
}

function readU32(buf: Uint8Array, pos: number): number {
  return ((buf[pos] as number) | ((buf[pos + 1] as number) << 8) | ((buf[pos + 2] as number) << 16) | ((buf[pos + 3] as number) << 24)) >>> 0;
}

function writeU64(buf: Uint8Array, pos: number, value: number): void {
  writeU32(buf, pos, value % TWO_32);
  writeU32(buf, pos + 4, Math.floor(value / TWO_32));
}

/** Reads a u64; values at or above 2^53 come back as -1 (never a valid offset). */
function readU64(buf: Uint8Array, pos: number): number {
  const high = readU32(buf, pos + 4);
  if (high >= 0x20_0000) return -1;
  return high * TWO_32 + readU32(buf, pos);
}

function encodeOptional(value: number | undefined): number {
  return value === undefined ? 0 : value + 1;
}

function decodeOptional(raw: number): number | undefined {
  return raw <= 0 ? undefined : raw - 1;
}

/** A segment header. */
export interface SegmentHeader {
  readonly baseOffset: number;
  /** The last application sequence appended before this segment was created, if any. */
  readonly prevSequence: number | undefined;
}

/** Encodes a segment header (32 bytes). */
export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  writeU32(buf, 0, SEGMENT_MAGIC);
  buf[4] = FORMAT_VERSION;
  writeU64(buf, 8, header.baseOffset);
  writeU64(buf, 16, encodeOptional(header.prevSequence));
  writeU32(buf, 24, crc32c(buf, 0, 0, 24));
  return buf;
}

/** Decodes the segment header at the start of `buf`, or explains why it is not one. */
export function decodeSegmentHeader(buf: Uint8Array): SegmentHeader | { readonly error: string } {
  if (buf.length < SEGMENT_HEADER_BYTES) return { error: `header is ${buf.length} of ${SEGMENT_HEADER_BYTES} bytes` };
  if (readU32(buf, 0) !== SEGMENT_MAGIC) return { error: 'not a spool segment (bad magic)' };
  if (readU32(buf, 24) !== crc32c(buf, 0, 0, 24) || readU32(buf, 28) !== 0) return { error: 'segment header CRC mismatch' };
  if (buf[4] !== FORMAT_VERSION || buf[5] !== 0) return { error: `unsupported segment version ${buf[4]! | (buf[5]! << 8)}` };
  const baseOffset = readU64(buf, 8);
  const prev = readU64(buf, 16);
  if (baseOffset < 1 || prev < 0) return { error: 'segment header field out of range' };
  return { baseOffset, prevSequence: decodeOptional(prev) };
}

/** What `appendRecord` writes besides the payload. */
export interface RecordMeta {
  readonly offset: number;
  readonly ingestMs: number;
  readonly sequence: number | undefined;
}

/** Bytes one record with a `payloadBytes`-byte payload occupies on disk. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}

/** Frames one record into `target` at `pos` and returns the position after it. */
export function encodeRecord(target: Uint8Array, pos: number, meta: RecordMeta, payload: Uint8Array): number {
  writeU32(target, pos, payload.length);
  writeU64(target, pos + 8, meta.offset);
  writeU64(target, pos + 16, meta.ingestMs);
  writeU64(target, pos + 24, encodeOptional(meta.sequence));
  target.set(payload, pos + RECORD_HEADER_BYTES);
  const end = pos + RECORD_HEADER_BYTES + payload.length;
  writeU32(target, pos + 4, crc32c(target, 0, pos + 8, end));
  return end;
}

/** A record decoded in place: the payload is `buf[payloadStart, end)`. */
export interface DecodedRecord extends RecordMeta {
  readonly payloadStart: number;
  readonly end: number;
}

/** Why the bytes at a position are not a valid record. */
export type RecordFault =
  | 'incomplete' // header or payload runs past the end of the data
  | 'bad-length' // payload length above MAX_PAYLOAD_BYTES
  | 'bad-crc'
  | 'bad-field'; // CRC fine but a header field is out of range

/**
 * Decodes the record at `buf[pos, end)`. Never throws: a fault comes back as a string.
 * The CRC is checked, field plausibility (e.g. the expected offset) is the caller's job.
 */
export function decodeRecord(buf: Uint8Array, pos: number, end: number): DecodedRecord | RecordFault {
  if (end - pos < RECORD_HEADER_BYTES) return 'incomplete';
  const length = readU32(buf, pos);
  if (length > MAX_PAYLOAD_BYTES) return 'bad-length';
  const recordEnd = pos + RECORD_HEADER_BYTES + length;
  if (recordEnd > end) return 'incomplete';
  if (readU32(buf, pos + 4) !== crc32c(buf, 0, pos + 8, recordEnd)) return 'bad-crc';
  const offset = readU64(buf, pos + 8);
  const ingestMs = readU64(buf, pos + 16);
  const sequence = readU64(buf, pos + 24);
  if (offset < 1 || ingestMs < 0 || sequence < 0) return 'bad-field';
  return { offset, ingestMs, sequence: decodeOptional(sequence), payloadStart: pos + RECORD_HEADER_BYTES, end: recordEnd };
}

/** Reads just the offset field of the record at `pos` (no CRC check), for cheap resync filtering. */
export function peekRecord(buf: Uint8Array, pos: number): { readonly length: number; readonly offset: number } {
  return { length: readU32(buf, pos), offset: readU64(buf, pos + 8) };
}

/** Encodes the checkpoint file's content. */
export function encodeCheckpoint(ackedOffset: number): Buffer {
  const buf = Buffer.alloc(CHECKPOINT_BYTES);
  writeU32(buf, 0, CHECKPOINT_MAGIC);
  buf[4] = FORMAT_VERSION;
  writeU64(buf, 8, ackedOffset);
  writeU32(buf, 16, crc32c(buf, 0, 0, 16));
  return buf;
}

/** Decodes a checkpoint file's content, or explains why it is invalid. */
export function decodeCheckpoint(buf: Uint8Array): { readonly ackedOffset: number } | { readonly error: string } {
  if (buf.length !== CHECKPOINT_BYTES) return { error: `checkpoint is ${buf.length} bytes, expected ${CHECKPOINT_BYTES}` };
  if (readU32(buf, 0) !== CHECKPOINT_MAGIC) return { error: 'not a spool checkpoint (bad magic)' };
  if (readU32(buf, 16) !== crc32c(buf, 0, 0, 16) || readU32(buf, 20) !== 0) return { error: 'checkpoint CRC mismatch' };
  if (buf[4] !== FORMAT_VERSION || buf[5] !== 0) return { error: `unsupported checkpoint version ${buf[4]!}` };
  const ackedOffset = readU64(buf, 8);
  if (ackedOffset < 0) return { error: 'checkpoint offset out of range' };
  return { ackedOffset };
}
