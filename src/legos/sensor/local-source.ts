/**
 * LocalSensorSource: a polled sensor. Reads a value through a `RetryLoop` (retry,
 * backoff, per-attempt timeout), wraps it in a `SensorSample` with source and ingest
 * times and the next sequence number, and publishes it. The sequence number is
 * consumed only when the publish succeeds.
 *
 * Better than the reference: `run(signal)` polls on a drift-corrected interval
 * (`runOnInterval`) through the Clock seam, counts skipped ticks when a read overruns
 * the interval, and stops when the signal aborts. The retry loop and (unless given) the
 * sequence counter are owned by the source and carry its `group`.
 *
 * Failure behaviour: `poll` rethrows a read or publish failure after counting it; `run`
 * counts and reports failures to `onError` and keeps polling. `consecutiveFailures`
 * (reset by a published sample) is what a `SensorHealthWatchdog` reads.
 *
 * Limitations: one poll at a time per source (`run` never overlaps polls; do not call
 * `poll` concurrently with `run`); the read function must honour its AbortSignal for a
 * timeout to free its resources.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { type AttemptContext, type BackoffPolicy, RetryLoop, type RetryPolicy } from '../retry.ts';
import { checkInterval, runOnInterval } from './schedule.ts';
import { SequenceCounter } from './sequence.ts';
import type { SensorSample } from './types.ts';

/** Where a failure happened. */
export type SourceFailureStage = 'read' | 'publish';

/** Options of a {@link LocalSensorSource}. */
export interface LocalSensorSourceOptions<T> {
  /** Reads the sensor once (a file, a command, an HTTP endpoint). */
  read: (context: AttemptContext) => T | Promise<T>;
  /** Hands the sample on (to a filter chain, a buffer, the spool). */
  publish: (sample: SensorSample<T>) => void | Promise<void>;
  /** Poll period for `run`, in ms. Default 1000. */
  intervalMs?: number | undefined;
  /** Default `SystemClock`. */
  clock?: Clock | undefined;
  /** Retry policy of each read. Default: one attempt. */
  retry?: RetryPolicy | undefined;
  /** Backoff between read attempts. Default: none. */
  backoff?: BackoffPolicy | undefined;
  /** Timeout of each read attempt, in ms. Default: none. */
  attemptTimeoutMs?: number | undefined;
  /** Sequence numbers; pass the spool-resumed counter. Default: a new counter starting at 0. */
  sequence?: SequenceCounter | undefined;
  /** The sensor's own timestamp of a value (wall ms), when it has one. Default: the read time. */
  sourceTime?: ((value: T) => number | undefined) | undefined;
  quality?: string | undefined;
  status?: string | undefined;
  /** Reports failures during `run`; must not throw. */
  onError?: ((error: unknown, stage: SourceFailureStage) => void) | undefined;
  /** Metric/log label, passed to the owned retry loop and sequence counter. */
  group?: string | undefined;
}

/** A polled sensor publishing `SensorSample`s. */
export class LocalSensorSource<T> {
  readonly group: string | undefined;
  readonly intervalMs: number;
  readonly retryLoop: RetryLoop;
  readonly sequence: SequenceCounter;
  readonly #options: LocalSensorSourceOptions<T>;
  readonly #clock: Clock;
  #polls = 0;
  #published = 0;
  #readFailures = 0;
  #publishFailures = 0;
  #consecutiveFailures = 0;
  #missedTicks = 0;

  constructor(options: LocalSensorSourceOptions<T>) {
    this.#options = options;
    this.group = options.group;
    this.intervalMs = options.intervalMs ?? 1000;
    checkInterval('LocalSensorSource', 'intervalMs', this.intervalMs);
    this.#clock = options.clock ?? SystemClock;
    this.retryLoop = new RetryLoop({
      retry: options.retry,
      backoff: options.backoff,
      attemptTimeoutMs: options.attemptTimeoutMs,
      clock: this.#clock,
      group: options.group,
    });
    this.sequence = options.sequence ?? new SequenceCounter({ group: options.group });
  }

  /** Polls started. */
  get polls(): number {
    return this.#polls;
  }
  /** Samples published. */
  get published(): number {
    return this.#published;
  }
  /** Polls whose read failed after all retries. */
  get readFailures(): number {
    return this.#readFailures;
  }
  /** Polls whose publish failed. */
  get publishFailures(): number {
    return this.#publishFailures;
  }
  /** Failed polls since the last published sample. */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }
  /** Interval ticks skipped because a poll overran. */
  get missedTicks(): number {
    return this.#missedTicks;
  }

  /** Reads once (with retries) and publishes the sample; rethrows a failure after counting it. */
  async poll(options: { signal?: AbortSignal | undefined } = {}): Promise<SensorSample<T>> {
    this.#polls++;
    let value: T;
    try {
      value = await this.retryLoop.run(this.#options.read, options);
    } catch (error) {
      if (options.signal?.aborted !== true) {
        this.#readFailures++;
        this.#consecutiveFailures++;
      }
      throw error;
    }
    const ingestTimeMs = this.#clock.now();
    try {
      const sample = await this.sequence.withNextAsync(async (sequence) => {
        const sample: SensorSample<T> = {
          value,
          sourceTimeMs: this.#options.sourceTime?.(value) ?? ingestTimeMs,
          ingestTimeMs,
          sequence,
          ...(this.#options.quality === undefined ? {} : { quality: this.#options.quality }),
          ...(this.#options.status === undefined ? {} : { status: this.#options.status }),
        };
        await this.#options.publish(sample);
        return sample;
      });
      this.#published++;
      this.#consecutiveFailures = 0;
      return sample;
    } catch (error) {
      this.#publishFailures++;
      this.#consecutiveFailures++;
      throw error;
    }
  }

  /** Polls every `intervalMs` (first poll at once) until `signal` aborts; never rejects for poll failures. */
  async run(signal: AbortSignal): Promise<void> {
    await runOnInterval({
      clock: this.#clock,
      intervalMs: this.intervalMs,
      signal,
      onMissed: (skipped) => (this.#missedTicks += skipped),
      tick: async () => {
        const failedBefore = this.#readFailures;
        try {
          await this.poll({ signal });
        } catch (error) {
          if (signal.aborted) return;
          this.#options.onError?.(error, this.#readFailures > failedBefore ? 'read' : 'publish');
        }
      },
    });
  }
}
