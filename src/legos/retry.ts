/**
 * Retry: which failures to try again (`RetryPolicy`), how long to wait between
 * attempts (`BackoffPolicy`) and the loop that runs an operation under both
 * (`RetryLoop`). Generic: sensor reads, the agent's HTTP forwarder and anything else
 * with transient failures use it.
 *
 * Compared with the reference catalog's loop, ours adds jitter (full or equal, from an
 * injected random function), a per-attempt timeout, an AbortSignal that stops the loop
 * at once, and sleeps through the `Clock` seam so tests drive time with `ManualClock`.
 *
 * Limitations: the loop cannot stop an operation that ignores the attempt's
 * `AbortSignal`; on a timeout or abort it stops *waiting* for it, and the operation's
 * eventual result is discarded. Delays use monotonic time at the Clock's timer
 * resolution (about 1 ms for `SystemClock`).
 */
import { type Clock, SystemClock } from './clock.ts';

/** Largest delay a Node timer can hold (about 24.8 days); delays are capped here. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** Options of a {@link RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Total attempts, the first included; a positive integer. Default 1 (no retries). */
  maxAttempts?: number | undefined;
  /**
   * Which errors are worth another attempt; must not throw. Default: every error.
   * `AttemptTimeoutError` reaches the predicate like any other error.
   */
  retryable?: ((error: unknown) => boolean) | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/** How many attempts an operation gets and which of its errors are transient. */
export class RetryPolicy {
  /** Total attempts, the first included (>= 1). */
  readonly maxAttempts: number;
  /** True for the errors that may be retried. */
  readonly retryable: (error: unknown) => boolean;
  readonly group: string | undefined;

  constructor(options: RetryPolicyOptions = {}) {
    const maxAttempts = options.maxAttempts ?? 1;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError(`RetryPolicy: maxAttempts must be a positive integer, got ${maxAttempts}`);
    }
    this.maxAttempts = maxAttempts;
    this.retryable = options.retryable ?? (() => true);
    this.group = options.group;
  }

  /** A policy with a single attempt. */
  static never(): RetryPolicy {
    return new RetryPolicy({ maxAttempts: 1 });
  }

  /** True when `error`, raised by attempt number `attempt` (1-based), earns another attempt. */
  shouldRetry(error: unknown, attempt: number): boolean {
    return attempt < this.maxAttempts && this.retryable(error);
  }
}

/** Jitter applied to a backoff delay: none, full (`[0, d)`) or equal (`[d/2, d)`). */
export type Jitter = 'none' | 'full' | 'equal';

/** Options of a {@link BackoffPolicy}; all delays in ms. */
export interface BackoffPolicyOptions {
  /** Delay before the second attempt, >= 0. Default 0. */
  initialDelayMs?: number | undefined;
  /** Growth factor per further attempt, >= 1. Default 1 (constant delay). */
  multiplier?: number | undefined;
  /** Upper bound of every delay, >= 0. Default {@link MAX_TIMER_DELAY_MS}. */
  maxDelayMs?: number | undefined;
  /** Default `'none'`. */
  jitter?: Jitter | undefined;
  /** Uniform random numbers in [0, 1); injected so tests are deterministic. Default `Math.random`. */
  random?: (() => number) | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/**
 * The delay before attempt k (1-based): 0 for k <= 1, else
 * `min(initialDelayMs × multiplier^(k−2), maxDelayMs)`, then jittered.
 * Guarantees: every delay is a finite number in `[0, maxDelayMs]`; without jitter the
 * delays never decrease with k.
 */
export class BackoffPolicy {
  readonly initialDelayMs: number;
  readonly multiplier: number;
  readonly maxDelayMs: number;
  readonly jitter: Jitter;
  readonly group: string | undefined;
  readonly #random: () => number;

