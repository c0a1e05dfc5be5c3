/**
 * Public types of the fenced-lease client: options, the lease handle, holder
 * observations and fenced operations. Nothing here refers to etcd3's types; the wrapper
 * in `etcd-port.ts` is the only place that does.
 *
 * Limitations: see `client.ts` for the guarantees and their limits.
 */
import type { Clock } from '../clock.ts';
import type { LeaseEndReason } from './errors.ts';

/** TLS material for etcd's client port; PEM text or bytes. */
export interface LeaseTlsOptions {
  /** CA bundle that signed the etcd server certificates; the system roots when absent. */
  readonly ca?: string | Uint8Array | undefined;
  /** Client certificate (mutual TLS); needs `key` and `ca`. */
  readonly cert?: string | Uint8Array | undefined;
  /** Client private key (mutual TLS); needs `cert`. */
  readonly key?: string | Uint8Array | undefined;
}

/** Options of {@link createLeaseClient}. */
export interface LeaseClientOptions {
  /** etcd client URLs (`http://127.0.0.1:2379`, `https://etcd-0:2379`); at least one, all the same scheme. */
  readonly endpoints: readonly string[];
  /** TLS for `https://` endpoints. */
  readonly tls?: LeaseTlsOptions | undefined;
  /** etcd user and password (etcd's simple or JWT token auth). */
  readonly auth?: { readonly username: string; readonly password: string } | undefined;
  /** Time seam for deadlines and keep-alive scheduling. Default: the system clocks. */
  readonly clock?: Clock | undefined;
  /**
   * gRPC channel options merged over the defaults (`grpc.keepalive_time_ms` 10000,
   * `grpc.keepalive_timeout_ms` 5000, `grpc.keepalive_permit_without_calls` 0: etcd's
   * server rejects pings more often than every 5 s and pings without streams).
   */
  readonly grpcOptions?: Readonly<Record<string, string | number>> | undefined;
  /** Key prefix under which each lease name gets its directory. Default `/manyfold/leases/`. */
  readonly keyPrefix?: string | undefined;
  /** Deadline of each unary etcd request, ms. Default 5000; range 100..60000. */
  readonly requestTimeoutMs?: number | undefined;
  /**
   * Consecutive gRPC `13 INTERNAL` / RST_STREAM errors after which the underlying etcd3
   * client is closed and recreated. Default 3; range 1..100.
   */
  readonly recreateAfterInternalErrors?: number | undefined;
  /** Receives lifecycle events (for logs and metrics). Must not throw; must be cheap. */
  readonly onEvent?: ((event: LeaseEvent) => void) | undefined;
}

/** Options that locate a lease's keys. */
export interface LeaseKeyOptions {
  /**
   * The full key directory of this lease (the FencedLease `key` field), e.g.
   * `/apps/payments/leader/`; a trailing `/` is added when missing. Default
   * `<keyPrefix><name>/`.
   */
  readonly key?: string | undefined;
}

/** Options of {@link LeaseClient.acquire}. */
export interface AcquireOptions extends LeaseKeyOptions {
  /** etcd lease TTL in whole seconds; range 2..3600. */
  readonly ttlSeconds: number;
  /** Who holds the lease (pod name, host:pid); stored in the holder key; 1..256 characters. */
  readonly identity: string;
  /**
   * Aborts the wait (the waiter's key is revoked and the promise rejects with the
   * signal's reason); once held, aborting it releases the lease.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Subtracted from every deadline to absorb clock drift and timer lateness, ms.
   * Default `clamp(ttl / 10, 200, 5000)`; range 0..ttl/2.
   */
  readonly safetyMarginMs?: number | undefined;
}

/** One operation of a fenced transaction. Keys are absolute etcd keys outside the lease directory. */
export type FencedOp =
  | { readonly type: 'put'; readonly key: string; readonly value: string | Uint8Array }
  | { readonly type: 'delete'; readonly key: string };

/** What a fenced write did. */
export type FencedWriteResult =
  /** etcd committed the operations at `revision`. */
  | { readonly committed: true; readonly revision: bigint }
  /**
   * Nothing was written. `fenced`: etcd rejected it (the holder key is gone or
   * replaced), `lost`: refused locally because the lease had already ended.
   */
  | { readonly committed: false; readonly reason: 'fenced' | 'lost' };

