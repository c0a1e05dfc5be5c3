/**
 * Token bucket: a rate limiter that allows bursts up to `burst` tokens and refills at
 * `ratePerSecond`. Used by the controller work queue's overall retry limiter and by the
 * RatePolicy client library.
 *
 * The bucket is pure with respect to its clock: it holds no timers, it reads
 * `clock.monotonic()` on each call and computes the refill from the elapsed time. It
 * never sleeps; {@link TokenBucket.reserve} and {@link TokenBucket.delayFor} tell the
 * caller how long to wait, and the caller waits however it likes.
 *
 * Guarantee: over any window of monotonic time `[a, b]`, the tokens granted (by
 * `tryTake` at the time of the call, by `reserve` at the time the reservation becomes
 * due) never exceed `burst + ratePerSecond × (b − a) / 1000`.
 *
 * Exactness: the level is kept in "token-milliseconds per second" (tokens × 1000), so a
 * refill is `elapsedMs × ratePerSecond` and a take is `n × 1000`. With integer rates,
 * bursts, token counts and millisecond clock readings (as with `ManualClock`) every
 * operation is exact integer arithmetic on doubles; fractional tokens accumulate and are
 * never truncated. With fractional inputs each operation rounds once (relative error
 * about 1e-16).
 *
 * Limitations: `reserve` commits tokens into the future without bound (the level goes
 * negative and later reservations wait longer), exactly like Go's `rate.Limiter.Reserve`;
 * a caller that abandons a reservation does not get its token back. Not shared across
 * processes.
 */
import type { Clock } from './clock.ts';

/** Options for {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Refill rate in tokens per second; finite and > 0. */
  readonly ratePerSecond: number;
  /** Capacity in tokens (the largest burst); finite and >= 1. */
  readonly burst: number;
  /** Source of monotonic time; only `monotonic()` is read. */
  readonly clock: Pick<Clock, 'monotonic'>;
  /** Tokens at creation, between 0 and `burst`; default `burst` (a full bucket). */
  readonly initialTokens?: number | undefined;
}

const SCALE = 1000; // the level is stored as tokens × 1000 (ms per second)

/**
 * A token bucket on the {@link Clock} seam. Not thread-safe in the shared-memory sense;
 * JavaScript's single thread makes every method atomic.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  readonly #clock: Pick<Clock, 'monotonic'>;
  /** Current level × 1000; negative while reservations are outstanding. */
  #level: number;
  /** Monotonic ms at which `#level` was last brought up to date. */
  #at: number;

  constructor(options: TokenBucketOptions) {
    const { ratePerSecond, burst } = options;
    checkShape(ratePerSecond, burst);
    const initial = options.initialTokens ?? burst;
    if (!(initial >= 0 && initial <= burst)) {
      throw new RangeError(`TokenBucket: initialTokens must be within [0, burst], got ${initial}`);
    }
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#clock = options.clock;
    this.#level = initial * SCALE;
    this.#at = options.clock.monotonic();
  }

  /** Refill rate in tokens per second. */
  get ratePerSecond(): number {
    return this.#rate;
  }

  /** Capacity in tokens. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * Changes the rate and the capacity from now on. Tokens accrued until now (at the old
   * rate) are kept up to the new capacity, never raised; outstanding reservations stay
   * owed. The window guarantee holds piecewise: before the change with the old rate
   * and burst, after it with the new ones, starting from the level at the change.
   *
   * @throws RangeError on a rate ≤ 0 or a burst < 1, as the constructor
   */
  reconfigure(options: { readonly ratePerSecond: number; readonly burst: number }): void {
    checkShape(options.ratePerSecond, options.burst);
    this.#refill();
    this.#rate = options.ratePerSecond;
    this.#burst = options.burst;
    this.#level = Math.min(this.#level, options.burst * SCALE);
  }

  /** Tokens available now (fractional; negative while reservations are outstanding). */
  tokens(): number {
    this.#refill();
    return this.#level / SCALE;
  }

  /**
   * Takes `n` tokens if they are all available now.
   *
   * @param n tokens to take, finite and > 0; default 1
   * @returns true when the tokens were taken; false (and nothing taken) otherwise,
   *   including always when `n > burst`
   */
  tryTake(n = 1): boolean {
    checkCount(n);
    this.#refill();
    const cost = n * SCALE;
    if (this.#level < cost) return false;
    this.#level -= cost;
    return true;
  }

  /**
   * Takes `n` tokens now or in the future and returns how long the caller must wait
   * before acting on them. The tokens are committed at once: later calls see them gone.
   *
   * @param n tokens to reserve, finite, > 0 and <= `burst`; default 1
   * @returns the wait in ms (0 when the tokens were available now)
   * @throws RangeError when `n` is out of range
   */
  reserve(n = 1): number {
    checkCount(n);
    if (n > this.#burst) throw new RangeError(`TokenBucket.reserve: n (${n}) exceeds burst (${this.#burst})`);
    this.#refill();
    this.#level -= n * SCALE;
    return this.#level >= 0 ? 0 : -this.#level / this.#rate;
  }

  /**
   * How long until `n` tokens would be available, without taking anything.
   *
   * @param n tokens, finite, > 0; default 1
   * @returns the wait in ms: 0 when available now, `Infinity` when `n > burst`
   */
  delayFor(n = 1): number {
    checkCount(n);
    if (n > this.#burst) return Number.POSITIVE_INFINITY;
    this.#refill();
    const missing = n * SCALE - this.#level;
    return missing <= 0 ? 0 : missing / this.#rate;
  }

  #refill(): void {
    const now = this.#clock.monotonic();
    const elapsed = now - this.#at;
    if (!(elapsed > 0)) return; // monotonic time never goes back; ignore a stalled clock
    this.#at = now;
    const full = this.#burst * SCALE;
    if (this.#level >= full) return;
    this.#level = Math.min(full, this.#level + elapsed * this.#rate);
  }
}

function checkShape(ratePerSecond: number, burst: number): void {
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
    throw new RangeError(`TokenBucket: ratePerSecond must be finite and > 0, got ${ratePerSecond}`);
  }
  if (!(Number.isFinite(burst) && burst >= 1)) {
    throw new RangeError(`TokenBucket: burst must be finite and >= 1, got ${burst}`);
  }
}

function checkCount(n: number): void {
  if (!(Number.isFinite(n) && n > 0)) throw new RangeError(`TokenBucket: token count must be finite and > 0, got ${n}`);
}
