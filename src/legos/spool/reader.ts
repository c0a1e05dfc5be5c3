/**
 * A cursor over the spool: replays records above the floor (acknowledged or dropped) in
 * offset order, from the oldest, and then follows new appends. Reads go to the segment
 * files through the page cache and see a record only once it is as durable as the fsync
 * policy makes it (fsynced under `always` and `interval`, written under `never`), so
 * nothing forwarded can be lost to a power cut and then have its offset reused. Every
 * record's CRC and offset are checked again on read.
 *
 * Records older than `maxAgeSeconds` are skipped and counted as dropped (`age`) here,
 * exactly, by their ingest time; the spool's periodic expiry works per index stride.
 *
 * Limitations: reads are synchronous (`readSync`, up to 256 KiB per call plus one record);
 * a segment deleted while the reader is inside it stays readable through the open
 * descriptor, and the reader skips to the floor on its next call. Damage that appears
 * after open throws `SpoolCorruptionError` from `read()` at every call until the spool is
 * reopened (which quarantines the segment).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SpoolClosedError, SpoolCorruptionError } from './errors.ts';
import { decodeRecord, peekRecord, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import { seekIndex, type SegmentState } from './segment.ts';

const READ_CHUNK_BYTES = 256 * 1024;

/** A record read back from the spool. */
export interface SpoolRecord {
  readonly offset: number;
  /** Wall time (ms since the epoch) at which the spool accepted the record. */
  readonly ingestMs: number;
  /** The application sequence appended with the record, if any. */
  readonly sequence: number | undefined;
  /** The payload: a view into a buffer owned by this `read()` result. */
  readonly payload: Buffer;
}

/** Limits of one `read()` call. */
export interface ReadOptions {
  /** At most this many records. Default 1000. */
  readonly maxRecords?: number | undefined;
  /** Stop once the payloads reach this many bytes (at least one record is returned). Default 1 MiB. */
  readonly maxBytes?: number | undefined;
}

/** What a reader needs from its spool. */
export interface ReaderHost {
  /** Live segments, oldest first. */
  segments(): readonly SegmentState[];
  /** Everything at or below this offset is acknowledged or dropped. */
  floorOffset(): number;
  /** Highest offset readers may see (durable as the fsync policy makes it). */
  visibleOffset(): number;
  /** Records up to `offset` expired: count them dropped and move the floor. */
  expireThrough(offset: number): void;
  /** Ingest times strictly below this wall time (ms) have expired, or -Infinity. */
  expiryCutoffMs(): number;
  /** Throws when the spool is closed. */
  checkOpen(what: string): void;
  /** Resolves once an offset above `offset` is visible. */
  waitBeyond(offset: number, signal: AbortSignal | undefined): Promise<void>;
}

/** A replay cursor; get one from `LocalDurableSpool.reader()`. */
export class SpoolReader implements Disposable {
  private readonly host: ReaderHost;
  private readonly onClose: () => void;
  private next: number;
  private seg: SegmentState | undefined;
  private fd: number | undefined;
  /** File position of the record whose offset is `posOffset`, inside `seg`. */
  private pos = 0;
  private posOffset = 0;
  private closed = false;

  constructor(host: ReaderHost, onClose: () => void) {
    this.host = host;
    this.onClose = onClose;
    this.next = host.floorOffset() + 1;
  }

  /** The lowest offset the next `read()` may return. */
  get position(): number {
    return this.next;
  }

  /** Goes back to the oldest record not yet acknowledged or dropped (e.g. after a failed send). */
  rewind(): void {
    this.next = this.host.floorOffset() + 1;
    this.detach();
  }

  /** Resolves when a record at or beyond `position` is visible (it may be dropped before it is read). */
  wait(signal?: AbortSignal): Promise<void> {
    return this.host.waitBeyond(this.next - 1, signal);
  }

  /** The next records in offset order; empty when the reader has caught up. */
  read(options: ReadOptions = {}): SpoolRecord[] {
    if (this.closed) throw new SpoolClosedError('read (reader closed)');
    this.host.checkOpen('read');
    const maxRecords = options.maxRecords ?? 1000;
    const maxBytes = options.maxBytes ?? 1024 * 1024;
    const cutoff = this.host.expiryCutoffMs();
    const out: SpoolRecord[] = [];
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes) {
      const seg = this.locate();
      if (seg === undefined) break;
      const chunk = this.readChunk(seg);
      if (chunk.length === 0) break; // the segment claims records it has not written: never spin
      let p = 0;
      while (p < chunk.length && out.length < maxRecords && bytes < maxBytes) {
        const start = p;
        const rec = decodeRecord(chunk, p, chunk.length);
        if (rec === 'incomplete' && p > 0) break;
        if (typeof rec === 'string' || rec.offset !== this.posOffset) {
          const detail = typeof rec === 'string' ? `record unreadable on replay (${rec})` : `record carries offset ${rec.offset} on replay`;
          throw new SpoolCorruptionError({ file: seg.path, position: this.pos, expectedOffset: this.posOffset, detail, recordsLost: 0 });
        }
        p = rec.end;
        this.pos += rec.end - start;
        this.posOffset++;
        if (rec.offset < this.next) continue;
        this.next = rec.offset + 1;
        if (rec.ingestMs < cutoff) {
          this.host.expireThrough(rec.offset);
          continue;
        }
        out.push({ offset: rec.offset, ingestMs: rec.ingestMs, sequence: rec.sequence, payload: chunk.subarray(rec.payloadStart, rec.end) });
        bytes += rec.end - rec.payloadStart;
      }
    }
    return out;
  }

  /** Releases the reader's file descriptor. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.onClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Positions on the segment holding `next`, or returns undefined when caught up. */
  private locate(): SegmentState | undefined {
    const floor = this.host.floorOffset();
    if (this.next <= floor) this.next = floor + 1;
    if (this.next > this.host.visibleOffset()) return undefined;
    const seg = this.host.segments().find((s) => s.lastOffset >= Math.max(this.next, s.baseOffset));
    if (seg === undefined) return undefined;
    if (seg.baseOffset > this.next) this.next = seg.baseOffset; // a gap: evicted or quarantined records
    if (seg !== this.seg || this.fd === undefined || this.posOffset > this.next) {
      this.detach();
      this.fd = openSync(seg.path, 'r');
      this.seg = seg;
      const at = seekIndex(seg.index, Math.max(this.next, seg.baseOffset));
      this.pos = at?.position ?? SEGMENT_HEADER_BYTES;
      this.posOffset = at?.offset ?? seg.baseOffset;
    }
    return seg;
  }

  /** Reads from `pos` up to 256 KiB, or one whole larger record, never past the written end. */
  private readChunk(seg: SegmentState): Buffer {
    const available = seg.visibleBytes - this.pos;
    const buf = this.readAt(Math.min(available, READ_CHUNK_BYTES));
    if (buf.length < RECORD_HEADER_BYTES) return buf;
    const size = RECORD_HEADER_BYTES + peekRecord(buf, 0).length;
    return size > buf.length && size <= available ? this.readAt(size) : buf;
  }

  private readAt(want: number): Buffer {
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd as number, buf, got, want - got, this.pos + got);
      if (n === 0) break;
      got += n;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  private detach(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.seg = undefined;
  }
}
