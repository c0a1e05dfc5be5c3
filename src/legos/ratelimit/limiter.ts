/**
 * The rate limiter's decision path, without I/O: the share in force for one limit of
 * one RatePolicy on one pod, enforced with one token bucket per key value, and the
 * demand measured for the operator. `client.ts` feeds it the published documents and
 * writes its reports; this module never touches the network, so a decision costs a
 * clock read, a Map lookup and a bucket update (a few hundred nanoseconds, see
 * bench/ratepolicy.ts).
 *
 * Share in force (see reconcilers/ratepolicy-protocol.ts for the protocol):
 * - `PerReplica` limit: the whole rate and burst, whatever the document's age.
 * - `Global` limit: this pod's grant in the newest document received, until that
 *   document's `expiresAtMs` (converted to the monotonic clock when received, so a
 *   wall-clock step does not extend it); then **lapsed**: the limit's fallback
 *   (`fallbackRequestsPerSecond`, default 0) with a `share_lapsed` event. A pod without
 *   a grant (not yet granted, or no longer Ready) also gets the fallback.
 * - A document older than the one in force is ignored (versions only increase).
 * - A share of rate 0 admits nothing (`tryTake` is false, `take` waits for a grant).
 *   A burst share below 1 is enforced as 1 (a bucket cannot admit less), so with more
 *   replicas than burst tokens the global burst can reach one token per replica.
 *
 * Buckets: one per key value, in a least-recently-used map of at most `maxKeys`
 * (default {@link DEFAULT_MAX_KEYS}); a new bucket starts full. A share change
 * reconfigures each bucket when next used: tokens kept up to the new burst, never
 * raised.
 *
 * Demand (Demand-mode limits), see {@link RateLimiterCore.demand}: the busiest key's
 * requested tokens (admitted or not) per second, the larger of the last two complete
 * windows of `refreshIntervalMs`, plus {@link DEMAND_HEADROOM}; the whole limit only
 * when the replica is *hungry*: refused or made to wait while it used at least
 * {@link HUNGRY_FRACTION} of its share. Every key's bucket gets the same share, so the
 * pod needs as much as its busiest key asks.
 *
 * Limitations: a key evicted from the map comes back with a full bucket, so with more
 * active keys than `maxKeys` a key can get one extra burst per eviction (the eviction
 * counter shows it); `take` commits its tokens when it starts waiting, so a waiter
 * that is aborted loses them (never an overshoot); one process per pod and policy
 * (two limiters with the same pod name would each enforce the whole grant).
 */
import type { Clock } from '../clock.ts';
import { MAX_TIMER_DELAY_MS } from '../retry.ts';
import { TokenBucket } from '../token-bucket.ts';
import type { LimitEntry, SharesDocument } from './document.ts';

/** Default bound of the per-key bucket map: 10,000 keys (about 2 MB). */
export const DEFAULT_MAX_KEYS = 10_000;

/**
 * Margin a Demand report adds to what was asked (0.25: 25 %), so a replica granted its
 * demand still has room for its jitter and is not refused, which would make it look
 * hungry and swing its share up and down.
 */
export const DEMAND_HEADROOM = 0.25;

/**
 * A replica refused (or made to wait) in a window is *hungry* only if its busiest key
 * was admitted at least this fraction of its share's rate (0.9) in that window: a
 * replica refused while it used far less than its share was refused for its burst
 * (requests bunched by a late timer), not for its rate, and asking for the whole limit
 * would be a lie.
 */
export const HUNGRY_FRACTION = 0.9;

/** Where the share in force comes from. */
export type ShareState = 'waiting' | 'granted' | 'lapsed' | 'per-replica' | 'missing-limit';

/** The share this pod enforces now. */
export interface ShareInForce {
  readonly state: ShareState;
  /** Requests per second, per key value. */
  readonly requestsPerSecond: number;
  /** Bucket capacity per key value (at least 1 when the rate is > 0). */
  readonly burst: number;
  /** Version of the document it comes from (0 before the first). */
  readonly version: number;
  /** Wall ms at which a Global grant lapses without a newer document. */
  readonly expiresAtMs?: number | undefined;
}

