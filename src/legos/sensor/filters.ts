/**
 * Change filters that cut repetitive sensor readings before they are spooled and sent.
 *
 * - `ChangeFilter` passes the first value, then only values whose key differs from the
 *   key of the last *passed* value (structural equality by default, so an object
 *   reading equal to the previous one is suppressed).
 * - `ThresholdFilter` is a dead-band against the last passed value: a number passes
 *   when `|new − last| > threshold` (strictly); arrays and plain objects pass when their
 *   shape changed (length, key set) or any member changed enough, recursively; other
 *   values (strings, booleans, null, mismatched kinds) pass when they differ.
 *
 * Comparing against the last *passed* value (not the last seen one) means a slow drift
 * still gets through once it has accumulated beyond the threshold.
 *
 * Special numbers: NaN equals NaN (a stuck NaN reading is suppressed), NaN versus a
 * number is a change; equal infinities are unchanged, otherwise an infinity is a change.
 *
 * Limitations: values are expected to be acyclic JSON-like data; nesting deeper than
 * 64 levels counts as a change rather than being walked; class instances other than
 * arrays (Date, Map) compare by identity.
 */

const MAX_DEPTH = 64;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * Compares two values member by member; `leaf` decides for two non-container values.
 * Returns true when they differ (by shape, kind, or a leaf difference).
 */
function differs(a: unknown, b: unknown, leaf: (a: unknown, b: unknown) => boolean, depth: number): boolean {
  if (depth > MAX_DEPTH) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return true;
    return a.some((item, i) => differs(item, b[i], leaf, depth + 1));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length || keys.some((k) => !Object.hasOwn(b, k))) return true;
    return keys.some((k) => differs(a[k], b[k], leaf, depth + 1));
  }
  return leaf(a, b);
}

/** Structural equality of JSON-like values (SameValueZero at the leaves). */
export function deepEqual(a: unknown, b: unknown): boolean {
  return !differs(a, b, (x, y) => !sameValueZero(x, y), 0);
}

function numberChanged(next: number, last: number, threshold: number): boolean {
  if (next === last) return false;
  if (Number.isNaN(next) || Number.isNaN(last)) return !(Number.isNaN(next) && Number.isNaN(last));
  return Math.abs(next - last) > threshold;
}

/** True when `next` differs from `last` by more than `threshold` in the sense of {@link ThresholdFilter}. */
export function changedEnough(next: unknown, last: unknown, threshold: number): boolean {
  return differs(next, last, (x, y) => (typeof x === 'number' && typeof y === 'number' ? numberChanged(x, y, threshold) : !sameValueZero(x, y)), 0);
}

/** Options shared by the filters. */
export interface FilterOptions<T> {
  /** What is compared; default the value itself. */
  key?: ((value: T) => unknown) | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/** Common state: the last passed key and the counters. */
abstract class LastPassedFilter<T> {
  readonly group: string | undefined;
  readonly #key: (value: T) => unknown;
  #hasLast = false;
  #last: unknown = undefined;
  #passed = 0;
  #suppressed = 0;

  constructor(options: FilterOptions<T>) {
    this.group = options.group;
    this.#key = options.key ?? ((value) => value);
  }

  /** Values passed. */
  get passed(): number {
    return this.#passed;
  }
  /** Values suppressed. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** True when `value` passes; a passed value becomes the new reference. */
  accepts(value: T): boolean {
    const key = this.#key(value);
    if (this.#hasLast && !this.changed(key, this.#last)) {
      this.#suppressed++;
      return false;
    }
    this.#hasLast = true;
    this.#last = key;
    this.#passed++;
    return true;
  }

  /** Forgets the last passed value, so the next value passes. */
  reset(): void {
    this.#hasLast = false;
    this.#last = undefined;
  }

  protected abstract changed(key: unknown, last: unknown): boolean;
}

/** Passes the first value, then values whose key differs from the last passed one. */
export class ChangeFilter<T> extends LastPassedFilter<T> {
  readonly #equals: (a: unknown, b: unknown) => boolean;

  constructor(options: FilterOptions<T> & { equals?: ((a: unknown, b: unknown) => boolean) | undefined } = {}) {
    super(options);
    this.#equals = options.equals ?? deepEqual;
  }

  protected changed(key: unknown, last: unknown): boolean {
    return !this.#equals(key, last);
  }
}

/** Dead-band filter; see the module header. */
export class ThresholdFilter<T> extends LastPassedFilter<T> {
  /** Dead-band width (>= 0) in the value's units. */
  readonly threshold: number;

  constructor(options: FilterOptions<T> & { threshold: number }) {
    super(options);
    if (!(options.threshold >= 0)) throw new RangeError(`ThresholdFilter: threshold must be >= 0, got ${options.threshold}`);
    this.threshold = options.threshold;
  }

  protected changed(key: unknown, last: unknown): boolean {
    return changedEnough(key, last, this.threshold);
  }
}
