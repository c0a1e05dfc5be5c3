/**
 * Fenced leases on etcd: `createLeaseClient` returns a {@link LeaseClient} whose
 * `acquire` waits its turn FIFO and returns a {@link LeaseHandle} with a fencing token,
 * a deadline, a signal, and writes that etcd commits only while the holder is current.
 *
 * Guarantees
 * - Mutual exclusion of fenced writes: a write through `fencedPut`/`fencedTxn` commits
 *   only while the holder's key exists with the holder's create revision (an etcd
 *   transaction compare), and at most one key is the holder at any etcd revision. No
 *   timing assumption is needed for this.
 * - Fencing tokens (the holder key's create revision) strictly increase from one holder
 *   of a lease name to the next.
 * - Holders' `validUntil` intervals do not overlap, given bounded clock drift: the
 *   deadline is the SEND time of the holder's last keep-alive that etcd confirmed plus
 *   the TTL minus a safety margin, and etcd deletes the key (letting the next waiter in)
 *   no earlier than that send time plus the TTL.
 * - FIFO: waiters acquire in the order their keys were created; each waiter watches only
 *   its predecessor.
 *
 * Assumptions: the holder's monotonic clock runs at most `safetyMarginMs / TTL` slower
 * than etcd's lease timer. NO assumption of bounded pauses (GC, SIGSTOP, VM migration):
 * a holder paused past its deadline still believes nothing until it runs again, which
 * is why the fenced writes, not the deadline, are what keep shared state safe.
 *
 * What the holder must do: check `signal` (or `throwIfLost()`/`validUntil`) before each
 * action; write etcd state through `fencedPut`/`fencedTxn`; pass `fencingToken` to any
 * other storage it writes, which must reject tokens older than the newest it has seen;
 * stop acting when `signal` fires.
 *
 * Failure behaviour: etcd unreachable → keep-alives retry until the holder's own deadline
 * passes, then the signal fires with reason `expired` (never later: etcd3's `lost` event,
 * 2×TTL, is not used). etcd says the lease is gone → `revoked`. The holder key deleted →
 * `deleted`. A fenced write rejected → `fenced`. An etcd leader change or restart resets
 * lease TTLs on the server; that may let a lease survive an outage but never extends
 * the holder's deadline. Waiters retry etcd errors until their signal aborts.
 *
 * Limitations
 * - `revoke(name)` removes the holder at once: until the holder notices (its key watch,
 *   at the latest its next keep-alive, TTL/3), its `validUntil` still lies ahead although
 *   a successor may already hold the lease. Fenced writes stay exclusive; anything the
 *   holder does outside etcd relies on the fencing token.
 * - A holder's deadline says nothing about writes it sent earlier that are still in
 *   flight to other storage; only the fencing token protects those.
 * - One etcd lease per acquire: a client with many concurrent holders keeps one
 *   keep-alive stream per holder every TTL/3.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { acquireFifo } from './acquire.ts';
import { acquireConfig, clientConfig, leaseDir } from './config.ts';
import { EtcdConnection } from './etcd-connection.ts';
import { LeaseLostError } from './errors.ts';
import { EtcdLeasePort } from './etcd-port.ts';
import type { HeldLease } from './holder.ts';
import { inspectLease, observeLease } from './observe.ts';
import type { LeasePort } from './port.ts';
import type { AcquireOptions, LeaseClient, LeaseClientOptions, LeaseEvent, LeaseHandle, LeaseHolder, LeaseKeyOptions, LeaseObservation } from './types.ts';

/** Builds a lease client over any {@link LeasePort} (tests use an in-memory one). */
export function leaseClientOver(port: LeasePort, options: { keyPrefix: string; clock: Clock; emit: (event: LeaseEvent) => void }): LeaseClient {
  const { keyPrefix, clock, emit } = options;
  const live = new Set<HeldLease>();
  let closed = false;
  return {
    async acquire(name: string, acquireOptions: AcquireOptions): Promise<LeaseHandle> {
      const config = acquireConfig(keyPrefix, name, acquireOptions);
      if (closed) throw new LeaseLostError('closed', 'the lease client is closed');
      return acquireFifo(
        { port, clock, emit, track: (h) => live.add(h), untrack: (h) => live.delete(h) },
        name,
        config,
        acquireOptions.signal,
      );
    },
    inspect(name: string, keyOptions: LeaseKeyOptions = {}): Promise<LeaseObservation> {
      return inspectLease(port, name, leaseDir(keyPrefix, name, keyOptions.key));
    },
    observe(name: string, observeOptions: LeaseKeyOptions & { readonly signal: AbortSignal }): AsyncIterable<LeaseObservation> {
      const dir = leaseDir(keyPrefix, name, observeOptions.key);
      return { [Symbol.asyncIterator]: () => observeLease(port, clock, name, dir, observeOptions.signal) };
    },
    async revoke(name: string, revokeOptions: LeaseKeyOptions & { readonly fencingToken?: bigint | undefined } = {}): Promise<LeaseHolder | undefined> {
      const { holder } = await inspectLease(port, name, leaseDir(keyPrefix, name, revokeOptions.key));
      if (!holder) return undefined;
      if (revokeOptions.fencingToken !== undefined && holder.fencingToken !== revokeOptions.fencingToken) return undefined;
      const revoked = await port.revoke(BigInt(`0x${holder.leaseId}`).toString());
      return revoked ? holder : undefined;
    },
    deleteAll(name: string, keyOptions: LeaseKeyOptions = {}): Promise<number> {
      return port.deleteDir(leaseDir(keyPrefix, name, keyOptions.key));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...live].map((handle) => handle.close('closed')));
      port.close();
    },
  };
}

/**
 * Connects to etcd and returns a {@link LeaseClient}. Throws `LeaseConfigError` (naming
 * the option) on invalid options; connects lazily, so an unreachable etcd shows up as
 * retries inside `acquire` and `LeaseUnavailableError` elsewhere.
 */
export function createLeaseClient(options: LeaseClientOptions): LeaseClient {
  const config = clientConfig(options);
  const clock = options.clock ?? SystemClock;
  const listener = options.onEvent;
  const emit = (event: LeaseEvent) => {
    try {
      listener?.(event);
    } catch {
      // A listener's failure must never break a keep-alive loop.
    }
  };
  const connection = new EtcdConnection(config, options, emit);
  return leaseClientOver(new EtcdLeasePort(connection, clock), { keyPrefix: config.keyPrefix, clock, emit });
}
