/**
 * What the manager starts and stops: a {@link Runnable} runs until its signal aborts,
 * then releases what it holds and resolves (controller-runtime's `Runnable`). The
 * manager runs the caches and the endpoints on every replica, and the controllers only
 * for the length of a leadership term.
 *
 * Limitations: a runnable that ignores its signal keeps the manager from stopping.
 */

/** A long-running part of the operator, started once with the signal that stops it. */
export interface Runnable {
  /** Runs until `signal` aborts; resolves once everything it held is released. */
  start(signal: AbortSignal): Promise<void>;
}
