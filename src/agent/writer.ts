/**
 * SampleWriter: the single writer of the spool. Sensors offer samples into a bounded
 * queue; one pump drains it in batches, stamps each sample with the agent-wide sequence
 * number (a `SequenceCounter` resumed from the spool's last sequence, so numbers continue
 * across restarts), appends the batch, and only when the append returned counts the
 * samples as accepted. Batching amortises the append (one `write()` per batch) and lets
 * many sensors share it; the sequence stays gap-free because a failed append reuses
 * its numbers.
 *
 * Guarantees: a sample is "accepted" (counted, reported to `onAccepted`, written to the
 * optional acknowledgement log) only after its spool append resolved, so it survives
 * `kill -9` and will be forwarded at least once. Sequence numbers rise by one per
 * accepted sample and are never reused, in this process or after a restart on the same
 * spool.
 *
 * Failure behaviour: under `overflow: block` a full spool parks the batch, sets
 * `blocked` (sensors skip reads, stream samples are dropped as `spoolFull`) and retries
 * once `waitForRoom` says it fits; a failed write (`SpoolWriteError`) is retried after a
 * pause; a failed or closed spool parks the batch and calls `onSpoolFailed` so the agent
 * can reopen the spool and `resume` the writer. A full queue rejects offers (`queueFull`).
 *
 * Limitations: one writer per spool; the queue holds at most `capacity` samples in
 * memory (lost on `kill -9`: they were never accepted); batches are capped at
 * `min(256 KiB, segmentBytes / 2)` so a small spool can always take one.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../legos/clock.ts';
import { BoundedRingBuffer, type JsonValue, SequenceCounter } from '../legos/sensor/index.ts';
import { type LocalDurableSpool, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, SpoolConfigError, SpoolFullError, type SpoolInput, SpoolWriteError } from '../legos/spool/index.ts';
import { encodeSample } from './decode.ts';
import type { AgentStats, SensorStats } from './stats.ts';

/** A sample waiting for its spool append. */
export interface PendingSample {
  readonly sensor: string;
  /** `JSON.stringify(sensor)`, computed once per sensor. */
  readonly sensorJson: string;
  readonly value: JsonValue;
  readonly sourceTimeMs: number;
  readonly ingestTimeMs: number;
  /** The sensor's counters (accepted and dropped are counted here). */
  readonly stats: SensorStats;
}

/** Samples taken from the queue, encoded as spool records numbered from `first`. */
interface EncodedBatch {
  readonly samples: PendingSample[];
  readonly records: SpoolInput[];
  readonly first: number;
  /** What the batch adds to the spool at most: its records with headers, plus one segment header. */
  readonly bytes: number;
}

/** Appends `first last` lines (sequence ranges of accepted samples) to a file, synchronously. */
export class AckLog {
  readonly #fd: number;

  constructor(path: string) {
    this.#fd = openSync(path, 'a');
  }

