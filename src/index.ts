/**
 * The `manyfold` client library: what applications use against the control plane.
 *
 * - Fenced leases on etcd (`createLeaseClient`): mutual exclusion with fencing tokens,
 *   the library behind the `FencedLease` kind.
 * - Token buckets (`TokenBucket`), the enforcement primitive of `RatePolicy` shares.
 * - Clocks (`SystemClock`, `ManualClock`) for injecting time into both.
 *
 * - Flag evaluation (`ManyfoldFlagProvider`): an OpenFeature provider for
 *   `@openfeature/server-sdk` that watches the flag documents the FeatureFlag controller
 *   publishes (`configMapSource`, `fileSource`) and evaluates them in process.
 *
 * Shard routing lookups join this list with their kind.
 */
export * from './legos/lease/index.ts';
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
