/**
 * The controller work queue: keys (usually `namespace/name`) that need reconciling,
 * handed to workers one at a time per key. Same contract as client-go's rate-limiting
 * work queue, which controller-runtime builds on:
 *
 * - Stingy: a key added while it is pending is not added again; a key added while a
 *   worker holds it is marked dirty and handed out again once, after `done(key)`. So no
 *   key is ever held by two workers at once, and no update is lost.
 * - Fair: pending keys are handed out in the order they became pending; parked `get`
 *   calls are served in the order they were made.
 * - Delaying: `addAfter(key, ms)` holds a key in a min-heap until it is due; a key
 *   scheduled twice keeps the earlier time. One clock sleep serves the whole heap.
 * - Rate-limited: `addRateLimited(key)` delays by the injected {@link RateLimiter};
 *   `forget(key)` resets the key's backoff.
 *
 * All time comes from the {@link Clock} seam (monotonic ms), so tests drive it with a
 * `ManualClock`. Due keys are released when the sleep wakes and also on every `get`.
 *
 * Bounded by construction:
 * - pending keys (dirty, including those held while processing): at most `maxKeys`;
 * - delayed keys: at most `maxKeys` (one heap entry per key);
 * - parked `get` calls: at most `maxWaiters`;
 * - keys being processed: at most the number of outstanding `get` results.
 * An add that would pass a cap is dropped and counted in `dropped`; the controller's
 * periodic resync re-adds it.
 *
 * Shutdown: after `shutDown()` or `shutDownWithDrain()` the queue accepts nothing, every
 * parked and later `get` resolves `undefined`, and keys that were pending or delayed are
 * discarded (level-triggered controllers re-list on start). This differs from client-go,
 * whose `Get` keeps handing out the pending keys after shutdown: here workers stop taking
 * work at once, which is what a leader that lost its lease needs.
 *
 * Limitations: a delay is clamped to about 24.8 days (the longest Node timer); hooks
 * (metrics, rate limiter) must not throw; a worker that never calls `done` keeps its key
 * forever and makes `shutDownWithDrain` wait until forced.
 */
import type { Clock } from '../../legos/clock.ts';
import { noopQueueMetrics, type QueueMetrics, type UnfinishedWork } from './metrics.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';
import { DelayHeap, Fifo } from './structures.ts';

/** Longest single clock sleep, in ms (Node's timer limit, 2^31 − 1). */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/** Options for {@link WorkQueue}. */
export interface WorkQueueOptions<K extends string> {
  /** Source of monotonic time and of the one sleep behind delayed keys. */
  readonly clock: Clock;
  /** Delays for `addRateLimited`; default {@link defaultControllerRateLimiter} on `clock`. */
  readonly rateLimiter?: RateLimiter<K> | undefined;
  /** Metric hooks; default no-op. */
  readonly metrics?: QueueMetrics | undefined;
  /** Cap on pending keys and, separately, on delayed keys; default 1,000,000. */
  readonly maxKeys?: number | undefined;
  /** Cap on `get` calls parked at once; default 1024. */
  readonly maxWaiters?: number | undefined;
}

interface Waiter<K> {
  readonly resolve: (key: K | undefined) => void;
}

