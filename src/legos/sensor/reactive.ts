/**
 * Push-based sensors. `ReactiveSensorSource` wraps a push source (anything with an
 * RxJS-style `subscribe({ next, error, complete })`, for example an Observable or an
 * adapter over a device stream) and publishes each item as a `SensorSample`.
 * `PeripheralAdapter` wraps a device object (its output stream plus optional
 * `start`/`stop`/`send`) and publishes each item as a `SensorEvent`.
 *
 * Both subscribe *before* starting the device, so items the device emits while
 * starting (often synchronously, e.g. a buffered greeting or the first reading) are not
 * lost; the reference started the device first. Both stop listening when the
 * `AbortSignal` given to `start` aborts, and ignore items that arrive afterwards.
 *
 * Failure behaviour: an exception from `map` or `publish` is counted and reported to
 * `onError` (the subscription stays up); the sequence number is then not consumed.
 * A source `error` is counted and reported; `complete` is recorded in `completed`.
 *
 * Limitations: `publish` is synchronous; a push source cannot be slowed down, so put a
 * bounded buffer (`BoundedRingBuffer`, `RateMatchedSensor`) behind it rather than
 * awaiting I/O per item.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { SequenceCounter } from './sequence.ts';
import type { SensorEvent, SensorIdentity, SensorSample } from './types.ts';

/** Receives what a push source emits. */
export interface Observer<T> {
  next(value: T): void;
  error?(error: unknown): void;
  complete?(): void;
}

/** A subscription that can be ended. */
export interface Unsubscribable {
  unsubscribe(): void;
}

/** Anything that pushes values to a subscriber (RxJS Observable compatible). */
export interface PushSource<T> {
  subscribe(observer: Observer<T>): Unsubscribable;
}

/** A device with an output stream and optional lifecycle and command input. */
export interface Peripheral<T, C = unknown> {
  readonly output: PushSource<T>;
  /** Starts the device; called after the adapter subscribed to `output`. */
  start?(signal: AbortSignal): void | Promise<void>;
  /** Stops the device; called when the adapter's signal aborts (if `stopOnAbort`). */
  stop?(): void | Promise<void>;
  /** Accepts a command (duplex devices). */
  send?(command: C): void | Promise<void>;
}

/** Where a push-side failure happened. */
export type PushFailureStage = 'publish' | 'source' | 'stop';

/** Counters and state shared by the push-based blocks. */
abstract class PushBlock<T> {
  readonly group: string | undefined;
  readonly sequence: SequenceCounter;
  protected readonly clock: Clock;
  readonly #onError: ((error: unknown, stage: PushFailureStage) => void) | undefined;
  #active = false;
  #received = 0;
  #published = 0;
  #failures = 0;
  #consecutiveFailures = 0;
  #sourceErrors = 0;
  #completed = false;

  constructor(options: { clock?: Clock | undefined; sequence?: SequenceCounter | undefined; onError?: ((error: unknown, stage: PushFailureStage) => void) | undefined; group?: string | undefined }) {
    this.group = options.group;
    this.clock = options.clock ?? SystemClock;
    this.sequence = options.sequence ?? new SequenceCounter({ group: options.group });
    this.#onError = options.onError;
  }

