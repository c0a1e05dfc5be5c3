/**
 * Retry rate limiters for the controller work queue: how long a key waits before it is
 * retried. They have the same meaning as client-go's `workqueue` rate limiters:
 *
 * - {@link ExponentialFailureRateLimiter}: per key, `base × 2^failures`, capped
 *   (client-go `ItemExponentialFailureRateLimiter`, 5 ms to 1000 s);
 * - {@link BucketRateLimiter}: one token bucket shared by all keys, so that a storm of
 *   failures cannot retry faster than the bucket's rate (client-go `BucketRateLimiter`,
 *   10 qps with a burst of 100 in the default controller limiter);
 * - {@link MaxOfRateLimiter}: the longest wait of several limiters;
 * - {@link defaultControllerRateLimiter}: max(per-key exponential, overall bucket), as
 *   client-go's `DefaultControllerRateLimiter` and controller-runtime's default.
 *
 * Every limiter only computes delays; the queue does the waiting. Delays are in ms.
 *
 * Limitations: the per-key state is in memory; a restarted process starts every key at
 * the base delay again.
 */
import type { Clock } from '../../legos/clock.ts';
import { BoundedMap } from '../../legos/bounded-map.ts';
import { BackoffPolicy, MAX_TIMER_DELAY_MS } from '../../legos/retry.ts';
import { TokenBucket } from '../../legos/token-bucket.ts';

/** Decides how long a key waits before its next retry. */
export interface RateLimiter<K extends string = string> {
  /** Records one more retry of `key` and returns how long it must wait, in ms (>= 0). */
  when(key: K): number;
  /** Stops tracking `key` (its next failure starts from the base delay again). */
  forget(key: K): void;
  /** How many times `key` has been retried since it was last forgotten. */
  retries(key: K): number;
}

/** Options for {@link ExponentialFailureRateLimiter}. */
export interface ExponentialFailureOptions {
  /** Delay after the first failure, in ms. @default 5 */
  readonly baseDelayMs?: number | undefined;
  /** Largest delay, in ms. @default 1000000 (1000 s) */
  readonly maxDelayMs?: number | undefined;
  /**
   * Most keys tracked at once; default 100,000. When full, the key that failed least
   * recently is dropped (its backoff restarts from the base delay) and `evicted` counts it.
   */
  readonly maxTrackedKeys?: number | undefined;
  /** Told each dropped key (an eviction metric, say). */
  readonly onEvict?: ((key: string) => void) | undefined;
}

/**
 * Per-key exponential backoff: the n-th consecutive retry of a key (counting from 1)
 * waits `min(baseDelayMs × 2^(n−1), maxDelayMs)`. Only keys that have failed and not
 * been forgotten are held.
 */
export class ExponentialFailureRateLimiter<K extends string = string> implements RateLimiter<K> {
  /** Delay after the first failure, in ms. */
  readonly baseDelayMs: number;
  /** Largest delay, in ms. */
  readonly maxDelayMs: number;
  /** Most keys tracked at once. */
  readonly maxTrackedKeys: number;
  readonly #failures: BoundedMap<K, number>;
  readonly #backoff: BackoffPolicy;

  constructor(options: ExponentialFailureOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.maxTrackedKeys = options.maxTrackedKeys ?? 100_000;
    if (!(this.baseDelayMs > 0 && Number.isFinite(this.baseDelayMs))) throw new RangeError('baseDelayMs must be finite and > 0');
    if (!(this.maxDelayMs >= this.baseDelayMs && Number.isFinite(this.maxDelayMs))) throw new RangeError('maxDelayMs must be finite and >= baseDelayMs');
    if (!(Number.isInteger(this.maxTrackedKeys) && this.maxTrackedKeys >= 1)) throw new RangeError('maxTrackedKeys must be an integer >= 1');
    this.#failures = new BoundedMap<K, number>({ max: this.maxTrackedKeys, onEvict: options.onEvict });
    this.#backoff = new BackoffPolicy({ initialDelayMs: this.baseDelayMs, multiplier: 2, maxDelayMs: Math.min(this.maxDelayMs, MAX_TIMER_DELAY_MS) });
  }

  when(key: K): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    return this.#backoff.delayAfterFailures(failures);
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys currently tracked (each has failed at least once since it was forgotten). */
  get trackedKeys(): number {
    return this.#failures.size;
  }

  /** The per-key failure counts, as a bounded memory (size and evictions, for metrics). */
  get memory(): { readonly size: number; readonly evictions: number } {
    return this.#failures;
  }

  /** Keys dropped because `maxTrackedKeys` was reached (a counter since creation). */
  get evicted(): number {
    return this.#failures.evictions;
  }
}

/** Options for {@link BucketRateLimiter}. */
export interface BucketRateLimiterOptions {
  readonly clock: Pick<Clock, 'monotonic'>;
  /** Overall retries per second; default 10. */
  readonly ratePerSecond?: number | undefined;
  /** Retries allowed in a burst before the rate applies; default 100. */
  readonly burst?: number | undefined;
}

/**
 * One token bucket for all keys: each retry reserves a token and waits until it is due.
 * Holds no per-key state, so `retries` is always 0 and `forget` does nothing.
 */
export class BucketRateLimiter<K extends string = string> implements RateLimiter<K> {
  readonly #bucket: TokenBucket;

  constructor(options: BucketRateLimiterOptions) {
    this.#bucket = new TokenBucket({ ratePerSecond: options.ratePerSecond ?? 10, burst: options.burst ?? 100, clock: options.clock });
  }

  when(_key: K): number {
    return this.#bucket.reserve();
  }

  forget(_key: K): void {}

  retries(_key: K): number {
    return 0;
  }
}

/**
 * The longest wait among several limiters. Every limiter sees every call (each one
 * records the retry), `retries` is the largest count and `forget` forgets everywhere.
 */
export class MaxOfRateLimiter<K extends string = string> implements RateLimiter<K> {
  readonly #limiters: readonly RateLimiter<K>[];

  constructor(limiters: readonly RateLimiter<K>[]) {
    if (limiters.length === 0) throw new RangeError('MaxOfRateLimiter needs at least one limiter');
    this.#limiters = [...limiters];
  }

  when(key: K): number {
    let delay = 0;
    for (const limiter of this.#limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  forget(key: K): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  retries(key: K): number {
    let most = 0;
    for (const limiter of this.#limiters) most = Math.max(most, limiter.retries(key));
    return most;
  }
}

/**
 * The default limiter for a controller: max(per-key exponential 5 ms → 1000 s, an
 * overall bucket of 10 retries per second with a burst of 100).
 */
export function defaultControllerRateLimiter<K extends string = string>(options: {
  readonly clock: Pick<Clock, 'monotonic'>;
  /** The per-key limiter to use (to read its memory, say). @default a new {@link ExponentialFailureRateLimiter} with its defaults */
  readonly perKey?: ExponentialFailureRateLimiter<K> | undefined;
}): MaxOfRateLimiter<K> {
  return new MaxOfRateLimiter<K>([options.perKey ?? new ExponentialFailureRateLimiter<K>(), new BucketRateLimiter<K>({ clock: options.clock })]);
}
