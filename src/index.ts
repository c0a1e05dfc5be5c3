/**
 * The `manyfold` client library: what applications use against the control plane.
 *
 * - Fenced leases on etcd (`createLeaseClient`): mutual exclusion with fencing tokens,
 *   the library behind the `FencedLease` kind.
 * - Rate limiters fed by `RatePolicy` (`createRateLimiter`, `rateLimited` for Node's
 *   `http` server): a global limit split into per-pod shares, enforced in-process.
 * - Token buckets (`TokenBucket`), the enforcement primitive of those shares.
 * - Clocks (`SystemClock`, `ManualClock`) for injecting time into both.
 *
 * Shard routing lookups and flag evaluation join this list with their kinds.
 */
export * from './legos/lease/index.ts';
export * from './legos/ratelimit/index.ts';
export { TokenBucket } from './legos/token-bucket.ts';
export { ManualClock, SystemClock, type Clock } from './legos/clock.ts';
