/**
 * `LocalDurableSpool`: the edge agent's durable local queue. Samples are appended to
 * segment files, replayed in order by a reader, and deleted once the forwarder
 * acknowledges that the sink has them (at-least-once delivery across `kill -9`).
 *
 * Guarantees:
 * - An append whose promise resolved was handed to the OS by a completed `write()`, so a
 *   `kill -9` (or any process crash) never loses it; against power loss it is durable
 *   once fsynced: at once under `fsync: always`, within about one interval under
 *   `interval` (default 200 ms), never promised under `never`.
 * - Offsets start at 1, rise by one per record and are never reused, across restarts and
 *   repairs (64-bit on disk, safe integers in JavaScript).
 * - After a restart, `reader()` replays every record above the last *persisted*
 *   acknowledgement, in offset order, nothing invented and nothing altered (CRC-32C).
 * - Readers see a record only once it is as durable as the policy makes it (fsynced under
 *   `always` and `interval`, so forwarding lags appends by up to one interval), so a
 *   power loss never takes back a record that was forwarded, and an offset or sequence
 *   never names two different records at the sink.
 * - Before a segment receives its first record, the previous one is fsynced and the
 *   directory entry of the new one is fsynced (except under `never`).
 *
 * At-least-once window: `ack(offset)` takes effect in memory at once and is persisted
 * (atomically, see `io.ts`) every `checkpointIntervalMs` (default 500 ms) and on
 * `close()`. Records acknowledged after the last persisted checkpoint may be replayed
 * again after a crash; the sink must tolerate duplicates (dedupe by offset or sequence).
 *
 * Limits: `maxBytes` bounds the segment files; on overflow `dropOldest` evicts the oldest
 * sealed segments (counting undelivered records as dropped `overflow`) and `block`
 * rejects the append with `SpoolFullError` (nothing written; `waitForRoom` says when to
 * retry). `maxAgeSeconds` is an expiry, applied under either policy: expired records are
 * skipped by readers and dropped (`age`), their segments deleted.
 *
 * Failure behaviour: a failed write is rolled back (truncated) and rejected with
 * `SpoolWriteError`; if it cannot be rolled back, or an fsync fails (the kernel may have
 * dropped the dirty pages), the spool fails closed: appends reject with
 * `SpoolFailedError` until it is reopened, whose recovery rescans and repairs. Damage
 * found on open is repaired and reported, never thrown (see `recovery.ts`).
 *
 * Assumptions: one process per directory; the filesystem honours fsync and atomic rename
 * (ext4, xfs; not network filesystems); a `kill -9` keeps what `write()` returned; a
 * power loss keeps what was fsynced; ingest times come from the wall clock, clamped so
 * they never decrease within a spool.
 *
 * Limitations: appends and reads use synchronous `write`/`read` on the event loop (fast
 * against the page cache, blocking on a stalled disk); the fsync interval and the
 * checkpoint run on timers, so a producer that never yields to the event loop delays
 * them (an append that finds the interval fsync overdue starts one itself, but its
 * completion and the checkpoint still wait for the loop); a batch that spans a segment
 * roll and then fails may be partly appended; space is freed a whole segment at a time,
 * so up to `segmentBytes` of capacity can be held by records already delivered; a wall
 * clock far ahead makes later records look as old as that until it catches up; there is
 * no lock against a second process opening the same directory (keep the DaemonSet's
 * `maxSurge` at 0).
 */