/** What the limiter reports to its owner (logged and counted by client.ts). */
export type LimiterEvent =
  | { readonly event: 'share_changed'; readonly share: ShareInForce; readonly previous: ShareInForce }
  | { readonly event: 'share_lapsed'; readonly share: ShareInForce; readonly expiredAtMs: number }
  | { readonly event: 'limit_missing'; readonly limit: string; readonly existing: readonly string[]; readonly version: number };

export interface LimiterCoreOptions {
  readonly policy: string;
  /** The limit's name in the policy. */
  readonly limit: string;
  readonly podName: string;
  readonly clock: Clock;
  /** Bound of the per-key bucket map; default {@link DEFAULT_MAX_KEYS}. */
  readonly maxKeys?: number | undefined;
  readonly onEvent?: ((event: LimiterEvent) => void) | undefined;
}

/** Options of {@link RateLimiterCore.take}. */
export interface TakeOptions {
  /** Aborting rejects the wait with the signal's reason (the tokens stay taken). */
  readonly signal?: AbortSignal | undefined;
  /** Longest wait accepted, ms; `take` answers false at once when the wait would be longer. Default: no bound. */
  readonly maxWaitMs?: number | undefined;
}

interface Entry {
  bucket: TokenBucket;
  generation: number;
  window: number;
  requested: number;
  admitted: number;
}

const NONE: ShareInForce = { state: 'waiting', requestsPerSecond: 0, burst: 0, version: 0 };

export class RateLimiterCore {
  readonly #options: LimiterCoreOptions;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Entry>();
  #doc: SharesDocument | undefined;
  #entry: LimitEntry | undefined;
  #deadlineMono = Number.POSITIVE_INFINITY;
  #share: ShareInForce = NONE;
  #generation = 0;
  #waiters = new Set<() => void>();
  // demand measurement
  #windowMs = 1000;
  #window = 0;
  /** Busiest key's requested tokens: this window, the last complete one, the one before. */
  #busiest = 0;
  #busiestLast = 0;
  #busiestBefore = 0;
  /** Most tokens one key was admitted: this window, the last complete one. */
  #admitted = 0;
  #admittedLast = 0;
  /** Share rate in force at the end of the last complete window. */
  #rateLast = 0;
  #throttled = false;
  #throttledLast = false;
  /** Counters, for metrics. */
  readonly stats = { admitted: 0, denied: 0, evictions: 0, lapses: 0 };

  constructor(options: LimiterCoreOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#maxKeys = Math.max(1, Math.floor(options.maxKeys ?? DEFAULT_MAX_KEYS));
  }

  /** The document in force, if any. */
  get document(): SharesDocument | undefined {
    return this.#doc;
  }

  /** Number of key values holding a bucket. */
  get keys(): number {
    return this.#entries.size;
  }

