/**
 * Promise-based waits on spool conditions ("an offset above N exists", "there is room"):
 * each waiter re-checks its own condition whenever the spool calls `wake()` after a
 * change. Bounded by the callers: one entry per pending wait, removed when it settles.
 */

/** A set of pending condition waits. */
export class Waiters {
  private readonly checks = new Set<() => void>();

  /**
   * Resolves once `ready()` holds; rejects with the signal's reason on abort, or with
   * what `stopped()` returns once that is an error (e.g. the spool closed).
   */
  wait(ready: () => boolean, stopped: () => Error | undefined, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const stop = stopped();
        if (signal?.aborted) reject(signal.reason as Error);
        else if (ready()) resolve();
        else if (stop !== undefined) reject(stop);
        else return;
        this.checks.delete(check);
        signal?.removeEventListener('abort', check);
      };
      this.checks.add(check);
      signal?.addEventListener('abort', check, { once: true });
      check();
    });
  }

  /** Re-checks every pending wait. */
  wake(): void {
    if (this.checks.size === 0) return;
    for (const check of [...this.checks]) check();
  }
}
