/**
 * The few etcd operations the lease algorithm needs, in our own types. `etcd-port.ts`
 * implements them over etcd3; unit tests implement them in memory. Revisions are
 * bigints, lease IDs decimal strings (etcd's int64), values bytes.
 *
 * Every method rejects with a `LeaseError` subclass (`LeaseUnavailableError` when etcd
 * did not answer, `LeaseAccessError` on auth/permission failures).
 *
 * Limitations: the interface is shaped for this module only; it is not a general etcd client.
 */
import type { FencedOp } from './types.ts';

/** One key as stored in etcd. */
export interface StoredKey {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  /** Decimal lease ID ('0' when none). */
  readonly leaseId: string;
}

/** A read and the store revision it reflects. */
export interface ReadResult<T> {
  readonly revision: bigint;
  readonly value: T;
}

export interface LeasePort {
  /** Grants a lease of `ttlSeconds`; resolves to its decimal ID. */
  grant(ttlSeconds: number): Promise<string>;
  /** One keep-alive; resolves to the TTL etcd answered (0 when the lease is gone). */
  keepAlive(leaseId: string, options: { readonly timeoutMs: number }): Promise<number>;
  /** Revokes a lease; resolves false when it was already gone. */
  revoke(leaseId: string, options?: { readonly timeoutMs?: number }): Promise<boolean>;
  /** The lease's remaining and granted TTL, s (undefined when gone). */
  timeToLive(leaseId: string): Promise<{ readonly remainingSeconds: number; readonly grantedSeconds: number } | undefined>;
  /**
   * Creates `key` (attached to `leaseId`) in one transaction. When `dir` was empty the
   * value is `valueIfFirst`, else `value`. Resolves to the key's create revision,
   * whether it was first, and the key just before it in line (`'unknown'` when the
   * answer cannot tell, e.g. after a retried request).
   */
  enqueue(request: {
    readonly dir: string;
    readonly key: string;
    readonly leaseId: string;
    readonly value: Uint8Array;
    readonly valueIfFirst: Uint8Array;
  }): Promise<{ readonly createRevision: bigint; readonly first: boolean; readonly predecessor: StoredKey | undefined | 'unknown'; readonly revision: bigint }>;
  /**
   * In one transaction: if `holderKey` exists with create revision `token` and no key
   * under `dir` was created before it, rewrite its value to `holderValue` (keeping its
   * lease) and resolve `claimed`; else report whether our key still exists and the
   * nearest key before it.
   */
  claimTurn(request: { readonly dir: string; readonly holderKey: string; readonly token: bigint; readonly holderValue: Uint8Array }): Promise<
    | { readonly claimed: true; readonly revision: bigint }
    | { readonly claimed: false; readonly ownKeyExists: boolean; readonly predecessor: StoredKey | undefined; readonly revision: bigint }
  >;
  /** The key under `dir` with the largest create revision <= `maxCreateRevision`. */
  lastCreatedUpTo(dir: string, maxCreateRevision: bigint): Promise<ReadResult<StoredKey | undefined>>;
  /** The key under `dir` with the smallest create revision, and how many keys `dir` holds. */
  firstCreated(dir: string): Promise<ReadResult<{ readonly first: StoredKey | undefined; readonly count: number }>>;
  /**
   * Resolves once `key` created at `createRevision` no longer exists, watching from
   * `fromRevision`. Survives lost watches by re-reading the key. Rejects with the
   * signal's reason when `signal` aborts.
   */
  waitGone(key: string, createRevision: bigint, fromRevision: bigint, signal: AbortSignal): Promise<void>;
  /** Applies `ops` only if `holderKey` exists with create revision `token`. */
  txnIfCurrent(request: { readonly holderKey: string; readonly token: bigint; readonly ops: readonly FencedOp[] }): Promise<{ readonly committed: boolean; readonly revision: bigint }>;
  /** Deletes every key under `dir`; resolves to how many. */
  deleteDir(dir: string): Promise<number>;
  /**
   * Calls `onChange(revision)` after each change under `dir` from `fromRevision` on, and
   * `onResync()` when the watch had to be re-established (changes may have been missed).
   * Stops when `signal` aborts.
   */
  watchDir(dir: string, fromRevision: bigint, signal: AbortSignal, handlers: { readonly onChange: (revision: bigint) => void; readonly onResync: () => void }): void;
  /** Closes the connection; later calls reject. */
  close(): void;
}
