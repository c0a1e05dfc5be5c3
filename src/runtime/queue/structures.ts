/**
 * The two containers behind the work queue: a FIFO with O(1) amortised push and shift,
 * and a min-heap of delayed keys ordered by due time with at most one entry per key.
 *
 * Neither has a cap of its own; the work queue caps them (see `WorkQueueOptions`).
 *
 * Limitations: single-threaded use only (as everything in one JavaScript realm).
 */

/** First-in first-out list; `shift` is O(1) amortised (the array is compacted lazily). */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined; // let it be collected
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** One delayed key: due at `readyAt` (monotonic ms); `seq` breaks ties in arrival order. */
export interface DelayedEntry<K> {
  readonly key: K;
  readyAt: number;
  seq: number;
  index: number;
}

function before<K>(a: DelayedEntry<K>, b: DelayedEntry<K>): boolean {
  return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq);
}

/**
 * Min-heap of delayed keys by `(readyAt, seq)`, one entry per key: scheduling a key that
 * is already waiting keeps the earlier due time (and that schedule's `seq`).
 */
export class DelayHeap<K> {
  readonly #heap: DelayedEntry<K>[] = [];
  readonly #byKey = new Map<K, DelayedEntry<K>>();

  get size(): number {
    return this.#heap.length;
  }

  has(key: K): boolean {
    return this.#byKey.has(key);
  }

  /** The entry due first, without removing it. */
  peek(): DelayedEntry<K> | undefined {
    return this.#heap[0];
  }

  /**
   * Schedules `key` at `readyAt` unless it is already scheduled no later.
   * @returns true when the key's due time was set or moved earlier
   */
  schedule(key: K, readyAt: number, seq: number): boolean {
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      if (readyAt >= existing.readyAt) return false;
      existing.readyAt = readyAt;
      existing.seq = seq;
      this.#up(existing.index);
      return true;
    }
    const entry: DelayedEntry<K> = { key, readyAt, seq, index: this.#heap.length };
    this.#heap.push(entry);
    this.#byKey.set(key, entry);
    this.#up(entry.index);
    return true;
  }

  /** Removes and returns the entry due first. */
  pop(): DelayedEntry<K> | undefined {
    const top = this.#heap[0];
    if (top === undefined) return undefined;
    const last = this.#heap.pop() as DelayedEntry<K>;
    if (last !== top) {
      this.#heap[0] = last;
      last.index = 0;
      this.#down(0);
    }
    this.#byKey.delete(top.key);
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
    this.#byKey.clear();
  }

  #up(index: number): void {
    const heap = this.#heap;
    const entry = heap[index] as DelayedEntry<K>;
    let i = index;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as DelayedEntry<K>;
      if (!before(entry, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const entry = heap[index] as DelayedEntry<K>;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      let child = heap[left] as DelayedEntry<K>;
      let childIndex = left;
      if (right < heap.length && before(heap[right] as DelayedEntry<K>, child)) {
        child = heap[right] as DelayedEntry<K>;
        childIndex = right;
      }
      if (!before(child, entry)) break;
      heap[i] = child;
      child.index = i;
      i = childIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