  /** Records that samples `first..last` were accepted; returns once `write()` returned. */
  record(first: number, last: number): void {
    writeSync(this.#fd, `${first} ${last}\n`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Options of a {@link SampleWriter}. */
export interface SampleWriterOptions {
  readonly spool: LocalDurableSpool;
  readonly clock: Clock;
  readonly stats: AgentStats;
  /** Samples waiting at most. Default 8192. */
  readonly capacity?: number | undefined;
  /** Samples per append at most. Default 1024. */
  readonly maxBatch?: number | undefined;
  /** Pause after a failed write before retrying, ms. @default 1000 */
  readonly retryDelayMs?: number | undefined;
  readonly ackLog?: AckLog | undefined;
  /** Called after each accepted batch with the newest ingest time (wall ms). Must not throw. */
  readonly onAccepted?: ((lastIngestMs: number, count: number) => void) | undefined;
  /** Called when the spool failed or closed under the writer. Must not throw. */
  readonly onSpoolFailed?: ((error: unknown) => void) | undefined;
}

/** The spool's single writer; see the module header. */
export class SampleWriter {
  readonly #options: SampleWriterOptions;
  readonly #queue: BoundedRingBuffer<PendingSample>;
  readonly #maxBatch: number;
  readonly #sequence: SequenceCounter;
  readonly #life = new AbortController();
  /** Aborted by `pause` to cut short a wait for room or a retry pause. */
  #interrupt = new AbortController();
  #spool: LocalDurableSpool;
  #parked: EncodedBatch | undefined;
  #pump: Promise<void> | undefined;
  #scheduled = false;
  #paused = false;
  #blocked = false;
  #failed: unknown;
  #writeError: string | undefined;
  #lastAcceptedMs: number | undefined;
  #appendedRecords = 0;
  #appendedBytes = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(options: SampleWriterOptions) {
    this.#options = options;
    this.#spool = options.spool;
    this.#queue = new BoundedRingBuffer({ capacity: options.capacity ?? 8192, overflow: 'reject', group: 'agent-writer' });
    this.#maxBatch = options.maxBatch ?? 1024;
    this.#sequence = new SequenceCounter({ start: options.spool.lastSequence ?? 0, group: 'agent' });
  }

  /** True while a full spool (overflow `block`) refuses samples. */
  get blocked(): boolean {
    return this.#blocked;
  }
  /** The error that stopped the writer, until `resume`. */
  get failure(): unknown {
    return this.#failed;
  }
  /** Why appends do not succeed now (a failed spool, or a write error being retried), if so. */
  get problem(): string | undefined {
    if (this.#failed !== undefined) return this.#failed instanceof Error ? this.#failed.message : 'spool failed';
    return this.#writeError;
  }
  /** Samples waiting (queued or parked). */
  get pending(): number {
    return this.#queue.size + (this.#parked?.samples.length ?? 0);
  }
  /** Average bytes a record takes in the spool (header included), once something was appended. */
  get averageRecordBytes(): number | undefined {
    return this.#appendedRecords === 0 ? undefined : this.#appendedBytes / this.#appendedRecords;
  }
  /** The last sequence number accepted. */
  get lastSequence(): number {
    return this.#sequence.current;
  }
  /** Wall time (ms) of the newest accepted sample's ingest, if any in this process. */
  get lastAcceptedMs(): number | undefined {
    return this.#lastAcceptedMs;
  }

  /** Queues a sample; false (and counted as dropped) when the spool is blocked or the queue full. */
  offer(sample: PendingSample): boolean {
    if (this.#blocked) {
      sample.stats.dropped.spoolFull++;
      return false;
    }
    if (!this.#queue.push(sample)) {
      sample.stats.dropped.queueFull++;
      return false;
    }
    this.#schedule();
    return true;
  }

  /** Resolves once everything queued so far was appended (or the writer stopped or `signal` aborted). */
  async flush(signal?: AbortSignal): Promise<void> {
    while (this.pending > 0 && !this.#paused && this.#failed === undefined && signal?.aborted !== true) {
      this.#schedule();
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true, signal: this.#life.signal });
      });
    }
  }

  /** Stops appending (the queue keeps filling) and waits for the append in flight. */
  async pause(): Promise<void> {
    this.#paused = true;
    this.#interrupt.abort();
    await this.#pump;
  }

  /** Continues on `spool` (e.g. reopened after a failure or a reload). */
  resume(spool: LocalDurableSpool): void {
    this.#spool = spool;
    this.#interrupt = new AbortController();
    this.#sequence.resumeFrom(Math.max(this.#sequence.current, spool.lastSequence ?? 0));
    this.#paused = false;
    this.#failed = undefined;
    this.#blocked = false;
    this.#schedule();
  }

  /** Stops for good; queued samples are not appended. */
  async close(): Promise<void> {
    this.#life.abort();
    await this.pause();
    this.#options.ackLog?.close();
  }