  /** Items received while subscribed. */
  get received(): number {
    return this.#received;
  }
  /** Items published. */
  get published(): number {
    return this.#published;
  }
  /** Items whose map or publish threw. */
  get failures(): number {
    return this.#failures;
  }
  /** Failures (and source errors) since the last published item. */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }
  /** `error` notifications from the source. */
  get sourceErrors(): number {
    return this.#sourceErrors;
  }
  /** True once the source completed. */
  get completed(): boolean {
    return this.#completed;
  }
  /** True between a successful subscribe and the abort. */
  get active(): boolean {
    return this.#active;
  }

  /** Subscribes to `source`, then runs `startDevice`; unsubscribes when `signal` aborts or the start fails. */
  protected async attach(source: PushSource<T>, startDevice: (() => void | Promise<void>) | undefined, signal: AbortSignal, onStop?: () => void): Promise<void> {
    if (this.#active) throw new Error('already started');
    signal.throwIfAborted();
    this.#active = true;
    const subscription = source.subscribe({
      next: (item) => this.#handle(item),
      error: (error) => {
        if (!this.#active) return;
        this.#sourceErrors++;
        this.#consecutiveFailures++;
        this.reportError(error, 'source');
      },
      complete: () => {
        if (this.#active) this.#completed = true;
      },
    });
    const detach = () => {
      this.#active = false;
      subscription.unsubscribe();
    };
    const onAbort = () => {
      detach();
      onStop?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await startDevice?.();
    } catch (error) {
      signal.removeEventListener('abort', onAbort);
      detach();
      throw error;
    }
  }

  protected reportError(error: unknown, stage: PushFailureStage): void {
    this.#onError?.(error, stage);
  }

  /** Publishes one item with sequence number `sequence`; throws to signal failure. */
  protected abstract emit(item: T, sequence: number): void;

  #handle(item: T): void {
    if (!this.#active) return;
    this.#received++;
    try {
      this.sequence.withNext((sequence) => this.emit(item, sequence));
      this.#published++;
      this.#consecutiveFailures = 0;
    } catch (error) {
      this.#failures++;
      this.#consecutiveFailures++;
      this.reportError(error, 'publish');
    }
  }
}

/** Options of a {@link ReactiveSensorSource}. */
export interface ReactiveSensorSourceOptions<T, V> {
  source: PushSource<T>;
  publish: (sample: SensorSample<V>) => void;
  /** Item to value. Default: the item itself. */
  map?: ((item: T) => V) | undefined;
  /** Starts the producer, after the subscription is in place. */
  startDevice?: ((signal: AbortSignal) => void | Promise<void>) | undefined;
  /** The item's own timestamp (wall ms), when it has one. Default: arrival time. */
  sourceTime?: ((item: T) => number | undefined) | undefined;
  quality?: string | undefined;
  clock?: Clock | undefined;
  sequence?: SequenceCounter | undefined;
  onError?: ((error: unknown, stage: PushFailureStage) => void) | undefined;
  group?: string | undefined;
}

/** Publishes each pushed item as a `SensorSample`. */
export class ReactiveSensorSource<T, V = T> extends PushBlock<T> {
  readonly #options: ReactiveSensorSourceOptions<T, V>;

  constructor(options: ReactiveSensorSourceOptions<T, V>) {
    super(options);
    this.#options = options;
  }

  /** Subscribes, then starts the device; resolves once started. Listening ends when `signal` aborts. */
  start(signal: AbortSignal): Promise<void> {
    const startDevice = this.#options.startDevice;
    return this.attach(this.#options.source, startDevice && (() => startDevice(signal)), signal);
  }

  protected emit(item: T, sequence: number): void {
    const value = this.#options.map ? this.#options.map(item) : (item as unknown as V);
    const ingestTimeMs = this.clock.now();
    this.#options.publish({
      value,
      sourceTimeMs: this.#options.sourceTime?.(item) ?? ingestTimeMs,
      ingestTimeMs,
      sequence,
      ...(this.#options.quality === undefined ? {} : { quality: this.#options.quality }),
    });
  }
}

/** Options of a {@link PeripheralAdapter}. */
export interface PeripheralAdapterOptions<T, C> {
  peripheral: Peripheral<T, C>;
  publish: (event: SensorEvent) => void;
  /** Type of every event. */
  eventType: string;
  /** Item to event data. Default: the item itself. */
  data?: ((item: T) => unknown) | undefined;
  /** Default `{ group }`. */
  identity?: SensorIdentity | undefined;
  /** Call `peripheral.stop()` when the signal aborts. Default true. */
  stopOnAbort?: boolean | undefined;
  clock?: Clock | undefined;
  sequence?: SequenceCounter | undefined;
  onError?: ((error: unknown, stage: PushFailureStage) => void) | undefined;
  group?: string | undefined;
}

/** Publishes each item of a device's output as a `SensorEvent`, and forwards commands to it. */
export class PeripheralAdapter<T, C = unknown> extends PushBlock<T> {
  readonly #options: PeripheralAdapterOptions<T, C>;
  readonly #identity: SensorIdentity;

  constructor(options: PeripheralAdapterOptions<T, C>) {
    super(options);
    this.#options = options;
    this.#identity = options.identity ?? { group: options.group };
  }

  /** Subscribes to the device's output, then starts it; on abort unsubscribes and (by default) stops it. */
  start(signal: AbortSignal): Promise<void> {
    const { peripheral } = this.#options;
    const stop = () => {
      if (this.#options.stopOnAbort === false || peripheral.stop === undefined) return;
      Promise.resolve()
        .then(() => peripheral.stop?.())
        .catch((error: unknown) => this.reportError(error, 'stop'));
    };
    return this.attach(peripheral.output, peripheral.start && (() => peripheral.start?.(signal)), signal, stop);
  }

  /** Sends a command to a duplex device; throws when the device accepts none. */
  async send(command: C): Promise<void> {
    const { peripheral } = this.#options;
    if (peripheral.send === undefined) throw new TypeError('PeripheralAdapter: this peripheral accepts no commands');
    await peripheral.send(command);
  }

  protected emit(item: T, sequence: number): void {
    this.#options.publish({
      type: this.#options.eventType,
      data: this.#options.data ? this.#options.data(item) : item,
      observedAtMs: this.clock.now(),
      identity: this.#identity,
      sequence,
      metadata: {},
    });
  }
}
