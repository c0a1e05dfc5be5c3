/**
 * Fenced leases on etcd: the public API. See `client.ts` for the guarantees,
 * assumptions, failure behaviour and limitations.
 */
export { createLeaseClient } from './client.ts';
export { DEFAULT_KEY_PREFIX, MAX_FENCED_OPS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, defaultSafetyMarginMs } from './config.ts';
export { checkTlsMaterial, type TlsMaterial, type TlsPart, type TlsProblem } from './tls-material.ts';
export { LeaseAccessError, LeaseConfigError, LeaseError, LeaseLostError, LeaseUnavailableError, type LeaseEndReason } from './errors.ts';
export type {
  AcquireOptions,
  FencedOp,
  FencedWriteResult,
  LeaseClient,
  LeaseClientOptions,
  LeaseEvent,
  LeaseHandle,
  LeaseHolder,
  LeaseKeyOptions,
  LeaseObservation,
  LeaseTlsOptions,
} from './types.ts';
