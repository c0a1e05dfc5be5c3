/**
 * BoundedRingBuffer: a fixed-capacity FIFO with an explicit overflow policy and
 * counters, the staging area between a sensor and whatever consumes it. O(1) push and
 * pop on a preallocated circular array.
 *
 * Overflow policies (what a push into a full buffer does):
 * - `dropOldest` (default): evicts the oldest item and stores the new one;
 * - `dropNewest`: discards the new item;
 * - `reject`: refuses the new item (counted as rejected, not dropped, so a caller can
 *   tell back-pressure from loss);
 * - `latest`: discards everything held and keeps only the new item, so a consumer that
 *   fell behind restarts from fresh data instead of a stale backlog.
 *
 * Counters always add up: `pushed = size + taken + dropped + rejected`, where `taken`
 * counts items removed by `pop`/`drain`. `latest` counts every discarded item (the
 * reference counted one per overflow).
 *
 * Limitations: one writer and one reader at a time (no locking, it is single-threaded
 * JavaScript); items are held by reference, not copied.
 */

/** What a push into a full buffer does; see the module header. */
export type OverflowPolicy = 'dropOldest' | 'dropNewest' | 'reject' | 'latest';

/** Options of a {@link BoundedRingBuffer}. */
export interface BoundedRingBufferOptions {
  /** Maximum items held; a positive integer. */
  capacity: number;
  /** Default `'dropOldest'`. */
  overflow?: OverflowPolicy | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/** Bounded FIFO with an overflow policy and `dropped`/`rejected` counters. */
export class BoundedRingBuffer<T> implements Iterable<T> {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  readonly group: string | undefined;
  readonly #slots: (T | undefined)[];
  #head = 0;
  #size = 0;
  #pushed = 0;
  #taken = 0;
  #dropped = 0;
  #rejected = 0;

  constructor(options: BoundedRingBufferOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity <= 0) {
      throw new RangeError(`BoundedRingBuffer: capacity must be a positive integer, got ${options.capacity}`);
    }
    this.capacity = options.capacity;
    this.overflow = options.overflow ?? 'dropOldest';
    this.group = options.group;
    this.#slots = new Array<T | undefined>(this.capacity);
  }

  /** Items held now. */
  get size(): number {
    return this.#size;
  }
  /** True when the next push overflows. */
  get full(): boolean {
    return this.#size === this.capacity;
  }
  /** Every push call. */
  get pushed(): number {
    return this.#pushed;
  }
  /** Items removed by `pop` or `drain`. */
  get taken(): number {
    return this.#taken;
  }
  /** Items lost to overflow (evicted old ones or discarded new ones). */
  get dropped(): number {
    return this.#dropped;
  }
  /** New items refused by the `reject` policy. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Offers `item`; true when it is now held, false when it was dropped or rejected. */
  push(item: T): boolean {
    this.#pushed++;
    if (this.#size < this.capacity) {
      this.#append(item);
      return true;
    }
    switch (this.overflow) {
      case 'reject':
        this.#rejected++;
        return false;
      case 'dropNewest':
        this.#dropped++;
        return false;
      case 'latest':
        this.#dropped += this.#size;
        this.#discardAll();
        this.#append(item);
        return true;
      case 'dropOldest':
        this.#shift();
        this.#dropped++;
        this.#append(item);
        return true;
    }
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    this.#taken++;
    return this.#shift();
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#slots[this.#head];
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items = this.toArray();
    this.#taken += items.length;
    this.#discardAll();
    return items;
  }

  /** A copy of the held items, oldest first. */
  toArray(): T[] {
    return [...this];
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#slots[(this.#head + i) % this.capacity] as T;
  }

  #append(item: T): void {
    this.#slots[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
  }

  #shift(): T {
    const item = this.#slots[this.#head] as T;
    this.#slots[this.#head] = undefined; // let the item be collected
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return item;
  }

  #discardAll(): void {
    this.#slots.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }
}
