/**
 * A map with a cap: at most `max` entries; adding one more evicts the oldest (the entry
 * set or refreshed longest ago), counts it in `evictions` and tells `onEvict` (a metric
 * counter, say). The one eviction rule for every per-object memory in the operator
 * (forced-apply times, status-write times, finalized uids, status read-your-writes).
 *
 * Guarantees: `size <= max` after every call; `get` does not refresh an entry's age
 * (only `set` does), so eviction order is the order of the last writes.
 *
 * Limitations: eviction is by age of the last write, not by use; `onEvict` must not
 * throw (an exception propagates out of `set`).
 */

/** Options of a {@link BoundedMap}. */
export interface BoundedMapOptions<K> {
  /** Most entries held; a positive integer. */
  readonly max: number;
  /** Called once per evicted key (e.g. to count it in a metric). */
  readonly onEvict?: ((key: K) => void) | undefined;
}

/** A `Map` holding at most `max` entries, oldest write evicted first (see the module header). */
export class BoundedMap<K, V> {
  readonly max: number;
  readonly #entries = new Map<K, V>();
  readonly #onEvict: ((key: K) => void) | undefined;
  /** Entries evicted so far. */
  evictions = 0;

  constructor(options: BoundedMapOptions<K>) {
    if (!Number.isSafeInteger(options.max) || options.max < 1) throw new RangeError(`BoundedMap: max must be a positive integer, got ${options.max}`);
    this.max = options.max;
    this.#onEvict = options.onEvict;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Sets `key` (it becomes the newest entry), evicting the oldest entries past `max`. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
      this.evictions++;
      this.#onEvict?.(oldest);
    }
  }

  /** Removes `key`; true when it was there. Not an eviction. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  keys(): IterableIterator<K> {
    return this.#entries.keys();
  }
}
