/**
 * Pure deciders for the spool: how a batch splits over segments, whether the byte limit
 * leaves room (and what `dropOldest` must evict to make it), what the age limit expires,
 * and how old the oldest unacknowledged record is. Functions of the segment views, the
 * floor (everything at or below it is acknowledged or dropped) and the time passed in;
 * no I/O. Each decision that drops or refuses carries its reason.
 *
 * Limitations: eviction and deletion work on whole segments; a partly expired segment
 * only moves the floor, to the granularity of the sparse index (see `segment.ts`).
 */
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import type { SegmentView } from './segment.ts';

/** What happens when an append would take the spool over `maxBytes`. */
export type OverflowPolicy = 'dropOldest' | 'block';

/** Records of `seg` above `floorOffset` (still to be delivered). */
export function recordsAbove(seg: SegmentView, floorOffset: number): number {
  return Math.max(0, seg.lastOffset - Math.max(floorOffset, seg.baseOffset - 1));
}

/** Total bytes the segments occupy. */
export function heldBytes(segments: readonly SegmentView[]): number {
  let sum = 0;
  for (const seg of segments) sum += seg.bytes;
  return sum;
}

/** One run of records that goes into one segment; `roll` says a new segment starts first. */
export interface Chunk {
  readonly count: number;
  readonly bytes: number;
  readonly roll: boolean;
}

/**
 * Splits records of the given payload sizes over the active segment (holding
 * `activeBytes`) and as many new segments as needed, each at most `segmentBytes`.
 * `needBytes` is what the batch adds to the spool, new segment headers included.
 */
export function planChunks(activeBytes: number, payloadSizes: readonly number[], segmentBytes: number): { readonly chunks: readonly Chunk[]; readonly needBytes: number } {
  const chunks: Chunk[] = [];
  let fill = activeBytes;
  let count = 0;
  let bytes = 0;
  let roll = false;
  let needBytes = 0;
  for (const size of payloadSizes) {
    const rec = RECORD_HEADER_BYTES + size;
    if (fill + rec > segmentBytes && fill > SEGMENT_HEADER_BYTES) {
      if (count > 0) chunks.push({ count, bytes, roll });
      roll = true;
      count = 0;
      bytes = 0;
      fill = SEGMENT_HEADER_BYTES;
      needBytes += SEGMENT_HEADER_BYTES;
    }
    fill += rec;
    bytes += rec;
    needBytes += rec;
    count++;
  }
  if (count > 0) chunks.push({ count, bytes, roll });
  return { chunks, needBytes };
}

/** The answer to "may `needBytes` more go in?". */
export type RoomDecision =
  | { readonly kind: 'fits' }
  | { readonly kind: 'evict'; readonly segments: number; readonly droppedRecords: number; readonly reason: string }
  | { readonly kind: 'full'; readonly heldBytes: number; readonly reason: string };

/** Inputs of `decideRoom`; `segments` is oldest first and the last one is active. */
export interface RoomInput {
  readonly segments: readonly SegmentView[];
  readonly floorOffset: number;
  readonly needBytes: number;
  readonly maxBytes: number;
  readonly overflow: OverflowPolicy;
}

/**
 * Decides whether `needBytes` fit under `maxBytes`. Under `block` the answer is `fits` or
 * `full`; under `dropOldest` the oldest sealed segments are evicted (never the active
 * one) until it fits, counting the undelivered records they held.
 */
export function decideRoom(input: RoomInput): RoomDecision {
  const held = heldBytes(input.segments);
  if (held + input.needBytes <= input.maxBytes) return { kind: 'fits' };
  const full = `spool holds ${held} of ${input.maxBytes} bytes and needs ${input.needBytes} more`;
  if (input.overflow === 'block') return { kind: 'full', heldBytes: held, reason: full };
  let freed = 0;
  let dropped = 0;
  let evict = 0;
  while (evict < input.segments.length - 1 && held - freed + input.needBytes > input.maxBytes) {
    const seg = input.segments[evict] as SegmentView;
    freed += seg.bytes;
    dropped += recordsAbove(seg, input.floorOffset);
    evict++;
  }
  if (held - freed + input.needBytes > input.maxBytes) return { kind: 'full', heldBytes: held, reason: `${full}, more than evicting every sealed segment frees` };
  return { kind: 'evict', segments: evict, droppedRecords: dropped, reason: `${full}: evicting the ${evict} oldest segment(s)` };
}

/** Inputs of `decideExpiry`. */
export interface ExpiryInput {
  readonly segments: readonly SegmentView[];
  readonly floorOffset: number;
  readonly nowMs: number;
  readonly maxAgeMs: number | undefined;
}

/** The new floor after expiry and the undelivered records it drops. */
export interface ExpiryDecision {
  readonly floorOffset: number;
  readonly droppedRecords: number;
}

/**
 * Moves the floor past every record known to be older than `maxAgeMs` (ingest time
 * strictly before `nowMs - maxAgeMs`). Within a segment it relies on ingest times being
 * non-decreasing (the spool clamps them), so an index entry that expired proves every
 * record before it expired.
 */
export function decideExpiry(input: ExpiryInput): ExpiryDecision {
  if (input.maxAgeMs === undefined) return { floorOffset: input.floorOffset, droppedRecords: 0 };
  const cutoff = input.nowMs - input.maxAgeMs;
  let floor = input.floorOffset;
  for (const seg of input.segments) {
    if (seg.lastIngestMs === undefined || seg.lastOffset <= floor) continue;
    if (seg.lastIngestMs < cutoff) {
      floor = seg.lastOffset;
      continue;
    }
    const { offsets, ingestMs } = seg.index;
    for (let i = offsets.length - 1; i >= 0; i--) {
      if ((ingestMs[i] as number) < cutoff) {
        floor = Math.max(floor, offsets[i] as number);
        break;
      }
    }
    break;
  }
  let dropped = 0;
  for (const seg of input.segments) dropped += recordsAbove(seg, input.floorOffset) - recordsAbove(seg, floor);
  return { floorOffset: floor, droppedRecords: dropped };
}

/** Count of leading sealed segments (never the last, active one) wholly at or below the floor. */
export function deletableSegments(segments: readonly SegmentView[], floorOffset: number): number {
  let n = 0;
  while (n < segments.length - 1 && (segments[n] as SegmentView).lastOffset <= floorOffset) n++;
  return n;
}

/**
 * A lower bound on the ingest time of the oldest record above the floor, from the sparse
 * index (so the age it gives is never understated); undefined when nothing is held.
 */
export function oldestIngestMs(segments: readonly SegmentView[], floorOffset: number): number | undefined {
  for (const seg of segments) {
    if (seg.lastOffset <= floorOffset) continue;
    const target = Math.max(floorOffset + 1, seg.baseOffset);
    const { offsets, ingestMs } = seg.index;
    let best: number | undefined;
    for (let i = 0; i < offsets.length && (offsets[i] as number) <= target; i++) best = ingestMs[i];
    return best;
  }
  return undefined;
}