/** A held lease. Check `signal` (or call `throwIfLost()`) before acting on it. */
export interface LeaseHandle {
  /** The lease name passed to `acquire`. */
  readonly name: string;
  readonly identity: string;
  /** The holder's etcd key. */
  readonly key: string;
  /** etcd lease ID, hex (as `etcdctl lease timetolive` takes it). */
  readonly leaseId: string;
  /**
   * The etcd revision at which this holder's key was created: strictly greater than
   * every earlier holder's of the same lease name. Pass it to any other storage you
   * write so it can reject older tokens.
   */
  readonly fencingToken: bigint;
  /**
   * Monotonic ms (`clock.monotonic()`) until which this holder may act: send time of
   * the last keep-alive etcd confirmed + TTL - safety margin. Never moves backwards
   * while held; after the lease ended it is the time it ended.
   */
  readonly validUntil: number;
  /** Fires (reason: a `LeaseLostError`) when the lease is lost, revoked, expired, fenced or released. */
  readonly signal: AbortSignal;
  /** Throws the `LeaseLostError` when the lease ended or its deadline has passed. */
  throwIfLost(): void;
  /**
   * Sends one keep-alive now; resolves to the new `validUntil`. Rejects with
   * `LeaseLostError` when the lease ended, `LeaseUnavailableError` when etcd did not answer.
   */
  renew(): Promise<number>;
  /** Ends the lease and revokes it in etcd (best effort). Idempotent; never rejects. */
  release(): Promise<void>;
  /** Puts `key` only while this holder's key is current. */
  fencedPut(key: string, value: string | Uint8Array): Promise<FencedWriteResult>;
  /** Applies `ops` atomically, only while this holder's key is current. At most 128 ops (etcd's default `--max-txn-ops`). */
  fencedTxn(ops: readonly FencedOp[]): Promise<FencedWriteResult>;
}

/** The current holder of a lease, as etcd reports it. */
export interface LeaseHolder {
  readonly identity: string;
  readonly key: string;
  readonly fencingToken: bigint;
  /** etcd lease ID, hex. */
  readonly leaseId: string;
  /** The TTL the lease was granted with, s. */
  readonly ttlSeconds: number;
  /**
   * Seconds etcd will keep the lease without a keep-alive. Informational: an etcd leader
   * change resets it to the full TTL. -1 when the lease is already gone.
   */
  readonly remainingSeconds: number;
  /** Wall ms when the holder asked for the lease (its clock), when recorded. */
  readonly requestTime: number | undefined;
  /** Wall ms when the holder got the lease (its clock), when recorded. */
  readonly acquireTime: number | undefined;
  /** Keys waiting behind the holder. */
  readonly waiters: number;
}

/** One state of a lease as seen by `inspect`/`observe`. */
export interface LeaseObservation {
  readonly name: string;
  /** The holder, or undefined when nobody holds the lease. */
  readonly holder: LeaseHolder | undefined;
  /** etcd revision this observation reflects. */
  readonly revision: bigint;
}

/** Events for logs and metrics; `type` values are stable snake_case log event names. */
export type LeaseEvent =
  | { readonly type: 'lease_acquired'; readonly name: string; readonly token: bigint; readonly identity: string; readonly waitedMs: number }
  | {
      readonly type: 'lease_keepalive_confirmed';
      readonly name: string;
      readonly token: bigint;
      /** Monotonic ms when the confirmed keep-alive was sent. */
      readonly sentAt: number;
      readonly serverTtlSeconds: number;
      readonly validUntil: number;
    }
  | { readonly type: 'lease_keepalive_failed'; readonly name: string; readonly token: bigint; readonly error: string }
  | {
      readonly type: 'lease_ended';
      readonly name: string;
      readonly token: bigint;
      readonly reason: LeaseEndReason;
      /** Monotonic ms when the holder's validity ended: the earlier of its deadline and the moment it noticed the end. */
      readonly validUntil: number;
    }
  | { readonly type: 'lease_fenced_write_rejected'; readonly name: string; readonly token: bigint }
  | { readonly type: 'etcd_client_recreated'; readonly consecutiveInternalErrors: number; readonly recreations: number };

/** The fenced-lease client. Close it when done. */
export interface LeaseClient {
  /** Waits FIFO for the lease `name`, then holds it until released or lost. */
  acquire(name: string, options: AcquireOptions): Promise<LeaseHandle>;
  /** The current holder of `name`, read once. */
  inspect(name: string, options?: LeaseKeyOptions): Promise<LeaseObservation>;
  /**
   * The current state, then every change of holder (identity, token or acquire time),
   * by watching etcd. Ends when `signal` aborts. Keeps only the latest unread
   * observation (a slow reader skips intermediate states, never the last one).
   */
  observe(name: string, options: LeaseKeyOptions & { readonly signal: AbortSignal }): AsyncIterable<LeaseObservation>;
  /**
   * Revokes the current holder's etcd lease (its key goes, the next waiter gets the
   * lease). With `fencingToken`, revokes only that holder. Resolves to the revoked holder.
   */
  revoke(name: string, options?: LeaseKeyOptions & { readonly fencingToken?: bigint | undefined }): Promise<LeaseHolder | undefined>;
  /** Deletes every key of the lease (holder and waiters); resolves to how many. */
  deleteAll(name: string, options?: LeaseKeyOptions): Promise<number>;
  /** Ends every handle of this client (reason `closed`, leases revoked) and closes the connection. */
  close(): Promise<void>;
}

export type { LeaseEndReason };
