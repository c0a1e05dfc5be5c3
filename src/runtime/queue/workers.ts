/**
 * The worker pool: N workers that take keys from a {@link WorkQueue}, call the
 * controller's `reconcile(key)`, and turn its outcome into the queue operation that
 * controller-runtime's reconcile handler would make. Reconcilers stay tiny and
 * level-triggered; retry policy lives here, in one place.
 *
 * Outcomes:
 * - returns (no `requeueAfterMs`, or `requeueAfterMs <= 0`): `forget` → `success`;
 * - returns `{ requeueAfterMs: ms }` with ms > 0: `forget`, `addAfter(key, ms)` →
 *   `requeue_after`;
 * - throws, and the injected `classify(error)` says
 *   - `'immediate'` (a conflict: the next read sees the new resourceVersion): add again at
 *     once without growing the key's backoff, counted as a queue retry and as
 *     `requeue`, not as a reconcile error. controller-runtime rate-limits conflicts; we
 *     do not, but after `maxImmediateRetries` consecutive immediate retries of a key the
 *     failure is treated as `'backoff'` until the key next succeeds, so a reconciler that
 *     always conflicts cannot spin;
 *   - `'backoff'`: `addRateLimited` → `error` (controller-runtime's default), no sooner
 *     than the injected `retryAfterMs(error)` when it gives a time (a server's
 *     `Retry-After`);
 *   - `'terminal'`: `forget`, not retried, reported to `onTerminal` → `error` (as
 *     controller-runtime's `TerminalError`). The key comes back only when something
 *     adds it again (a watch event or a resync).
 *   A `classify` that throws counts as `'backoff'`.
 * In every case `done(key)` follows, after the queue operation, so a key dirtied during
 * the reconcile is handed out again.
 *
 * A reconcile that throws synchronously, rejects with anything, or a callback that
 * throws, never escapes a worker: no unhandled rejection can take the process down.
 * At most `concurrency` reconciles run at once, and never two for the same key (the
 * queue guarantees it). Bounded: besides the queue's own caps, the pool holds one
 * counter per key with an open run of immediate retries, at most 100,000 (past that,
 * conflicts back off).
 *
 * Limitations: a reconcile that never settles holds its worker and key forever; `stop`
 * then gives up after its timeout and aborts the reconcile's signal, which only helps a
 * reconcile that listens to it. No per-reconcile timeout is imposed.
 */
import type { Clock } from '../../legos/clock.ts';
import type { RetryClass } from '../../kube/errors.ts';
import { noopReconcileMetrics, type ReconcileMetrics, type ReconcileOutcome } from './metrics.ts';
import type { WorkQueue } from './work-queue.ts';

/** Most keys with an open run of immediate retries tracked at once; past it, conflicts back off. */
const MAX_STREAKS = 100_000;

/** What a reconcile returns: optionally, when to look at the key again (ms). */
export interface ReconcileResult {
  /** Look at the key again after this many ms (undefined or <= 0: only on a change). */
  readonly requeueAfterMs?: number | undefined;
}

/** A controller's reconcile: one key in, a result or a thrown error out. */
export type ReconcileFn<K extends string> = (key: K, signal: AbortSignal) => Promise<ReconcileResult | void> | ReconcileResult | void;

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions<K extends string> {
  readonly queue: WorkQueue<K>;
  readonly reconcile: ReconcileFn<K>;
  /** How a thrown error is retried (see the module header); usually `KubeApiError.retry`. */
  readonly classify: (error: unknown) => RetryClass;
  /** The shortest wait before a `'backoff'` retry of a thrown error, in ms (a server's `Retry-After`). @default none */
  readonly retryAfterMs?: ((error: unknown) => number | undefined) | undefined;
  /** Monotonic time for durations and the drain timeout. */
  readonly clock: Clock;
  /** Reconciles running at once; integer in [1, 1024]. @default 1 */
  readonly concurrency?: number | undefined;
  /** Consecutive immediate retries of one key before it backs off. @default 5 */
  readonly maxImmediateRetries?: number | undefined;
  /** How long `stop()` waits for in-flight reconciles by default, in ms. @default 30000 */
  readonly drainTimeoutMs?: number | undefined;
  readonly metrics?: ReconcileMetrics | undefined;
  /** Every failed reconcile, with how it is being retried (for logs). Must not throw; if it does, it is ignored. */
  readonly onError?: ((key: K, error: unknown, retry: RetryClass) => void) | undefined;
  /** A key given up on after a terminal error. Must not throw; if it does, it is ignored. */
  readonly onTerminal?: ((key: K, error: unknown) => void) | undefined;
}

/** Options for {@link WorkerPool.stop}. */
export interface StopOptions {
  /** Longest wait for in-flight reconciles, in ms. @default the pool's `drainTimeoutMs` */
  readonly timeoutMs?: number | undefined;
  /** Stops waiting when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/** Runs a controller's reconciles over its work queue (see the module header). */
export class WorkerPool<K extends string = string> {
  readonly #options: WorkerPoolOptions<K>;
  readonly #concurrency: number;
  readonly #maxImmediate: number;
  readonly #metrics: ReconcileMetrics;
  /** Aborted when `stop` gives up waiting: tells hung reconciles to quit. */
  readonly #reconcileAbort = new AbortController();
  /** Aborted once `stop` has been called (lets `start` settle when the stop does). */
  readonly #stopRequested = new AbortController();
  /**
   * Consecutive immediate retries per key; an entry exists only while a streak is open
   * (cleared by the key's next success or non-immediate failure); at most MAX_STREAKS.
   */
  readonly #streaks = new Map<K, number>();
  #active = 0;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #stopping: Promise<boolean> | undefined;
  #workers: Promise<void>[] = [];

