/**
 * The controller work queue and its worker pool: what sits between watch events and a
 * controller's `reconcile(key)`. See `work-queue.ts` for the queue's contract,
 * `workers.ts` for how reconcile outcomes become retries, `rate-limiter.ts` for backoff
 * and `metrics.ts` for the metric hooks (the names client-go and controller-runtime use).
 */
export { MAX_DELAY_MS, WorkQueue, type WorkQueueOptions } from './work-queue.ts';
export { WorkerPool, type ReconcileFn, type ReconcileResult, type StopOptions, type WorkerPoolOptions } from './workers.ts';
export {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  type BucketRateLimiterOptions,
  type ExponentialFailureOptions,
  type RateLimiter,
} from './rate-limiter.ts';
export {
  noopQueueMetrics,
  noopReconcileMetrics,
  type QueueMetrics,
  type ReconcileMetrics,
  type ReconcileOutcome,
  type UnfinishedWork,
} from './metrics.ts';