  #schedule(): void {
    if (this.#scheduled || this.#pump !== undefined || this.#paused || this.#life.signal.aborted) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#pump === undefined) this.#pump = this.#run().finally(() => (this.#pump = undefined));
    });
  }

  async #run(): Promise<void> {
    try {
      while (!this.#paused && !this.#life.signal.aborted && this.#failed === undefined) {
        const batch = this.#parked ?? this.#take();
        this.#parked = undefined;
        if (batch.samples.length === 0) return;
        if (!(await this.#append(batch))) this.#parked ??= batch;
      }
    } finally {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /**
   * The next batch from the queue, encoded with the next sequence numbers, bounded by
   * count and bytes (so even a small spool can take it whole).
   */
  #take(): EncodedBatch {
    const capBytes = Math.min(256 * 1024, Math.floor(this.#spool.options.segmentBytes / 2));
    const first = this.#sequence.next();
    const samples: PendingSample[] = [];
    const records: SpoolInput[] = [];
    let bytes = SEGMENT_HEADER_BYTES;
    while (samples.length < this.#maxBatch) {
      const next = this.#queue.peek();
      if (next === undefined) break;
      const seq = first + samples.length;
      const payload = encodeSample(next.sensorJson, seq, next.value, next.sourceTimeMs, next.ingestTimeMs);
      if (samples.length > 0 && bytes + RECORD_HEADER_BYTES + payload.length > capBytes) break;
      samples.push(this.#queue.pop() as PendingSample);
      records.push({ payload, sequence: seq });
      bytes += RECORD_HEADER_BYTES + payload.length;
    }
    return { samples, records, first, bytes };
  }

  /** Appends one batch; true when done with it (accepted or dropped), false to retry it. */
  async #append(taken: EncodedBatch): Promise<boolean> {
    // A parked batch keeps its numbers unless a resume on another spool moved the counter.
    const batch = taken.first === this.#sequence.next() ? taken : this.#reencode(taken);
    const { samples, records, first } = batch;
    try {
      await this.#spool.appendBatch(records);
    } catch (error) {
      return this.#appendFailed(batch, error);
    }
    this.#writeError = undefined;
    this.#appendedRecords += records.length;
    this.#appendedBytes += batch.bytes - SEGMENT_HEADER_BYTES;
    for (let i = 0; i < samples.length; i++) this.#sequence.commit(this.#sequence.next());
    this.#options.ackLog?.record(first, first + samples.length - 1);
    let newest = 0;
    for (const sample of samples) {
      sample.stats.accepted++;
      if (sample.ingestTimeMs > newest) newest = sample.ingestTimeMs;
    }
    this.#lastAcceptedMs = Math.max(this.#lastAcceptedMs ?? 0, newest);
    this.#options.onAccepted?.(newest, samples.length);
    return true;
  }

  #reencode(batch: EncodedBatch): EncodedBatch {
    const first = this.#sequence.next();
    const records = batch.samples.map((s, i) => ({ payload: encodeSample(s.sensorJson, first + i, s.value, s.sourceTimeMs, s.ingestTimeMs), sequence: first + i }));
    return { samples: batch.samples, records, first, bytes: records.reduce((sum, r) => sum + RECORD_HEADER_BYTES + r.payload.length, SEGMENT_HEADER_BYTES) };
  }

  async #appendFailed(batch: EncodedBatch, error: unknown): Promise<boolean> {
    const signal = this.#interrupt.signal;
    if (error instanceof SpoolFullError) {
      this.#blocked = true;
      try {
        await this.#spool.waitForRoom(batch.bytes, signal);
      } catch {
        return false; // closing, or the spool closed: the agent resumes us on a new one
      } finally {
        this.#blocked = false;
      }
      return false;
    }
    if (error instanceof SpoolWriteError) {
      this.#options.stats.spoolWriteErrors++;
      this.#writeError = error.message;
      await this.#options.clock.sleep(this.#options.retryDelayMs ?? 1000, signal).catch(() => undefined);
      return false;
    }
    if (error instanceof SpoolConfigError) {
      for (const sample of batch.samples) sample.stats.dropped.spoolError++; // a record the spool can never take
      return true;
    }
    this.#failed = error;
    this.#parked = batch;
    this.#options.onSpoolFailed?.(error);
    return false;
  }
}