  constructor(options: WorkerPoolOptions<K>) {
    this.#options = options;
    this.#concurrency = options.concurrency ?? 1;
    this.#maxImmediate = options.maxImmediateRetries ?? 5;
    this.#metrics = options.metrics ?? noopReconcileMetrics;
    if (!(Number.isInteger(this.#concurrency) && this.#concurrency >= 1 && this.#concurrency <= 1024)) {
      throw new RangeError(`WorkerPool: concurrency must be an integer in [1, 1024], got ${this.#concurrency}`);
    }
    if (!(Number.isInteger(this.#maxImmediate) && this.#maxImmediate >= 0)) throw new RangeError('WorkerPool: maxImmediateRetries must be an integer >= 0');
  }

  /** Reconciles running now. */
  get active(): number {
    return this.#active;
  }

  /**
   * Starts the workers. When `signal` aborts, stops as {@link stop} does.
   * @returns resolves once the pool has stopped (drained or given up waiting)
   */
  start(signal?: AbortSignal): Promise<void> {
    if (this.#state !== 'idle') throw new Error('WorkerPool.start: already started');
    this.#state = 'running';
    this.#workers = Array.from({ length: this.#concurrency }, () => this.#work());
    const onAbort = (): void => void this.stop();
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    // Done when every worker has returned, or when stop() has given up on hung ones.
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      void Promise.all(this.#workers).then(finish);
      this.#stopRequested.signal.addEventListener('abort', () => void this.#stopping?.then(finish), { once: true });
    });
  }

  /**
   * Stops taking work (the queue is shut down) and waits for in-flight reconciles.
   * @returns true when every in-flight reconcile finished; false when the wait timed out
   *   or `options.signal` aborted, in which case the reconciles' signal is aborted
   */
  stop(options: StopOptions = {}): Promise<boolean> {
    if (this.#stopping === undefined) {
      this.#stopping = this.#stop(options);
      this.#stopRequested.abort();
    }
    return this.#stopping;
  }

  async #stop(options: StopOptions): Promise<boolean> {
    this.#state = 'stopped';
    const timeoutMs = options.timeoutMs ?? this.#options.drainTimeoutMs ?? 30_000;
    const giveUp = new AbortController();
    const signals = options.signal === undefined ? [giveUp.signal] : [giveUp.signal, options.signal];
    this.#options.clock.sleep(timeoutMs, giveUp.signal).then(
      () => giveUp.abort(),
      () => {},
    );
    const drained = await this.#options.queue.shutDownWithDrain(AbortSignal.any(signals));
    giveUp.abort();
    if (!drained) this.#reconcileAbort.abort(new Error('WorkerPool stopped before this reconcile finished'));
    return drained;
  }

  async #work(): Promise<void> {
    const queue = this.#options.queue;
    for (;;) {
      let key: K | undefined;
      try {
        key = await queue.get();
      } catch {
        return; // too many parked gets on a shared queue: this worker bows out
      }
      if (key === undefined) return;
      try {
        await this.#process(key);
      } catch {
        // Only a throwing metrics hook can land here; the key is already done.
      }
    }
  }

  async #process(key: K): Promise<void> {
    const { queue, clock } = this.#options;
    const started = clock.monotonic();
    this.#active++;
    let outcome: ReconcileOutcome = 'success';
    try {
      this.#metrics.activeWorkers(this.#active);
      let result: ReconcileResult | void;
      try {
        result = await this.#options.reconcile(key, this.#reconcileAbort.signal);
      } catch (error) {
        outcome = this.#fail(key, error);
        return;
      }
      this.#streaks.delete(key);
      queue.forget(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after > 0) {
        queue.addAfter(key, after);
        outcome = 'requeue_after';
      }
    } finally {
      queue.done(key);
      this.#active--;
      this.#metrics.activeWorkers(this.#active);
      this.#metrics.reconciled(outcome, (clock.monotonic() - started) / 1000);
    }
  }

  /** Applies a failure's retry class; returns the metric outcome. */
  #fail(key: K, error: unknown): ReconcileOutcome {
    const { queue } = this.#options;
    let retry: RetryClass;
    try {
      retry = this.#options.classify(error);
    } catch {
      retry = 'backoff';
    }
    if (retry === 'immediate') {
      const streak = (this.#streaks.get(key) ?? 0) + 1;
      if (streak === 1 && this.#streaks.size >= MAX_STREAKS) retry = 'backoff'; // cap reached: no new streaks
      else this.#streaks.set(key, streak);
      if (streak > this.#maxImmediate) retry = 'backoff';
    } else {
      this.#streaks.delete(key);
    }
    quietly(() => this.#options.onError?.(key, error, retry));
    if (retry === 'immediate') {
      queue.addAfter(key, 0);
      return 'requeue';
    }
    this.#metrics.errored(retry);
    if (retry === 'backoff') {
      let atLeastMs: number | undefined;
      try {
        atLeastMs = this.#options.retryAfterMs?.(error);
      } catch {
        atLeastMs = undefined;
      }
      queue.addRateLimited(key, atLeastMs ?? 0);
    } else {
      queue.forget(key);
      quietly(() => this.#options.onTerminal?.(key, error));
    }
    return 'error';
  }
}

function quietly(callback: () => void): void {
  try {
    callback();
  } catch {
    // A reporting callback failed; the retry decision stands.
  }
}