/** A deduplicating, delaying, rate-limited queue of string keys (see the module header). */
export class WorkQueue<K extends string = string> {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter<K>;
  readonly #metrics: QueueMetrics;
  readonly #maxKeys: number;
  readonly #maxWaiters: number;
  /** Keys waiting to be handed out, in order; each is in `#dirty` and not in `#processing`. */
  readonly #queue = new Fifo<K>();
  /** Keys that need processing, with the monotonic ms at which they became pending. */
  readonly #dirty = new Map<K, number>();
  /** Keys handed out and not yet done, with the monotonic ms at which they were handed out. */
  readonly #processing = new Map<K, number>();
  readonly #delayed = new DelayHeap<K>();
  /** Parked `get` calls; a Set keeps arrival order and removes an aborted one in O(1). */
  readonly #waiters = new Set<Waiter<K>>();
  #drainWaiters: ((drained: boolean) => void)[] = [];
  #timer: { readonly abort: AbortController; readonly at: number } | undefined;
  #seq = 0;
  #dropped = 0;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions<K>) {
    this.#clock = options.clock;
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter<K>({ clock: options.clock });
    this.#metrics = options.metrics ?? noopQueueMetrics;
    this.#maxKeys = options.maxKeys ?? 1_000_000;
    this.#maxWaiters = options.maxWaiters ?? 1024;
    if (!(Number.isInteger(this.#maxKeys) && this.#maxKeys >= 1)) throw new RangeError('WorkQueue: maxKeys must be an integer >= 1');
    if (!(Number.isInteger(this.#maxWaiters) && this.#maxWaiters >= 1)) throw new RangeError('WorkQueue: maxWaiters must be an integer >= 1');
  }

  /** Keys waiting to be handed out (not counting delayed or processing keys). */
  get len(): number {
    return this.#queue.length;
  }

  /** Keys handed out by `get` and not yet `done`. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting in the delay heap. */
  get delayed(): number {
    return this.#delayed.size;
  }

  /** Adds dropped because a cap was reached (a counter since creation). */
  get dropped(): number {
    return this.#dropped;
  }

  /** True once `shutDown` or `shutDownWithDrain` was called. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Marks `key` as needing processing (see the module header for dedupe rules). */
  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    if (this.#dirty.size >= this.#maxKeys) {
      this.#dropped++;
      return;
    }
    this.#metrics.added();
    this.#dirty.set(key, this.#clock.monotonic());
    if (this.#processing.has(key)) return; // handed out again after done()
    this.#enqueue(key);
  }

  /**
   * Adds `key` once `ms` of monotonic time have passed (at once when `ms <= 0` or NaN).
   * A key already waiting keeps the earlier of its two due times. Counts as a retry
   * unless `options.retry` is false (a wake-up deferred on purpose, not a failure).
   */
  addAfter(key: K, ms: number, options: { readonly retry?: boolean } = {}): void {
    if (this.#shuttingDown) return;
    if (options.retry !== false) this.#metrics.retried();
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    if (!this.#delayed.has(key) && this.#delayed.size >= this.#maxKeys) {
      this.#dropped++;
      return;
    }
    const readyAt = this.#clock.monotonic() + Math.min(ms, MAX_DELAY_MS);
    if (this.#delayed.schedule(key, readyAt, this.#seq++)) this.#arm();
  }

  /**
   * Adds `key` after the rate limiter's delay for it (which records one more retry), or
   * after `atLeastMs` when that is longer (a server's `Retry-After`).
   */
  addRateLimited(key: K, atLeastMs = 0): void {
    if (this.#shuttingDown) return;
    this.addAfter(key, Math.max(atLeastMs, this.#limiter.when(key)));
  }

  /** Resets the rate limiter's backoff for `key`; does not remove it from the queue. */
  forget(key: K): void {
    this.#limiter.forget(key);
  }

  /** Rate-limited retries of `key` since it was last forgotten. */
  retries(key: K): number {
    return this.#limiter.retries(key);
  }

  /**
   * The next key to process. The caller owns the key until it calls `done(key)`.
   *
   * @param signal gives up waiting when aborted
   * @returns the key, or `undefined` when the queue is shut down or `signal` aborted
   * @throws RangeError (as a rejection) when `maxWaiters` calls are already parked
   */
  get(signal?: AbortSignal): Promise<K | undefined> {
    if (this.#shuttingDown || signal?.aborted === true) return Promise.resolve(undefined);
    this.#releaseDue();
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#handOut(key);
      this.#metrics.depth(this.#queue.length);
      return Promise.resolve(key);
    }
    if (this.#waiters.size >= this.#maxWaiters) {
      return Promise.reject(new RangeError(`WorkQueue: more than ${this.#maxWaiters} parked get() calls`));
    }
    return new Promise<K | undefined>((resolve) => {
      const onAbort = (): void => {
        if (this.#waiters.delete(waiter)) resolve(undefined);
      };
      const waiter: Waiter<K> = {
        resolve: (handed) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(handed);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Ends processing of `key`; hands it out again if it was added meanwhile. No-op if not held. */
  done(key: K): void {
    const startedAt = this.#processing.get(key);
    if (startedAt === undefined) return;
    this.#processing.delete(key);
    this.#metrics.worked((this.#clock.monotonic() - startedAt) / 1000);
    if (this.#dirty.has(key)) this.#enqueue(key);
    if (this.#processing.size === 0) this.#settleDrain(true);
  }

  /** How long the keys being processed have been at it, for the unfinished-work gauges. */
  unfinishedWork(): UnfinishedWork {
    const now = this.#clock.monotonic();
    let total = 0;
    let longest = 0;
    for (const startedAt of this.#processing.values()) {
      const running = now - startedAt;
      total += running;
      if (running > longest) longest = running;
    }
    return { unfinishedSeconds: total / 1000, longestRunningSeconds: longest / 1000 };
  }

  /**
   * Stops the queue now: nothing more is accepted, parked and later `get` calls resolve
   * `undefined`, pending and delayed keys are discarded. Keys being processed may still
   * be `done`. Also ends a `shutDownWithDrain` wait (which then resolves false).
   */
  shutDown(): void {
    this.#stopAccepting();
    this.#settleDrain(this.#processing.size === 0);
  }

  /**
   * Like {@link shutDown}, then waits until every key handed out has been `done`.
   *
   * @param signal stops waiting when aborted
   * @returns true when drained; false when `signal` aborted or `shutDown` forced it first
   */
  shutDownWithDrain(signal?: AbortSignal): Promise<boolean> {
    this.#stopAccepting();
    if (this.#processing.size === 0) return Promise.resolve(true);
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== settle);
        resolve(false);
      };
      const settle = (drained: boolean): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(drained);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#drainWaiters.push(settle);
    });
  }

  #enqueue(key: K): void {
    const waiter = this.#waiters.values().next();
    if (!waiter.done) {
      this.#waiters.delete(waiter.value);
      this.#handOut(key);
      waiter.value.resolve(key);
      this.#metrics.depth(this.#queue.length);
      return;
    }
    this.#queue.push(key);
    this.#metrics.depth(this.#queue.length);
  }

  /** Moves a pending key to processing (the caller has taken it off the FIFO). */
  #handOut(key: K): void {
    const now = this.#clock.monotonic();
    const pendingSince = this.#dirty.get(key) ?? now;
    this.#dirty.delete(key);
    this.#processing.set(key, now);
    this.#metrics.queued((now - pendingSince) / 1000);
  }

  #releaseDue(): void {
    const now = this.#clock.monotonic();
    for (let top = this.#delayed.peek(); top !== undefined && top.readyAt <= now; top = this.#delayed.peek()) {
      this.#delayed.pop();
      this.add(top.key);
    }
  }

  /** Keeps exactly one sleep pending, due no later than the earliest delayed key. */
  #arm(): void {
    const top = this.#delayed.peek();
    if (top === undefined || this.#shuttingDown) {
      this.#disarm();
      return;
    }
    if (this.#timer !== undefined && this.#timer.at <= top.readyAt) return;
    this.#disarm();
    const abort = new AbortController();
    const timer = { abort, at: top.readyAt };
    this.#timer = timer;
    const wait = Math.min(Math.max(0, top.readyAt - this.#clock.monotonic()), MAX_DELAY_MS);
    this.#clock.sleep(wait, abort.signal).then(
      () => {
        if (this.#timer !== timer) return;
        this.#timer = undefined;
        this.#releaseDue();
        this.#arm();
      },
      () => {}, // aborted by #disarm: a newer sleep (or shutdown) took over
    );
  }

  #disarm(): void {
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.abort.abort();
  }

  #stopAccepting(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#disarm();
    this.#delayed.clear();
    this.#queue.clear();
    this.#dirty.clear();
    this.#metrics.depth(0);
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.resolve(undefined);
  }

  #settleDrain(drained: boolean): void {
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const settle of waiters) settle(drained);
  }
}
