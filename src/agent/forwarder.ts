/**
 * Forwarder: the I/O shell around the pure state machine of `forwarder-machine.ts`. It
 * reads batches from a spool reader, sends them through a `Sink`, and acknowledges the
 * spool only after the sink resolved, so delivery is at-least-once across `kill -9`
 * (records acknowledged after the spool's last checkpoint are sent again after a crash).
 *
 * Phases and their I/O: `idle` reads the next batch (or waits for records, then lingers
 * `lingerMs` so a trickle goes out in fuller batches); `sending` calls the sink;
 * `backingOff` sleeps on the Clock until the retry time; `stopped` returns. `drain`
 * turns a running forwarder into one that stops when caught up or at a deadline (a
 * send in flight at the deadline is abandoned, unacknowledged).
 *
 * Failure behaviour: sink failures are counted by class and retried for ever with the
 * backoff policy's delays; a spool read that throws (damage found after open) or an
 * acknowledgement the spool refuses ends `run` with that error, for the agent to
 * reopen the spool (whose recovery quarantines the damage).
 *
 * Limitations: one batch in flight; a batch's payloads stay in memory until acknowledged.
 */
import type { Logger } from '../runtime/log.ts';
import type { Clock } from '../legos/clock.ts';
import type { BackoffPolicy } from '../legos/sensor/index.ts';
import type { LocalDurableSpool, SpoolReader } from '../legos/spool/index.ts';
import { type BatchLimits, lingerBeforeRead, type OutboundBatch, toBatch } from './batch.ts';
import type { FleetIdentity } from './config.ts';
import { type ForwarderInput, type ForwarderState, initialForwarderState, stepForwarder, type StopReason } from './forwarder-machine.ts';
import { classifySinkError, describeSinkError, type Sink } from './sinks.ts';
import type { ForwardStats } from './stats.ts';

/** Options of a {@link Forwarder}. */
export interface ForwarderOptions {
  readonly spool: LocalDurableSpool;
  readonly sink: Sink;
  readonly clock: Clock;
  /** Delays between failed sends of a batch (the forwarder's outage backoff). */
  readonly backoff: BackoffPolicy;
  readonly limits: BatchLimits;
  /** Wait after new records arrive on an idle forwarder, ms. @default 100 */
  readonly lingerMs?: number | undefined;
  readonly fleet: FleetIdentity;
  readonly node: string;
  readonly stats: ForwardStats;
  readonly log: Logger;
}

const ignore = (): void => undefined;

/** Moves spooled records to the sink; see the module header. */
export class Forwarder {
  readonly #o: ForwarderOptions;
  #state: ForwarderState = initialForwarderState();
  /** Aborted (and replaced) to wake the loop from a wait. */
  #wake = new AbortController();
  /** Aborted when the drain deadline passes: abandons a send in flight. */
  readonly #deadline = new AbortController();
  /** Aborted when `run` returns: cancels the deadline timer. */
  readonly #timers = new AbortController();

  constructor(options: ForwarderOptions) {
    this.#o = options;
  }

  /** The state machine's current state (read-only data). */
  get state(): ForwarderState {
    return this.#state;
  }

  /** Forward what is spooled, then stop; stop anyway at `deadlineMs` (monotonic). */
  drain(deadlineMs: number): void {
    this.#apply({ type: 'drain', deadlineMs });
    const wait = deadlineMs - this.#o.clock.monotonic();
    const deadline = this.#deadline;
    if (wait <= 0) deadline.abort();
    else if (!this.#timers.signal.aborted) void this.#o.clock.sleep(wait, this.#timers.signal).then(() => deadline.abort(), ignore);
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  /** Runs until stopped (drained, deadline) or `signal` aborts; returns why it stopped. */
  async run(signal: AbortSignal): Promise<StopReason> {
    const reader = this.#o.spool.reader();
    let batch: OutboundBatch | undefined;
    let lastBatchFull = true;
    try {
      for (;;) {
        if (signal.aborted) this.#apply({ type: 'abort' });
        const phase = this.#state.phase;
        switch (phase.kind) {
          case 'stopped':
            return phase.reason;
          case 'idle': {
            const records = reader.read(this.#o.limits);
            if (records.length === 0) {
              this.#apply({ type: 'caughtUp' });
              if (this.#state.phase.kind !== 'idle') break;
              await this.#waitForRecords(reader, signal);
              const linger = lingerBeforeRead({ lastBatchFull, draining: this.#state.drainDeadlineMs !== undefined, lingerMs: this.#o.lingerMs ?? 100 });
              if (linger > 0) await this.#o.clock.sleep(linger, this.#interruptible(signal)).catch(ignore);
              lastBatchFull = false;
              break;
            }
            batch = toBatch(records, this.#o.fleet, this.#o.node);
            lastBatchFull = records.length >= this.#o.limits.maxRecords;
            this.#apply({ type: 'batchRead', batch: batch.ref });
            break;
          }
          case 'sending':
            await this.#send(batch as OutboundBatch, signal);
            break;
          case 'backingOff': {
            const wait = phase.retryAtMs - this.#o.clock.monotonic();
            if (wait > 0) await this.#o.clock.sleep(wait, this.#interruptible(signal)).catch(ignore);
            this.#apply({ type: 'timer' });
            break;
          }
        }
      }
    } finally {
      this.#timers.abort();
      reader.close();
    }
  }

  /** `signal`, or a drain request, or the drain deadline. */
  #interruptible(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, this.#wake.signal, this.#deadline.signal]);
  }

  async #send(batch: OutboundBatch, signal: AbortSignal): Promise<void> {
    const { stats, log } = this.#o;
    try {
      await this.#o.sink.send(batch, AbortSignal.any([signal, this.#deadline.signal]));
    } catch (error) {
      if (signal.aborted) return; // the loop applies the abort
      const errorClass = classifySinkError(error);
      const description = describeSinkError(error);
      stats.countError(errorClass);
      stats.lastError = description;
      if (this.#state.consecutiveFailures === 0) log.warn({ event: 'forward_failed', errorClass, err: description, firstOffset: batch.ref.firstOffset }, 'sink did not take the batch; backing off');
      this.#apply({ type: 'failed', error: `${errorClass}: ${description}` });
      stats.consecutiveFailures = this.#state.consecutiveFailures;
      return;
    }
    const failures = this.#state.consecutiveFailures;
    const { ack } = this.#apply({ type: 'sent' });
    if (ack !== undefined) this.#o.spool.ack(ack);
    stats.batches++;
    stats.records += batch.ref.count;
    stats.bytes += batch.ref.bytes;
    stats.consecutiveFailures = 0;
    if (failures > 0) log.info({ event: 'forward_recovered', failures }, 'sink takes batches again');
  }

  async #waitForRecords(reader: SpoolReader, signal: AbortSignal): Promise<void> {
    await reader.wait(this.#interruptible(signal)).catch(ignore);
  }

  #apply(input: ForwarderInput): { ack?: number | undefined } {
    const result = stepForwarder(this.#state, input, this.#o.clock.monotonic(), this.#o.backoff);
    this.#state = result.state;
    if (result.state.phase.kind === 'stopped' && input.type !== 'abort') this.#o.log.debug({ event: 'forwarder_stopped', reason: result.reason });
    return { ack: result.ack };
  }
}
