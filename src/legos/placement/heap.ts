/**
 * A binary min-heap of small integers (member indices) under a caller's ordering, used
 * by the planner to pick the least-loaded receiver or the most-loaded donor in
 * O(log n). The ordering reads live state, so callers pop, change the member's load and
 * push it back; an index is never in the heap twice.
 *
 * Limitations: single-threaded; the ordering must be a strict total order (break ties by
 * index) or the pop order, and so the plan, would depend on insertion order.
 */
export class IndexHeap {
  readonly #items: number[] = [];
  readonly #before: (a: number, b: number) => boolean;

  /** @param before true when `a` must be popped before `b` */
  constructor(before: (a: number, b: number) => boolean) {
    this.#before = before;
  }

  get size(): number {
    return this.#items.length;
  }

  push(index: number): void {
    const items = this.#items;
    items.push(index);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as number;
      if (!this.#before(index, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = index;
  }

  pop(): number | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && this.#before(items[r] as number, items[l] as number)) child = r;
      const c = items[child] as number;
      if (!this.#before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
