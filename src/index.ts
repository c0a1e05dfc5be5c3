/**
 * The `manyfold` client library: what applications use against the control plane.
 *
 * - Fenced leases on etcd (`createLeaseClient`): mutual exclusion with fencing tokens,
 *   the library behind the `FencedLease` kind.
 * - Rate limiters fed by `RatePolicy` (`createRateLimiter`, `rateLimited` for Node's
 *   `http` server): a global limit split into per-pod shares, enforced in-process.
 * - Token buckets (`TokenBucket`), the enforcement primitive of those shares.
 * - Clocks (`SystemClock`, `ManualClock`) for injecting time into both.
 * - Shard routing (`ShardRouter`, `watchRoutingTable`, `shardOfKey`): lookups of a
 *   ShardMap's routing table, and `ShardHost`: the shards a Cell's process owns with
 *   their epochs (fencing tokens), hand-off acknowledgements and loss signals.
 *
 * - Flag evaluation (`ManyfoldFlagProvider`): an OpenFeature provider for
 *   `@openfeature/server-sdk` that watches the flag documents the FeatureFlag controller
 *   publishes (`configMapSource`, `fileSource`) and evaluates them in process.
 */
export * from './legos/lease/index.ts';
export * from './legos/ratelimit/index.ts';
export { TokenBucket } from './legos/token-bucket.ts';
export { ManualClock, SystemClock, type Clock } from './legos/clock.ts';
export { ManyfoldFlagProvider, type FlagDocumentSource, type ManyfoldFlagProviderOptions } from './legos/flagd/provider.ts';
export {
  FLAGS_CONFIGMAP,
  FLAGS_VERSION_ANNOTATION,
  NAMESPACE_DOCUMENT_KEY,
  cellDocumentKey,
  configMapSource,
  fileSource,
  type ConfigMapSourceOptions,
  type FileSourceOptions,
} from './legos/flagd/sources.ts';
export { KubeClient } from './kube/client.ts';
export { ShardRouter, RoutingNotReadyError, watchRoutingTable, tableOfConfigMap, type RoutingEntry, type RoutingTable, type WatchRoutingOptions } from './client/shard-router.ts';
export { ShardHost, ackConfigMapName, type OwnedShard, type OwnershipChange, type ShardLoss, type ShardHostOptions } from './client/shard-host.ts';
export { keyHash, shardOfKey, KEY_HASH_NAME } from './legos/placement/key-hash.ts';
