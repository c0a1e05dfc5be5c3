/**
 * The informer's list/watch loop as data plus a step function (the shape of kube-rs's
 * `watcher`): {@link InformerLoopState} says whether the next round must list first,
 * how many rounds in a row failed, and when the periodic relist is due;
 * {@link stepLoop} moves it on one outcome. The informer (informer.ts) does the I/O and
 * sleeps `backoff.delayAfterFailures(failures)` whenever `failures > 0`.
 *
 * Rules:
 * - a successful list moves to watching, clears the failures and schedules the next
 *   relist at `relistPeriodMs × [0.9, 1.1)` (jittered by the input's `jitter`);
 * - a watch that ends at once (under 1 s) without delivering anything is a failure in
 *   disguise; any other end of a watch clears the failures;
 * - 410 Gone / Expired: list again, with at most one failure counted (a short pause,
 *   not a growing one);
 * - any other error: one more failure, same phase (a failed list is listed again, a
 *   failed watch is watched again).
 *
 * Limitations: time is monotonic ms supplied by the caller; the state does not know
 * about aborts (the loop stops when its signal does).
 */

/** Where the loop stands. */
export interface InformerLoopState {
  /** `list`: the next round lists first (start, after Gone); `watch`: it watches from the last resourceVersion. */
  readonly phase: 'list' | 'watch';
  /** Rounds that failed in a row (the backoff exponent); 0 after a success. */
  readonly failures: number;
  /** Monotonic ms at which the periodic relist is due (meaningful while watching). */
  readonly relistAt: number;
}

/** The outcome of one round. */
export type LoopEvent =
  /** The list succeeded at monotonic `at`; `jitter` in [0, 1) spreads the next relist. */
  | { readonly type: 'listed'; readonly at: number; readonly relistPeriodMs: number; readonly jitter: number }
  /** A watch ended by itself after `durationMs`, having delivered `delivered` events. */
  | { readonly type: 'watchEnded'; readonly delivered: number; readonly durationMs: number }
  /** The server said the resourceVersion is too old (410 Gone / Expired). */
  | { readonly type: 'expired' }
  /** Any other error. */
  | { readonly type: 'failed' };

export const initialLoopState: InformerLoopState = { phase: 'list', failures: 0, relistAt: 0 };

/** A watch shorter than this that delivered nothing counts as a failure, ms. */
export const EMPTY_WATCH_FAILURE_MS = 1000;

/** The state after one round's outcome. */
export function stepLoop(state: InformerLoopState, event: LoopEvent): InformerLoopState {
  switch (event.type) {
    case 'listed':
      return { phase: 'watch', failures: 0, relistAt: event.at + event.relistPeriodMs * (0.9 + 0.2 * event.jitter) };
    case 'watchEnded':
      return { ...state, failures: event.delivered === 0 && event.durationMs < EMPTY_WATCH_FAILURE_MS ? state.failures + 1 : 0 };
    case 'expired':
      return { ...state, phase: 'list', failures: Math.min(state.failures, 1) };
    case 'failed':
      return { ...state, failures: state.failures + 1 };
  }
}

/** Whether the next round lists first: after start or Gone, or once the periodic relist is due (`relistPeriodMs` 0 disables it). */
export function listDue(state: InformerLoopState, now: number, relistPeriodMs: number): boolean {
  return state.phase === 'list' || (relistPeriodMs > 0 && now >= state.relistAt);
}

/** The longest the next watch may last, in whole seconds (>= 1), so it ends by the relist. */
export function watchBudgetSeconds(state: InformerLoopState, now: number, relistPeriodMs: number): number {
  return relistPeriodMs > 0 ? Math.max(1, Math.floor((state.relistAt - now) / 1000)) : Infinity;
}