  constructor(options: BackoffPolicyOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 0;
    this.multiplier = options.multiplier ?? 1;
    this.maxDelayMs = options.maxDelayMs ?? MAX_TIMER_DELAY_MS;
    this.jitter = options.jitter ?? 'none';
    this.#random = options.random ?? Math.random;
    this.group = options.group;
    if (!(this.initialDelayMs >= 0) || !Number.isFinite(this.initialDelayMs)) {
      throw new RangeError(`BackoffPolicy: initialDelayMs must be a finite number >= 0, got ${this.initialDelayMs}`);
    }
    if (!(this.multiplier >= 1) || !Number.isFinite(this.multiplier)) {
      throw new RangeError(`BackoffPolicy: multiplier must be a finite number >= 1, got ${this.multiplier}`);
    }
    if (!(this.maxDelayMs >= 0) || this.maxDelayMs > MAX_TIMER_DELAY_MS) {
      throw new RangeError(`BackoffPolicy: maxDelayMs must be in [0, ${MAX_TIMER_DELAY_MS}], got ${this.maxDelayMs}`);
    }
  }

  /** No delay between attempts. */
  static none(): BackoffPolicy {
    return new BackoffPolicy();
  }

  /** The same delay before every retry. */
  static fixed(delayMs: number): BackoffPolicy {
    return new BackoffPolicy({ initialDelayMs: delayMs });
  }

  /** The un-jittered delay before attempt `attempt` (1-based), in ms. */
  baseDelay(attempt: number): number {
    if (attempt <= 1 || this.initialDelayMs === 0) return 0;
    // multiplier^(k-2) may overflow to Infinity; the cap brings it back.
    return Math.min(this.initialDelayMs * this.multiplier ** (attempt - 2), this.maxDelayMs);
  }

  /**
   * The delay before the retry that follows `failures` consecutive failures (>= 1), in
   * ms, jitter applied: {@link delayForAttempt}(failures + 1), so the first failure
   * waits `initialDelayMs`.
   */
  delayAfterFailures(failures: number): number {
    return this.delayForAttempt(failures + 1);
  }

