/**
 * RateMatchedSensor: couples a fast producer (a sensor pushing hundreds of readings a
 * second) to a slow consumer (a forwarder, a display) without unbounded buffering.
 * Offered items wait in a bounded buffer; each demand signal releases one item to
 * `emit`.
 *
 * - `latest`: only the newest item is kept (each offer replaces the waiting one), so
 *   the consumer always gets the freshest reading;
 * - `fifo`: up to `capacity` items wait in arrival order; when full the oldest is
 *   dropped (counted).
 *
 * Better than the reference: besides explicit `demand()` calls, `run(signal)` releases
 * one item every `releaseIntervalMs` on the Clock seam (drift-corrected), turning a
 * bursty source into a steady rate.
 *
 * Failure behaviour: if `emit` throws, the item is lost (counted in `emitFailures`);
 * `demand()` rethrows, `run` reports to `onError` and continues.
 *
 * Limitations: a demand with nothing waiting is not remembered (no credit), so the next
 * offered item waits for the next demand.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { BoundedRingBuffer } from './ring-buffer.ts';
import { checkInterval, runOnInterval } from './schedule.ts';

/** `latest` keeps only the newest item; `fifo` keeps a bounded queue. */
export type RateMatchMode = 'latest' | 'fifo';

/** Options of a {@link RateMatchedSensor}. */
export interface RateMatchedSensorOptions<T> {
  /** Receives each released item. */
  emit: (item: T) => void;
  /** Default `'latest'`. */
  mode?: RateMatchMode | undefined;
  /** Items waiting at most in `fifo` mode; a positive integer. Default 16. Ignored by `latest` (1). */
  capacity?: number | undefined;
  /** Release period for `run`, in ms. */
  releaseIntervalMs?: number | undefined;
  clock?: Clock | undefined;
  onError?: ((error: unknown) => void) | undefined;
  /** Metric/log label, passed to the owned buffer. */
  group?: string | undefined;
}

/** Buffers a fast stream and releases one item per demand or per interval. */
export class RateMatchedSensor<T> {
  readonly mode: RateMatchMode;
  readonly group: string | undefined;
  readonly releaseIntervalMs: number | undefined;
  readonly #buffer: BoundedRingBuffer<T>;
  readonly #options: RateMatchedSensorOptions<T>;
  readonly #clock: Clock;
  #released = 0;
  #idleDemands = 0;
  #emitFailures = 0;

  constructor(options: RateMatchedSensorOptions<T>) {
    this.#options = options;
    this.mode = options.mode ?? 'latest';
    this.group = options.group;
    this.releaseIntervalMs = options.releaseIntervalMs;
    if (this.releaseIntervalMs !== undefined) checkInterval('RateMatchedSensor', 'releaseIntervalMs', this.releaseIntervalMs);
    this.#clock = options.clock ?? SystemClock;
    this.#buffer =
      this.mode === 'latest'
        ? new BoundedRingBuffer<T>({ capacity: 1, overflow: 'latest', group: options.group })
        : new BoundedRingBuffer<T>({ capacity: options.capacity ?? 16, overflow: 'dropOldest', group: options.group });
  }

  /** Items offered. */
  get offered(): number {
    return this.#buffer.pushed;
  }
  /** Items handed to `emit` successfully. */
  get released(): number {
    return this.#released;
  }
  /** Items discarded because a newer one arrived (`latest`) or the queue was full (`fifo`). */
  get dropped(): number {
    return this.#buffer.dropped;
  }
  /** Demands that found nothing waiting. */
  get idleDemands(): number {
    return this.#idleDemands;
  }
  /** Items lost because `emit` threw. */
  get emitFailures(): number {
    return this.#emitFailures;
  }
  /** Items waiting now. */
  get waiting(): number {
    return this.#buffer.size;
  }

  /** Adds an item from the producer. */
  offer(item: T): void {
    this.#buffer.push(item);
  }

  /** Releases one waiting item to `emit`; false when nothing was waiting. Rethrows an `emit` failure. */
  demand(): boolean {
    if (this.#buffer.size === 0) {
      this.#idleDemands++;
      return false;
    }
    const item = this.#buffer.pop() as T;
    try {
      this.#options.emit(item);
    } catch (error) {
      this.#emitFailures++;
      throw error;
    }
    this.#released++;
    return true;
  }

  /** Calls `demand()` every `releaseIntervalMs` until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.releaseIntervalMs === undefined) throw new Error('RateMatchedSensor.run needs releaseIntervalMs');
    await runOnInterval({
      clock: this.#clock,
      intervalMs: this.releaseIntervalMs,
      signal,
      immediate: false,
      tick: () => {
        try {
          this.demand();
        } catch (error) {
          this.#options.onError?.(error);
        }
      },
    });
  }
}
