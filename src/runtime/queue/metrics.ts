/**
 * Metric hooks for the work queue and the worker pool. This directory never imports a
 * metrics library: the runtime's metrics module implements these interfaces with
 * prom-client under the names below (the names client-go and controller-runtime use),
 * and tests pass recorders or the no-op implementations.
 *
 * Hooks are called synchronously on the queue's hot path: they must be cheap and must
 * not throw.
 *
 * Limitations: durations are measured on the injected clock's monotonic time, so with a
 * `ManualClock` they are whatever the test advanced.
 */
import type { RetryClass } from '../../kube/errors.ts';

/** Events of one work queue (a `name` label is the implementer's business). */
export interface QueueMetrics {
  /** `workqueue_depth`: keys waiting to be handed out, after every change. */
  depth(keys: number): void;
  /** `workqueue_adds_total`: a key became pending (adds of an already pending key do not count). */
  added(): void;
  /** `workqueue_retries_total`: a delayed or rate-limited add (`addAfter`, `addRateLimited`). */
  retried(): void;
  /** `workqueue_queue_duration_seconds`: time from a key becoming pending to being handed out. */
  queued(seconds: number): void;
  /** `workqueue_work_duration_seconds`: time from a key being handed out to `done`. */
  worked(seconds: number): void;
}

/**
 * `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`
 * are gauges read at scrape time from {@link WorkQueue.unfinishedWork}, so the queue
 * needs no timer of its own to refresh them.
 */
export interface UnfinishedWork {
  /** Sum over keys being processed of how long each has been processing, in seconds. */
  readonly unfinishedSeconds: number;
  /** How long the longest-running key has been processing, in seconds (0 when idle). */
  readonly longestRunningSeconds: number;
}

/** The `result` label of `controller_runtime_reconcile_total`. */
export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

/** Events of one controller's worker pool. */
export interface ReconcileMetrics {
  /**
   * `controller_runtime_reconcile_total{result}` and
   * `controller_runtime_reconcile_time_seconds` (one observation per reconcile).
   */
  reconciled(outcome: ReconcileOutcome, seconds: number): void;
  /**
   * `controller_runtime_reconcile_errors_total`, and
   * `controller_runtime_terminal_reconcile_errors_total` when `retry` is `'terminal'`;
   * `retry` is how the failure was handled (after escalation).
   */
  errored(retry: RetryClass): void;
  /** `controller_runtime_active_workers`: reconciles running now. */
  activeWorkers(count: number): void;
}

/** Queue metrics that record nothing. */
export const noopQueueMetrics: QueueMetrics = {
  depth: () => {},
  added: () => {},
  retried: () => {},
  queued: () => {},
  worked: () => {},
};

/** Reconcile metrics that record nothing. */
export const noopReconcileMetrics: ReconcileMetrics = {
  reconciled: () => {},
  errored: () => {},
  activeWorkers: () => {},
};