  /** The delay to sleep before attempt `attempt` (1-based), in ms, jitter applied. */
  delayForAttempt(attempt: number): number {
    const base = this.baseDelay(attempt);
    if (base === 0 || this.jitter === 'none') return base;
    const r = Math.min(Math.max(this.#random(), 0), 1);
    const delay = this.jitter === 'full' ? base * r : base / 2 + (base / 2) * r;
    // Clamped to the base too: with subnormal inputs base / 2 rounds up.
    return Math.min(Math.max(delay, 0), base, this.maxDelayMs);
  }
}

/** Thrown (and offered to the retry predicate) when one attempt outlives its timeout. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
  readonly attempt: number;
  readonly timeoutMs: number;

  constructor(attempt: number, timeoutMs: number) {
    super(`attempt ${attempt} timed out after ${timeoutMs} ms`);
    this.attempt = attempt;
    this.timeoutMs = timeoutMs;
  }
}

/** What an operation run by {@link RetryLoop} receives. */
export interface AttemptContext {
  /** 1-based attempt number. */
  readonly attempt: number;
  /** Aborted when this attempt times out or the whole run is aborted. */
  readonly signal: AbortSignal;
}

/** Passed to `onRetry` before the loop sleeps. */
export interface RetryEvent {
  readonly attempt: number;
  readonly error: unknown;
  readonly delayMs: number;
  readonly group: string | undefined;
}

/** Options of a {@link RetryLoop}. */
export interface RetryLoopOptions {
  /** Default: a single attempt. */
  retry?: RetryPolicy | undefined;
  /** Default: no delay. */
  backoff?: BackoffPolicy | undefined;
  /** Default `SystemClock`. */
  clock?: Clock | undefined;
  /** Per-attempt timeout in ms (> 0); default none. */
  attemptTimeoutMs?: number | undefined;
  /** Called before each retry (for logs); must not throw. */
  onRetry?: ((event: RetryEvent) => void) | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/**
 * Runs an operation until it succeeds, fails with an error the policy does not name,
 * or runs out of attempts; then rethrows that last error unchanged.
 *
 * Guarantees: at most `retry.maxAttempts` attempts; attempt k starts only after the
 * backoff delay for k has elapsed on the clock; an abort of `signal` rejects at once
 * with the signal's reason, never starts another attempt, and aborts the running
 * attempt's signal. Counters are cumulative over all runs of this loop.
 *
 * Limitations: see the module header (operations that ignore their signal keep running).
 */
export class RetryLoop {
  readonly retry: RetryPolicy;
  readonly backoff: BackoffPolicy;
  readonly clock: Clock;
  readonly attemptTimeoutMs: number | undefined;
  readonly group: string | undefined;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;
  #attempts = 0;
  #retries = 0;
  #timeouts = 0;
  #failures = 0;

  constructor(options: RetryLoopOptions = {}) {
    this.retry = options.retry ?? RetryPolicy.never();
    this.backoff = options.backoff ?? BackoffPolicy.none();
    this.clock = options.clock ?? SystemClock;
    this.attemptTimeoutMs = options.attemptTimeoutMs;
    this.group = options.group;
    this.#onRetry = options.onRetry;
    const timeout = options.attemptTimeoutMs;
    if (timeout !== undefined && !(timeout > 0 && timeout <= MAX_TIMER_DELAY_MS)) {
      throw new RangeError(`RetryLoop: attemptTimeoutMs must be in (0, ${MAX_TIMER_DELAY_MS}], got ${timeout}`);
    }
  }

  /** Attempts started, over all runs. */
  get attempts(): number {
    return this.#attempts;
  }
  /** Retries (attempts after a failed one), over all runs. */
  get retries(): number {
    return this.#retries;
  }
  /** Attempts that timed out. */
  get timeouts(): number {
    return this.#timeouts;
  }
  /** Runs that ended by throwing (aborts included). */
  get failures(): number {
    return this.#failures;
  }

  /** Runs `operation`; resolves with its first successful result. */
  async run<T>(operation: (context: AttemptContext) => T | Promise<T>, options: { signal?: AbortSignal | undefined } = {}): Promise<T> {
    const { signal } = options;
    try {
      for (let attempt = 1; ; attempt++) {
        signal?.throwIfAborted();
        this.#attempts++;
        try {
          return await this.#attempt(operation, attempt, signal);
        } catch (error) {
          if (signal?.aborted || !this.retry.shouldRetry(error, attempt)) throw error;
          const delayMs = this.backoff.delayForAttempt(attempt + 1);
          this.#onRetry?.({ attempt, error, delayMs, group: this.group });
          await this.clock.sleep(delayMs, signal);
          this.#retries++;
        }
      }
    } catch (error) {
      this.#failures++;
      throw error;
    }
  }

  /** One attempt, raced against its timeout and the run's abort; rethrows the losing reason unchanged. */
  async #attempt<T>(operation: (context: AttemptContext) => T | Promise<T>, attempt: number, outer: AbortSignal | undefined): Promise<T> {
    const controller = new AbortController();
    const timer = new AbortController();
    type Outcome = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };
    const outcome = await new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (result: Outcome) => {
        if (settled) return;
        settled = true;
        outer?.removeEventListener('abort', onAbort);
        timer.abort();
        if (!result.ok) controller.abort(result.error);
        resolve(result);
      };
      const onAbort = () => settle({ ok: false, error: outer?.reason });
      outer?.addEventListener('abort', onAbort, { once: true });
      const timeoutMs = this.attemptTimeoutMs;
      if (timeoutMs !== undefined) {
        this.clock.sleep(timeoutMs, timer.signal).then(
          () => {
            if (!settled) this.#timeouts++;
            settle({ ok: false, error: new AttemptTimeoutError(attempt, timeoutMs) });
          },
          () => undefined, // the timer was cancelled because the attempt settled
        );
      }
      Promise.resolve()
        .then(() => operation({ attempt, signal: controller.signal }))
        .then(
          (value) => settle({ ok: true, value }),
          (error: unknown) => settle({ ok: false, error }),
        );
    });
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }
}