import { ftruncateSync } from 'node:fs';
import { SpoolClosedError, SpoolConfigError, SpoolFailedError, SpoolFullError, SpoolWriteError } from './errors.ts';
import { MAX_OFFSET, MAX_SEQUENCE, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import { GroupCommit } from './group-commit.ts';
import { closeSegment, createSegment, deleteSegmentFile, fdatasyncAsync, fsyncDirectory, writeAll, writeCheckpoint } from './io.ts';
import { resolveSpoolOptions, type ResolvedSpoolOptions, type SpoolOptions } from './options.ts';
import { decideExpiry, decideRoom, deletableSegments, heldBytes, oldestIngestMs, planChunks, recordsAbove } from './plan.ts';
import { type ReaderHost, SpoolReader } from './reader.ts';
import { type RecoveredState, type RecoveryReport, recoverSpool } from './recovery.ts';
import { encodeRecords, type SegmentState } from './segment.ts';
import { SpoolCounters, type SpoolStats } from './stats.ts';
import { Waiters } from './waiters.ts';

/** One record to append. */
export interface SpoolInput {
  readonly payload: Uint8Array;
  /** An application sequence stored with the record (e.g. the sample's), for resuming counters. */
  readonly sequence?: number | undefined;
}

/** Offsets given to an appended batch: `firstOffset..lastOffset`, `count` records. */
export interface AppendResult {
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly count: number;
}

type SpoolState = { readonly kind: 'open' } | { readonly kind: 'failed'; readonly error: SpoolFailedError } | { readonly kind: 'closed' };

const noop = (): void => undefined;

/** A durable, segmented, append-only spool. Create with `LocalDurableSpool.open`. */
export class LocalDurableSpool implements AsyncDisposable {
  /** What the open found and repaired: torn tails, corrupt segments, the checkpoint used. */
  readonly recovery: RecoveryReport;
  /** The options in force, defaults applied. */
  readonly options: ResolvedSpoolOptions;
  private readonly segments: SegmentState[];
  private readonly counters: SpoolCounters;
  private nextOffset: number;
  private visibleThrough: number;
  private acked: number;
  private persistedAck: number;
  private dropFloor = 0;
  private lastSeq: number | undefined;
  private lastIngest: number;
  private state: SpoolState = { kind: 'open' };
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private dataDirty = false;
  private dirDirty = false;
  private lastSyncAt: number;
  private readonly commits: GroupCommit;
  private checkpointTail: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private readonly waiters = new Waiters();
  private readonly readers = new Set<SpoolReader>();
  private readonly life = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly host: ReaderHost;

  private constructor(options: ResolvedSpoolOptions, recovered: RecoveredState) {
    this.options = options;
    this.recovery = recovered.report;
    this.segments = recovered.segments;
    this.nextOffset = recovered.nextOffset;
    this.visibleThrough = recovered.nextOffset - 1;
    this.acked = recovered.ackedOffset;
    this.persistedAck = recovered.ackedOffset;
    this.lastSeq = recovered.lastSequence;
    this.lastIngest = recovered.lastIngestMs;
    this.counters = new SpoolCounters(recovered.report);
    this.lastSyncAt = options.clock.monotonic();
    this.commits = new GroupCommit(() => {
      this.dataDirty = false;
      this.lastSyncAt = options.clock.monotonic();
      return this.syncSegment(this.active);
    });
    this.host = {
      segments: () => this.segments,
      floorOffset: () => this.floor,
      visibleOffset: () => this.visibleThrough,
      expireThrough: (offset) => this.advanceFloor(offset),
      expiryCutoffMs: () => (options.maxAgeMs === undefined ? -Infinity : options.clock.now() - options.maxAgeMs),
      checkOpen: (what) => {
        if (this.state.kind === 'closed') throw new SpoolClosedError(what);
      },
      waitBeyond: (offset, signal) => this.waitFor(() => this.visibleThrough > offset, signal),
    };
  }

  /**
   * Opens (creating if needed) the spool in `options.dir`, recovering from whatever a
   * crash left there. Throws `SpoolConfigError` for invalid options and fs errors for an
   * unusable directory; damage in the data is reported in `recovery`, not thrown.
   */
  static async open(options: SpoolOptions): Promise<LocalDurableSpool> {
    const resolved = resolveSpoolOptions(options);
    const spool = new LocalDurableSpool(resolved, await recoverSpool(resolved));
    spool.start(options.signal);
    return spool;
  }

  /** Offset of the last record appended (0 when none ever was); the next append gets this + 1. */
  get lastOffset(): number {
    return this.nextOffset - 1;
  }

  /** The last application sequence appended (kept across restarts), for `SequenceCounter` to resume. */
  get lastSequence(): number | undefined {
    return this.lastSeq;
  }

  /**
   * Highest offset readers can see: the last one fsynced under `always` and `interval`
   * (and everything found on open), the last one written under `never`.
   */
  get durableOffset(): number {
    return this.visibleThrough;
  }

  /** Highest acknowledged offset (in memory). */
  get ackedOffset(): number {
    return this.acked;
  }

  /** Highest acknowledged offset known to be in the checkpoint file; replay after a crash starts above it. */
  get persistedAckOffset(): number {
    return this.persistedAck;
  }

  /** Appends one record; resolves with its offset once written (and fsynced under `always`). */
  append(payload: Uint8Array, options: { readonly sequence?: number | undefined } = {}): Promise<number> {
    return this.appendBatch([{ payload, sequence: options.sequence }]).then((r) => r.firstOffset);
  }

  /**
   * Appends records in order with consecutive offsets, in as few writes as segments allow.
   * Rejects with `SpoolFullError` (policy `block`), `SpoolConfigError` (a payload above
   * `maxRecordBytes`, a bad sequence), `SpoolWriteError`, `SpoolFailedError` or
   * `SpoolClosedError`.
   */
  appendBatch(records: readonly SpoolInput[]): Promise<AppendResult> {
    try {
      this.checkWritable('append');
      this.validate(records);
      if (this.queued === 0) {
        const written = this.writeNow(records);
        if (written !== undefined) return this.settle(written);
      }
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.queued++;
    const run = this.tail.then(() => this.writeQueued(records)).finally(() => this.queued--);
    this.tail = run.catch(noop);
    return run.then((r) => this.settle(r));
  }

  /**
   * Acknowledges every record up to and including `offset` (the sink has them). Whole
   * segments at or below it are deleted; the acknowledgement is persisted by the next
   * checkpoint. Throws `SpoolConfigError` for an offset never appended.
   */
  ack(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SpoolConfigError(`ack: offset must be a non-negative integer, got ${offset}`);
    if (offset > this.lastOffset) throw new SpoolConfigError(`ack: offset ${offset} was never appended (last offset is ${this.lastOffset})`);
    if (this.state.kind === 'closed') throw new SpoolClosedError('ack');
    if (offset <= this.acked) return;
    this.acked = offset;
    this.deleteBelowFloor();
  }

  /** A new cursor that replays from the oldest record not yet acknowledged or dropped. */
  reader(): SpoolReader {
    this.host.checkOpen('reader');
    const reader: SpoolReader = new SpoolReader(this.host, () => this.readers.delete(reader));
    this.readers.add(reader);
    return reader;
  }

  /** Resolves once `needBytes` (default one largest record) fit under `maxBytes`. */
  waitForRoom(needBytes: number = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + this.options.maxRecordBytes, signal?: AbortSignal): Promise<void> {
    return this.waitFor(() => heldBytes(this.segments) + needBytes <= this.options.maxBytes, signal);
  }

  /** Forces an fsync of everything appended so far (useful under `interval` or `never`). */
  async sync(): Promise<void> {
    this.checkWritable('sync');
    await this.requestSync();
  }

  /** Persists the current acknowledgement now (write temp, fsync, rename, fsync directory). */
  checkpoint(): Promise<void> {
    const run = this.checkpointTail.then(async () => {
      const ack = this.acked;
      this.dirDirty = false;
      try {
        await writeCheckpoint(this.options.dir, ack, { sync: this.options.fsync.mode !== 'never' });
        this.persistedAck = Math.max(this.persistedAck, ack);
        this.counters.checkpoints++;
      } catch (err) {
        this.dirDirty = true;
        this.counters.checkpointErrors++;
        throw err;
      }
    });
    this.checkpointTail = run.catch(noop);
    return run;
  }

  /** Counters and gauges for metrics and the fleet heartbeat. */
  stats(): SpoolStats {
    let records = 0;
    for (const seg of this.segments) records += recordsAbove(seg, this.floor);
    const oldest = oldestIngestMs(this.segments, this.floor);
    return this.counters.snapshot({
      group: this.options.group,
      state: this.state.kind,
      records,
      bytes: heldBytes(this.segments),
      segments: this.segments.length,
      lastOffset: this.lastOffset,
      durableOffset: this.visibleThrough,
      lastSequence: this.lastSeq,
      ackedOffset: this.acked,
      persistedAckOffset: this.persistedAck,
      oldestUnackedAgeMs: oldest === undefined ? undefined : Math.max(0, this.options.clock.now() - oldest),
    });
  }

  /**
   * Stops the timers, lets queued appends settle (they reject), fsyncs the active segment,
   * persists the acknowledgement and closes readers. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private get active(): SegmentState {
    return this.segments[this.segments.length - 1] as SegmentState;
  }

  private get floor(): number {
    return Math.max(this.acked, this.dropFloor);
  }

  private start(signal: AbortSignal | undefined): void {
    if (signal?.aborted) {
      void this.close().catch(noop);
      return;
    }
    signal?.addEventListener('abort', () => void this.close().catch(noop), { once: true, signal: this.life.signal });
    this.loops.push(this.every(this.options.checkpointIntervalMs, () => this.maintain()));
    const fsync = this.options.fsync;
    if (fsync.mode === 'interval') this.loops.push(this.every(fsync.intervalMs, () => (this.dataDirty && this.state.kind === 'open' ? this.requestSync() : Promise.resolve())));
  }

  private async every(ms: number, task: () => Promise<void>): Promise<void> {
    const signal = this.life.signal;
    while (!signal.aborted) {
      try {
        await this.options.clock.sleep(ms, signal);
      } catch {
        return;
      }
      await task().catch(noop); // failures are counted, and fail the spool where they must
    }
  }

  private async maintain(): Promise<void> {
    if (this.state.kind === 'closed') return;
    const expiry = decideExpiry({ segments: this.segments, floorOffset: this.floor, nowMs: this.options.clock.now(), maxAgeMs: this.options.maxAgeMs });
    if (expiry.floorOffset > this.floor) this.advanceFloor(expiry.floorOffset);
    if (this.acked > this.persistedAck || this.dirDirty) await this.checkpoint();
  }

  private advanceFloor(offset: number): void {
    if (offset <= this.floor) return;
    for (const seg of this.segments) this.counters.droppedAge += recordsAbove(seg, this.floor) - recordsAbove(seg, offset);
    this.dropFloor = offset;
    this.deleteBelowFloor();
  }

  private deleteBelowFloor(): void {
    this.deleteLeading(deletableSegments(this.segments, this.floor));
  }

  private deleteLeading(count: number): void {
    for (let i = 0; i < count; i++) {
      const seg = this.segments.shift() as SegmentState;
      closeSegment(seg);
      if (!deleteSegmentFile(seg.path)) this.counters.deleteErrors++;
      this.dirDirty = true;
    }
    if (count > 0) this.wake();
  }

  private checkWritable(what: string): void {
    if (this.state.kind === 'closed' || this.closing !== undefined) throw new SpoolClosedError(what);
    if (this.state.kind === 'failed') throw this.state.error;
  }

  private validate(records: readonly SpoolInput[]): void {
    for (let i = 0; i < records.length; i++) {
      const rec = records[i] as SpoolInput;
      if (!(rec.payload instanceof Uint8Array)) throw new SpoolConfigError(`record ${i}: payload must be a Uint8Array`);
      if (rec.payload.length > this.options.maxRecordBytes) throw new SpoolConfigError(`record ${i}: payload of ${rec.payload.length} bytes exceeds maxRecordBytes ${this.options.maxRecordBytes}`);
      const seq = rec.sequence;
      if (seq !== undefined && !(Number.isSafeInteger(seq) && seq >= 0 && seq <= MAX_SEQUENCE)) throw new SpoolConfigError(`record ${i}: sequence must be an integer in [0, ${MAX_SEQUENCE}], got ${seq}`);
    }
    if (this.nextOffset + records.length - 1 > MAX_OFFSET) throw new SpoolConfigError('offsets exhausted (2^53 - 1)');
  }

  /** The fast path: the whole batch fits the active segment, so write it synchronously. */
  private writeNow(records: readonly SpoolInput[]): AppendResult | undefined {
    if (records.length === 0) return { firstOffset: this.nextOffset, lastOffset: this.nextOffset - 1, count: 0 };
    const plan = planChunks(this.active.bytes, records.map((r) => r.payload.length), this.options.segmentBytes);
    const only = plan.chunks[0];
    if (plan.chunks.length !== 1 || only === undefined || only.roll) return undefined;
    this.makeRoom(plan.needBytes);
    return this.writeChunk(records, 0, records.length);
  }

  /** The general path, serialized behind earlier appends: may roll segments. */
  private async writeQueued(records: readonly SpoolInput[]): Promise<AppendResult> {
    this.checkWritable('append');
    const first = this.nextOffset;
    const plan = planChunks(this.active.bytes, records.map((r) => r.payload.length), this.options.segmentBytes);
    const block = this.options.overflow === 'block';
    if (block) this.makeRoom(plan.needBytes);
    let from = 0;
    for (const chunk of plan.chunks) {
      if (!block) this.makeRoom(chunk.bytes + (chunk.roll ? SEGMENT_HEADER_BYTES : 0));
      if (chunk.roll) await this.roll();
      this.writeChunk(records, from, chunk.count);
      from += chunk.count;
    }
    return { firstOffset: first, lastOffset: this.nextOffset - 1, count: records.length };
  }

  private settle(result: AppendResult): Promise<AppendResult> {
    const fsync = this.options.fsync;
    if (fsync.mode === 'always' && result.count > 0) return this.requestSync().then(() => result);
    // A producer that never yields to the event loop starves the interval timer: sync from here too.
    if (fsync.mode === 'interval' && !this.commits.pending && this.options.clock.monotonic() - this.lastSyncAt >= fsync.intervalMs) this.requestSync().catch(noop);
    return Promise.resolve(result);
  }

  private makeRoom(needBytes: number): void {
    const { maxBytes, overflow } = this.options;
    const decision = decideRoom({ segments: this.segments, floorOffset: this.floor, needBytes, maxBytes, overflow });
    if (decision.kind === 'fits') return;
    if (decision.kind === 'full') {
      this.counters.rejectedFull++;
      throw new SpoolFullError({ heldBytes: decision.heldBytes, maxBytes, neededBytes: needBytes, reason: decision.reason });
    }
    this.counters.droppedOverflow += decision.droppedRecords;
    this.deleteLeading(decision.segments);
  }

  /** Encodes `count` records into the scratch buffer and writes them to the active segment in one call. */
  private writeChunk(records: readonly SpoolInput[], from: number, count: number): AppendResult {
    const seg = this.active;
    let total = 0;
    for (let i = from; i < from + count; i++) total += RECORD_HEADER_BYTES + (records[i] as SpoolInput).payload.length;
    if (this.scratch.length < total) this.scratch = Buffer.allocUnsafe(Math.max(total, 2 * this.scratch.length));
    const ingestMs = Math.max(Math.floor(this.options.clock.now()), this.lastIngest);
    const firstOffset = this.nextOffset;
    const base = seg.bytes;
    const encoded = encodeRecords(this.scratch, records, { from, count }, { firstOffset, ingestMs, position: base, nextIndexAt: seg.nextIndexAt, previousSequence: this.lastSeq });
    try {
      writeAll(seg.fd as number, this.scratch, 0, encoded.bytes, base);
    } catch (err) {
      this.rollBack(seg, base, firstOffset, err);
    }
    for (let i = 0; i < encoded.indexed.length; i += 2) {
      seg.index.offsets.push(encoded.indexed[i] as number);
      seg.index.positions.push(encoded.indexed[i + 1] as number);
      seg.index.ingestMs.push(ingestMs);
    }
    seg.nextIndexAt = encoded.nextIndexAt;
    seg.bytes = base + encoded.bytes;
    seg.lastOffset = firstOffset + count - 1;
    seg.lastIngestMs = ingestMs;
    seg.lastSequence = encoded.lastSequence;
    if (this.options.fsync.mode === 'never') {
      seg.visibleBytes = seg.bytes;
      this.visibleThrough = seg.lastOffset;
    }
    this.nextOffset = firstOffset + count;
    this.lastSeq = encoded.lastSequence;
    this.lastIngest = ingestMs;
    this.dataDirty = true;
    this.wake();
    return { firstOffset, lastOffset: firstOffset + count - 1, count };
  }

  private rollBack(seg: SegmentState, base: number, firstOffset: number, cause: unknown): never {
    try {
      ftruncateSync(seg.fd as number, base);
    } catch {
      throw this.fail(new SpoolFailedError(`write to ${seg.path} failed and could not be rolled back; reopen the spool`, cause));
    }
    throw new SpoolWriteError(`write to ${seg.path} failed and was rolled back; records from offset ${firstOffset} were not appended`, cause);
  }

  /** Seals the active segment (fsynced first unless `never`) and starts the next one. */
  private async roll(): Promise<void> {
    const old = this.active;
    const sync = this.options.fsync.mode !== 'never';
    if (sync) await this.syncSegment(old);
    let seg: SegmentState;
    try {
      seg = createSegment(this.options.dir, this.nextOffset, this.lastSeq);
    } catch (err) {
      throw new SpoolWriteError(`could not create segment for offset ${this.nextOffset} in ${this.options.dir}`, err);
    }
    old.sealed = true;
    closeSegment(old);
    this.segments.push(seg);
    if (!sync) return;
    await this.syncSegment(seg);
    try {
      await fsyncDirectory(this.options.dir);
    } catch (err) {
      throw this.fail(new SpoolFailedError(`fsync of directory ${this.options.dir} failed`, err));
    }
  }

  /** Group commit: resolves after an fsync of the active segment that started after this call. */
  private requestSync(): Promise<void> {
    return this.commits.request();
  }

  private async syncSegment(seg: SegmentState): Promise<void> {
    const fd = seg.fd;
    if (fd === undefined) return;
    const bytes = seg.bytes;
    const through = seg.lastOffset;
    seg.syncing++;
    try {
      await fdatasyncAsync(fd);
      this.counters.fsyncs++;
      seg.visibleBytes = Math.max(seg.visibleBytes, bytes);
      this.visibleThrough = Math.max(this.visibleThrough, through);
      this.wake();
    } catch (err) {
      throw this.fail(new SpoolFailedError(`fsync of ${seg.path} failed; reopen the spool`, err));
    } finally {
      seg.syncing--;
      if (seg.sealed) closeSegment(seg);
    }
  }

  private fail(error: SpoolFailedError): SpoolFailedError {
    if (this.state.kind === 'open') this.state = { kind: 'failed', error };
    this.wake();
    return this.state.kind === 'failed' ? this.state.error : error;
  }

  private waitFor(ready: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    const stopped = (): Error | undefined => (this.state.kind !== 'open' || this.closing !== undefined ? new SpoolClosedError('wait') : undefined);
    return this.waiters.wait(ready, stopped, signal);
  }

  private wake(): void {
    this.waiters.wake();
  }

  private async shutdown(): Promise<void> {
    this.life.abort();
    this.wake();
    await Promise.allSettled(this.loops);
    await this.tail;
    let failure: Error | undefined;
    const keep = (err: unknown): void => {
      failure ??= err instanceof Error ? err : new Error(String(err));
    };
    const active = this.active;
    active.sealed = true;
    if (this.state.kind === 'open' && this.options.fsync.mode !== 'never') await this.requestSync().catch(keep);
    await this.commits.idle();
    closeSegment(active);
    if (this.acked > this.persistedAck || this.dirDirty) await this.checkpoint().catch(keep);
    for (const reader of [...this.readers]) reader.close();
    this.state = { kind: 'closed' };
    this.wake();
    if (failure !== undefined) throw failure;
  }
}
