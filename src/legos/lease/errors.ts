/**
 * Typed errors of the fenced-lease client. Every error says whether trying again can
 * help (`retryable`) and keeps what caused it (`cause`); etcd3's own error classes never
 * leave this module's callers' sight, they are translated once in `etcd-port.ts`.
 *
 * Limitations: an error thrown by a fenced write whose request reached etcd but whose
 * answer did not arrive ({@link LeaseUnavailableError} with `outcomeUnknown`) leaves the
 * write's outcome unknown; read the key back to find out.
 */

/** Why a held lease ended. `released` and `closed` are the holder's own doing; the rest are losses. */
export type LeaseEndReason =
  /** The holder's own deadline (`validUntil`) passed without a confirmed keep-alive. */
  | 'expired'
  /** etcd no longer knows the lease: revoked (e.g. by `revoke(name)`) or expired on the server. */
  | 'revoked'
  /** The holder's key was deleted (e.g. by `deleteAll(name)`) while the lease lived on. */
  | 'deleted'
  /** A fenced write was rejected by etcd: the holder key is no longer current. */
  | 'fenced'
  /** `release()` was called, or the acquire signal aborted after the lease was held. */
  | 'released'
  /** The lease client was closed. */
  | 'closed';

/** Base class: every error this module throws. */
export abstract class LeaseError extends Error {
  /** True when the same call may succeed later (etcd unreachable, timeouts). */
  abstract readonly retryable: boolean;
}

/** Invalid options; `field` names the offending option (e.g. `ttlSeconds`, `endpoints`). */
export class LeaseConfigError extends LeaseError {
  override readonly name = 'LeaseConfigError';
  readonly retryable = false;
  /** The option at fault, as a dotted path (`ttlSeconds`, `tls.cert`, `ops[3].key`). */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`invalid lease option ${field}: ${message}`);
    this.field = field;
  }
}

/** The lease ended; `reason` says why. Also the `reason` of a handle's aborted `signal`. */
export class LeaseLostError extends LeaseError {
  override readonly name = 'LeaseLostError';
  readonly retryable = false;
  readonly reason: LeaseEndReason;
  constructor(reason: LeaseEndReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** etcd could not be reached or did not answer in time. */
export class LeaseUnavailableError extends LeaseError {
  override readonly name = 'LeaseUnavailableError';
  readonly retryable = true;
  /** True for a write whose outcome is unknown (sent, no answer). */
  readonly outcomeUnknown: boolean;
  constructor(message: string, options: { cause?: unknown; outcomeUnknown?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

/** etcd refused the credentials or the permission (authentication, RBAC). */
export class LeaseAccessError extends LeaseError {
  override readonly name = 'LeaseAccessError';
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
