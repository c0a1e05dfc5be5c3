/**
 * In-memory state of one spool segment, the sparse index that lets a reader seek to an
 * offset and the limits estimate record ages without reading the file, and the framing of
 * a run of records for one write. The spool owns and mutates segment states; readers and
 * the pure deciders in `plan.ts` only read them.
 *
 * Limitations: the index holds one entry per `INDEX_STRIDE_BYTES` of records (plus the
 * first record), so seeks read at most that much extra and age estimates are conservative
 * by the time those records span.
 */

import { encodeRecord } from './format.ts';

/** Bytes of records between two sparse-index entries (64 KiB). */
export const INDEX_STRIDE_BYTES = 64 * 1024;

/** Sparse index of a segment: parallel arrays, ascending by offset. */
export interface SparseIndex {
  readonly offsets: number[];
  readonly positions: number[];
  readonly ingestMs: number[];
}

/** What the deciders need to know about a segment. */
export interface SegmentView {
  readonly baseOffset: number;
  /** Offset of the segment's last record; `baseOffset - 1` while it holds none. */
  readonly lastOffset: number;
  /** Bytes in the file, header included. */
  readonly bytes: number;
  /** Ingest wall time (ms) of the last record, undefined while it holds none. */
  readonly lastIngestMs: number | undefined;
  readonly index: SparseIndex;
}

/** A live segment as the spool tracks it. */
export interface SegmentState extends SegmentView {
  readonly name: string;
  readonly path: string;
  bytes: number;
  /**
   * Bytes readers may read: everything written under `fsync: never`, else only what an
   * fsync has covered, so a reader never sees a record that a power loss could take back.
   */
  visibleBytes: number;
  lastOffset: number;
  lastIngestMs: number | undefined;
  /** Sequence of the last record that carried one, in this segment or before it. */
  lastSequence: number | undefined;
  /** Position from which the next record gets an index entry. */
  nextIndexAt: number;
  /** Open write descriptor; only the active segment (and one being sealed) has one. */
  fd: number | undefined;
  /** True once the segment no longer takes appends. */
  sealed: boolean;
  /** fsyncs in flight on `fd`; the descriptor closes only when this is 0. */
  syncing: number;
}

/** An empty sparse index. */
export function emptyIndex(): SparseIndex {
  return { offsets: [], positions: [], ingestMs: [] };
}

/** Position of the last index entry at or before `offset`, with the offset found there. */
export function seekIndex(index: SparseIndex, offset: number): { readonly offset: number; readonly position: number } | undefined {
  let lo = 0;
  let hi = index.offsets.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((index.offsets[mid] as number) <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return undefined;
  return { offset: index.offsets[found] as number, position: index.positions[found] as number };
}

/** What `encodeRecords` produced, to commit to the segment once the write succeeded. */
export interface EncodedRecords {
  /** Bytes encoded at the start of the target buffer. */
  readonly bytes: number;
  /** New index entries as [offset, position] pairs. */
  readonly indexed: readonly number[];
  readonly nextIndexAt: number;
  /** Sequence of the last record that carried one, else `previousSequence`. */
  readonly lastSequence: number | undefined;
}

/**
 * Frames `records[from, from + count)` into `target` (which must be large enough) with
 * consecutive offsets from `firstOffset`, for appending at file position `position`.
 */
export function encodeRecords(
  target: Uint8Array,
  records: readonly { readonly payload: Uint8Array; readonly sequence?: number | undefined }[],
  range: { readonly from: number; readonly count: number },
  at: { readonly firstOffset: number; readonly ingestMs: number; readonly position: number; readonly nextIndexAt: number; readonly previousSequence: number | undefined },
): EncodedRecords {
  const indexed: number[] = [];
  let nextIndexAt = at.nextIndexAt;
  let lastSequence = at.previousSequence;
  let pos = 0;
  for (let i = 0; i < range.count; i++) {
    const rec = records[range.from + i] as { readonly payload: Uint8Array; readonly sequence?: number | undefined };
    if (at.position + pos >= nextIndexAt) {
      indexed.push(at.firstOffset + i, at.position + pos);
      nextIndexAt = at.position + pos + INDEX_STRIDE_BYTES;
    }
    pos = encodeRecord(target, pos, { offset: at.firstOffset + i, ingestMs: at.ingestMs, sequence: rec.sequence }, rec.payload);
    if (rec.sequence !== undefined) lastSequence = rec.sequence;
  }
  return { bytes: pos, indexed, nextIndexAt, lastSequence };
}
