/**
 * A per-key floor on how often a noisy event source may wake a key: the first event
 * after a quiet spell passes at once; events that follow within `minIntervalMs` of the
 * last one let through are folded into a single wake-up at the end of that interval.
 * Used for watches whose objects change far more often than their owner needs to be
 * reconciled (a SensorFleet's heartbeat Leases: hundreds of renewals a second for one
 * fleet whose reconcile reads them all).
 *
 * Pure (time comes in as `now`, monotonic ms); the caller does the waiting, e.g. with
 * `WorkQueue.addAfter`.
 *
 * Guarantees, for each key and `minIntervalMs` m:
 * - wake-ups are at least m apart;
 * - every event is followed by a wake-up no later than m after it (none is lost, and
 *   the wake-up comes after the event, so the reconcile sees it);
 * - an event at least m after the last wake-up passes at once.
 *
 * Bounded: at most `maxKeys` keys are remembered; when full, keys whose last wake-up is
 * at least m old (which behave as unknown ones) are swept, and if none is, the event
 * passes at once (fail open: more reconciles, never a lost one), counted in `overflowed`.
 *
 * Limitations: only the wake-ups of this source are spaced; other triggers of the same
 * key (its own changes, requeue timers, resyncs) are not delayed and not counted.
 */

/** What to do with one event. */
export type FloorVerdict =
  /** Wake the key now. */
  | { readonly kind: 'now' }
  /** Wake the key after `delayMs` (a wake-up is now scheduled for then). */
  | { readonly kind: 'later'; readonly delayMs: number }
  /** Nothing: a wake-up already scheduled for the key comes after this event. */
  | { readonly kind: 'folded' };

interface Entry {
  /** Monotonic ms of the last wake-up let through or scheduled. */
  at: number;
}

export interface RateFloorOptions {
  /** Least time between two wake-ups of one key, ms (0 lets everything through). */
  readonly minIntervalMs: number;
  /** Most keys remembered at once. @default 100000 */
  readonly maxKeys?: number | undefined;
}

export class RateFloor {
  readonly minIntervalMs: number;
  readonly #maxKeys: number;
  readonly #keys = new Map<string, Entry>();
  #overflowed = 0;

  constructor(options: RateFloorOptions) {
    if (!(options.minIntervalMs >= 0) || !Number.isFinite(options.minIntervalMs)) throw new RangeError(`minIntervalMs must be a finite number >= 0, got ${options.minIntervalMs}`);
    this.minIntervalMs = options.minIntervalMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#keys.size;
  }

  /** Events let through at once because `maxKeys` keys were remembered. */
  get overflowed(): number {
    return this.#overflowed;
  }

  /** Decides what to do with an event for `key` at monotonic time `now` (ms; never decreasing). */
  offer(key: string, now: number): FloorVerdict {
    const m = this.minIntervalMs;
    if (m === 0) return { kind: 'now' };
    const entry = this.#keys.get(key);
    if (entry && entry.at > now) return { kind: 'folded' };
    if (!entry || now - entry.at >= m) {
      if (!entry && this.#keys.size >= this.#maxKeys && this.#sweep(now) === 0) {
        this.#overflowed++;
        return { kind: 'now' };
      }
      this.#keys.set(key, { at: now });
      return { kind: 'now' };
    }
    entry.at += m;
    return { kind: 'later', delayMs: entry.at - now };
  }

  /** Forgets every key (a new leadership term: its queue starts from a full list). */
  clear(): void {
    this.#keys.clear();
  }

  /** Drops keys whose last wake-up is at least m old (they behave as unknown); returns how many. */
  #sweep(now: number): number {
    let removed = 0;
    for (const [key, entry] of this.#keys) {
      if (now - entry.at >= this.minIntervalMs) {
        this.#keys.delete(key);
        removed++;
      }
    }
    return removed;
  }
}
