/**
 * SequenceCounter: per-source sequence numbers with no gaps caused by failed
 * publishes. `next()` only *proposes* `current + step`; the number is consumed by
 * `commit()` after the sample was published (reserve/commit), so a failed publish
 * reuses the number. After a restart the agent resumes from the last value the spool
 * holds (`resumeFrom`), so numbers continue instead of restarting at 1.
 *
 * Assumptions: one writer per counter, one reservation in flight at a time (a second
 * `next()` before `commit()` returns the same number). Limitations: numbers stay exact
 * only up to `Number.MAX_SAFE_INTEGER`; `next()` throws beyond it.
 */

/** Options of a {@link SequenceCounter}. */
export interface SequenceCounterOptions {
  /** The last published number; the first `next()` returns `start + step`. Default 0. */
  start?: number | undefined;
  /** Positive integer increment. Default 1. */
  step?: number | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

function checkSequence(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`SequenceCounter: ${what} must be a safe integer, got ${value}`);
}

/** Monotonic sequence numbers consumed only on successful publish. */
export class SequenceCounter {
  readonly step: number;
  readonly group: string | undefined;
  #current: number;
  #commits = 0;

  constructor(options: SequenceCounterOptions = {}) {
    this.#current = options.start ?? 0;
    this.step = options.step ?? 1;
    this.group = options.group;
    checkSequence(this.#current, 'start');
    if (!Number.isSafeInteger(this.step) || this.step <= 0) throw new RangeError(`SequenceCounter: step must be a positive integer, got ${this.step}`);
  }

  /** The last committed (published) number. */
  get current(): number {
    return this.#current;
  }

  /** Numbers committed by this instance. */
  get commits(): number {
    return this.#commits;
  }

  /** The number the next publish will carry (`current + step`); consumes nothing. */
  next(): number {
    const proposed = this.#current + this.step;
    if (!Number.isSafeInteger(proposed)) throw new RangeError('SequenceCounter: sequence exhausted (beyond Number.MAX_SAFE_INTEGER)');
    return proposed;
  }

  /** Marks `value` (which must equal `next()`) as published. */
  commit(value: number): void {
    const expected = this.next();
    if (value !== expected) throw new RangeError(`SequenceCounter: commit of ${value}, expected ${expected} (stale or double commit)`);
    this.#current = value;
    this.#commits++;
  }

  /** Continues after `lastPublished` (for example the spool's newest record after a restart). */
  resumeFrom(lastPublished: number): void {
    checkSequence(lastPublished, 'lastPublished');
    this.#current = lastPublished;
  }

  /** Calls `publish(next())` and commits the number only if it returns without throwing. */
  withNext<R>(publish: (sequence: number) => R): R {
    const sequence = this.next();
    const result = publish(sequence);
    this.commit(sequence);
    return result;
  }

  /** Awaits `publish(next())` and commits the number only if it resolves. */
  async withNextAsync<R>(publish: (sequence: number) => Promise<R>): Promise<R> {
    const sequence = this.next();
    const result = await publish(sequence);
    this.commit(sequence);
    return result;
  }
}