  /**
   * Applies a published document (ignored when older than the one in force). Returns
   * false when the document lacks this limit (a `limit_missing` event says which exist).
   */
  applyDocument(doc: SharesDocument): boolean {
    if (this.#doc !== undefined && doc.version < this.#doc.version) return this.#entry !== undefined;
    const monoNow = this.#clock.monotonic();
    this.#doc = doc;
    this.#windowMs = Math.max(1, doc.refreshIntervalMs);
    this.#deadlineMono = monoNow + (doc.expiresAtMs - this.#clock.now());
    this.#entry = doc.limits.find((l) => l.name === this.#options.limit);
    if (this.#entry === undefined) {
      this.#options.onEvent?.({ event: 'limit_missing', limit: this.#options.limit, existing: doc.limits.map((l) => l.name), version: doc.version });
    }
    this.#recompute(monoNow);
    return this.#entry !== undefined;
  }

  /** The share enforced now. */
  share(): ShareInForce {
    this.#recompute(this.#clock.monotonic());
    return this.#share;
  }

  /** Takes `n` tokens (default 1) from `key`'s bucket if they are there now. No I/O, never waits. */
  tryTake(key: string, n = 1): boolean {
    const now = this.#clock.monotonic();
    if (now >= this.#deadlineMono) this.#recompute(now);
    const entry = this.#bucketFor(key, now, n);
    if (entry !== undefined && entry.bucket.tryTake(n)) {
      this.stats.admitted++;
      this.#countAdmitted(entry, n);
      return true;
    }
    this.stats.denied++;
    this.#throttled = true;
    return false;
  }

  /**
   * How long until `n` tokens of `key` could be taken, ms, without taking them:
   * `Infinity` while the share admits nothing or `n` exceeds the burst (a 429's
   * Retry-After comes from here).
   */
  delayFor(key: string, n = 1): number {
    const now = this.#clock.monotonic();
    if (now >= this.#deadlineMono) this.#recompute(now);
    const s = this.#share;
    if (s.requestsPerSecond <= 0 || n > s.burst) return Number.POSITIVE_INFINITY;
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    this.#sync(entry);
    return entry.bucket.delayFor(n);
  }

  /**
   * Takes `n` tokens of `key`, waiting its turn (reservations are first come, first
   * served), but never longer than `maxWaitMs`: resolves false at once when the wait
   * would be longer, true once the tokens are due. While the share admits nothing it
   * waits for a grant, within the same bound.
   */
  async take(key: string, n = 1, options: TakeOptions = {}): Promise<boolean> {
    const start = this.#clock.monotonic();
    const deadline = options.maxWaitMs === undefined ? Number.POSITIVE_INFINITY : start + Math.max(0, options.maxWaitMs);
    for (;;) {
      options.signal?.throwIfAborted();
      const now = this.#clock.monotonic();
      if (now >= this.#deadlineMono) this.#recompute(now);
      const entry = this.#bucketFor(key, now, n);
      if (entry === undefined) {
        // nothing admitted now: wait for a share change (or the deadline)
        if (now >= deadline || (this.#share.requestsPerSecond > 0 && n > this.#share.burst)) {
          this.stats.denied++;
          this.#throttled = true;
          return false;
        }
        await this.#shareChangeOrTimeout(deadline - now, options.signal);
        continue;
      }
      const wait = entry.bucket.delayFor(n);
      if (wait > 0) this.#throttled = true; // asked for more than the share gives right now
      if (wait === Number.POSITIVE_INFINITY || now + wait > deadline) {
        this.stats.denied++;
        return false;
      }
      const due = entry.bucket.reserve(n);
      this.stats.admitted++;
      this.#countAdmitted(entry, n);
      if (due > 0) await this.#clock.sleep(due, options.signal);
      return true;
    }
  }

  /**
   * Demand in requests/s, for the operator's max-min split:
   * - *hungry* (in the last complete window some request was refused or made to wait,
   *   and the busiest key was admitted at least {@link HUNGRY_FRACTION} of the share's
   *   rate): the whole limit. A client that sends as fast as it is admitted asks only
   *   for what it gets, so a replica that uses its share and still wants more says "as
   *   much as there is", and max-min fairness gives the hungry replicas equal shares of
   *   what the others leave, in one round.
   * - otherwise: the busiest key's requests per second (admitted or not), the larger of
   *   the last two complete windows (a dip of one window is not reported), plus
   *   {@link DEMAND_HEADROOM}, at most the limit.
   */
  demand(): number {
    this.#rollWindow(this.#clock.monotonic());
    const limit = this.#entry?.requestsPerSecond ?? 0;
    const perSecond = (tokens: number) => (tokens * 1000) / this.#windowMs;
    const hungry = this.#throttledLast && perSecond(this.#admittedLast) >= HUNGRY_FRACTION * this.#rateLast;
    if (hungry) return limit;
    const asked = perSecond(Math.max(this.#busiestLast, this.#busiestBefore)) * (1 + DEMAND_HEADROOM);
    return limit > 0 ? Math.min(limit, asked) : asked;
  }

  #rollWindow(now: number): number {
    const window = Math.floor(now / this.#windowMs);
    if (window !== this.#window) {
      const consecutive = window === this.#window + 1;
      this.#busiestBefore = consecutive ? this.#busiestLast : 0;
      this.#busiestLast = consecutive ? this.#busiest : 0;
      this.#admittedLast = consecutive ? this.#admitted : 0;
      this.#throttledLast = consecutive && this.#throttled;
      this.#rateLast = this.#share.requestsPerSecond;
      this.#busiest = 0;
      this.#admitted = 0;
      this.#throttled = false;
      this.#window = window;
    }
    return window;
  }

  /** The bucket of `key`, counted as a request of `n`, or undefined while the share admits nothing. */
  #bucketFor(key: string, now: number, n: number): Entry | undefined {
    const window = this.#rollWindow(now);
    let entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key); // re-insert: most recently used last
      this.#entries.set(key, entry);
    }
    const { requestsPerSecond, burst } = this.#share;
    if (entry === undefined) {
      if (requestsPerSecond <= 0) {
        this.#count(undefined, window, n);
        return undefined;
      }
      entry = { bucket: new TokenBucket({ ratePerSecond: requestsPerSecond, burst, clock: this.#clock }), generation: this.#generation, window, requested: 0, admitted: 0 };
      this.#entries.set(key, entry);
      if (this.#entries.size > this.#maxKeys) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
        this.stats.evictions++;
      }
    }
    this.#count(entry, window, n);
    if (requestsPerSecond <= 0) return undefined;
    this.#sync(entry);
    return entry;
  }

  #count(entry: Entry | undefined, window: number, n: number): void {
    let requested = n;
    if (entry !== undefined) {
      if (entry.window !== window) {
        entry.window = window;
        entry.requested = 0;
        entry.admitted = 0;
      }
      entry.requested += n;
      requested = entry.requested;
    }
    if (requested > this.#busiest) this.#busiest = requested;
  }

  #countAdmitted(entry: Entry, n: number): void {
    entry.admitted += n; // #count has moved the entry to this window
    if (entry.admitted > this.#admitted) this.#admitted = entry.admitted;
  }

  #sync(entry: Entry): void {
    if (entry.generation === this.#generation) return;
    entry.generation = this.#generation;
    const { requestsPerSecond, burst } = this.#share;
    if (requestsPerSecond > 0) entry.bucket.reconfigure({ ratePerSecond: requestsPerSecond, burst });
  }

  #recompute(monoNow: number): void {
    const next = this.#compute(monoNow);
    const previous = this.#share;
    if (next.requestsPerSecond === previous.requestsPerSecond && next.burst === previous.burst && next.state === previous.state && next.version === previous.version) return;
    this.#share = next;
    if (next.requestsPerSecond !== previous.requestsPerSecond || next.burst !== previous.burst) this.#generation++;
    if (next.state === 'lapsed' && previous.state !== 'lapsed') {
      this.stats.lapses++;
      this.#options.onEvent?.({ event: 'share_lapsed', share: next, expiredAtMs: this.#doc?.expiresAtMs ?? 0 });
    } else {
      this.#options.onEvent?.({ event: 'share_changed', share: next, previous });
    }
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  #compute(monoNow: number): ShareInForce {
    const doc = this.#doc;
    const entry = this.#entry;
    if (doc === undefined) return NONE;
    if (entry === undefined) return { state: 'missing-limit', requestsPerSecond: 0, burst: 0, version: doc.version };
    if (entry.scope === 'PerReplica') return { state: 'per-replica', requestsPerSecond: entry.requestsPerSecond, burst: Math.max(1, entry.burst), version: doc.version };
    const fallback = (state: ShareState): ShareInForce => {
      const rps = entry.fallbackRequestsPerSecond;
      return { state, requestsPerSecond: rps, burst: rps > 0 ? Math.max(1, (rps * entry.burst) / entry.requestsPerSecond) : 0, version: doc.version, expiresAtMs: doc.expiresAtMs };
    };
    if (monoNow >= this.#deadlineMono) return fallback('lapsed');
    const grant = doc.replicas[this.#options.podName]?.[this.#options.limit];
    if (grant === undefined) return fallback('waiting');
    const [rps, burst] = grant;
    return { state: 'granted', requestsPerSecond: rps, burst: rps > 0 ? Math.max(1, burst) : 0, version: doc.version, expiresAtMs: doc.expiresAtMs };
  }

  /** Resolves when the share changes or after `ms`; rejects when `signal` aborts. */
  async #shareChangeOrTimeout(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const wake = () => stop.abort('share changed');
    this.#waiters.add(wake);
    // also wake at the lapse deadline, which changes the share without a document
    const untilLapse = this.#deadlineMono - this.#clock.monotonic();
    try {
      await this.#clock.sleep(Math.max(0, Math.min(ms, untilLapse > 0 ? untilLapse : ms, MAX_TIMER_DELAY_MS)), stop.signal);
    } catch (error) {
      if (signal?.aborted) throw error;
    } finally {
      this.#waiters.delete(wake);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
