/**
 * FIFO acquisition of a lease (etcd's mutex recipe, without a try-lock):
 *
 * 1. grant an etcd lease of the TTL (its keep-alives start at once, so a long wait
 *    never loses the place in line);
 * 2. create the waiter key `<dir><lease id hex>` on that lease; its create revision is the
 *    request's place in line and becomes the fencing token;
 * 3. if keys with smaller create revisions exist (the enqueue transaction returns the
 *    nearest one), watch only that one for its deletion (so N waiters cost N watches
 *    and one wake-up per hand-off, never a thundering herd);
 * 4. claim in one transaction: our key still exists with its create revision AND no key
 *    under the directory is older; then it records the acquire time. Otherwise the
 *    answer names the new nearest key ahead, and we watch that one. When little of our
 *    own deadline is left after a long wait, renew first.
 *
 * Failure behaviour: etcd errors while waiting are retried in place (keeping the place
 * in line) for as long as the waiter's own lease deadline holds. When our key or lease
 * is lost while waiting (deadline passed during an outage, `deleteAll`, revoked), the
 * attempt is abandoned (its lease revoked) and a new one joins the end of the line.
 * Errors before the key exists restart the attempt with capped exponential backoff
 * (100 ms to 2 s) until `signal` aborts; configuration and permission errors are thrown.
 *
 * Limitations: FIFO holds among attempts, not callers: a waiter whose attempt is lost
 * goes to the back of the line. An uncontended acquire costs two round trips (grant,
 * enqueue transaction); a waiter needs one more per wake-up (claim).
 */
import type { Clock } from '../clock.ts';
import { LeaseAccessError, LeaseError } from './errors.ts';
import { EtcdRetryBackoff, type AcquireConfig } from './config.ts';
import { HeldLease } from './holder.ts';
import type { LeasePort, StoredKey } from './port.ts';
import type { LeaseEvent } from './types.ts';

export interface AcquireDeps {
  readonly port: LeasePort;
  readonly clock: Clock;
  readonly emit: (event: LeaseEvent) => void;
  /** Registers a live handle with its client (so `close()` can end it). */
  readonly track: (handle: HeldLease) => void;
  readonly untrack: (handle: HeldLease) => void;
}

const encoder = new TextEncoder();

/** The JSON stored in every waiter/holder key. */
export interface HolderRecord {
  readonly identity: string;
  /** ISO wall time when the lease was requested. */
  readonly requestTime: string;
  /** ISO wall time when it was acquired; absent while waiting. */
  readonly acquireTime?: string;
  readonly ttlSeconds: number;
}

function encodeRecord(record: HolderRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** Capped exponential backoff: 100 ms doubling to 2 s. */
const backoffMs = (failures: number): number => EtcdRetryBackoff.delayAfterFailures(failures);

/**
 * Retries `fn` on retryable errors until `signal` aborts. A waiter's signal includes its
 * own lease's, so an outage longer than the waiter's deadline ends the wait.
 */
async function retrying<T>(clock: Clock, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof LeaseError) || !error.retryable) throw error;
      await clock.sleep(backoffMs(failures), signal);
    }
  }
}

/**
 * Waits for our turn: watch the nearest key ahead of ours until it is gone, then claim
 * (one transaction that also tells who is ahead now). Resolves false when our key is gone.
 */
async function waitTurn(
  port: LeasePort,
  clock: Clock,
  request: { readonly dir: string; readonly holderKey: string; readonly token: bigint; readonly holderValue: () => Uint8Array },
  start: { readonly predecessor: StoredKey | undefined | 'unknown'; readonly revision: bigint },
  signal: AbortSignal,
): Promise<boolean> {
  let ahead: StoredKey | undefined;
  let from = start.revision + 1n;
  if (start.predecessor === 'unknown') {
    const read = await retrying(clock, signal, () => port.lastCreatedUpTo(request.dir, request.token - 1n));
    ahead = read.value;
    from = read.revision + 1n;
  } else {
    ahead = start.predecessor;
  }
  for (;;) {
    signal.throwIfAborted();
    if (ahead) await port.waitGone(ahead.key, ahead.createRevision, from, signal);
    const claim = await retrying(clock, signal, () =>
      port.claimTurn({ dir: request.dir, holderKey: request.holderKey, token: request.token, holderValue: request.holderValue() }),
    );
    if (claim.claimed) return true;
    if (!claim.ownKeyExists) return false;
    ahead = claim.predecessor;
    from = claim.revision + 1n;
  }
}

/** One attempt: resolves to the held lease, or undefined when the attempt lost its place. */
async function attempt(deps: AcquireDeps, name: string, config: AcquireConfig, signal: AbortSignal | undefined): Promise<HeldLease | undefined> {
  const { port, clock } = deps;
  const grantSentAt = clock.monotonic();
  const leaseId = await port.grant(config.ttlSeconds);
  const handle = new HeldLease({
    port,
    clock,
    emit: deps.emit,
    name,
    identity: config.identity,
    dir: config.dir,
    leaseId,
    timing: { ttlMs: config.ttlMs, marginMs: config.marginMs },
    grantSentAt,
    onEnd: deps.untrack,
  });
  deps.track(handle);
  try {
    const requestTime = new Date(clock.now()).toISOString();
    const waiting: HolderRecord = { identity: config.identity, requestTime, ttlSeconds: config.ttlSeconds };
    const queued = await port.enqueue({
      dir: config.dir,
      key: handle.key,
      leaseId,
      value: encodeRecord(waiting),
      valueIfFirst: encodeRecord({ ...waiting, acquireTime: requestTime }),
    });
    const createRevision = queued.createRevision;
    handle.setToken(createRevision);
    if (!queued.first) {
      const stop = signal ? AbortSignal.any([signal, handle.signal]) : handle.signal;
      const holderValue = () => encodeRecord({ ...waiting, acquireTime: new Date(clock.now()).toISOString() });
      const claimed = await waitTurn(port, clock, { dir: config.dir, holderKey: handle.key, token: createRevision, holderValue }, queued, stop);
      if (!claimed) {
        await handle.close('released');
        return undefined;
      }
      // A long wait through an etcd outage can leave little of the deadline: refresh it first.
      if (handle.validUntil - clock.monotonic() < config.ttlMs / 3) await handle.renew().catch(() => undefined);
    }
    if (signal?.aborted) throw abortReason(signal);
    if (!handle.markAcquired(signal)) {
      await handle.close('released');
      return undefined;
    }
    deps.emit({ type: 'lease_acquired', name, token: createRevision, identity: config.identity, waitedMs: clock.monotonic() - grantSentAt });
    return handle;
  } catch (error) {
    const lostPlace = handle.signal.aborted;
    await handle.close('released');
    if (signal?.aborted) throw abortReason(signal);
    // The attempt's own lease or key ended while waiting: start over at the back of the line.
    if (lostPlace && error instanceof LeaseError && !(error instanceof LeaseAccessError)) return undefined;
    throw error;
  }
}

/** Waits FIFO for lease `name`; retries etcd failures until `signal` aborts. */
export async function acquireFifo(deps: AcquireDeps, name: string, config: AcquireConfig, signal: AbortSignal | undefined): Promise<HeldLease> {
  let failures = 0;
  for (;;) {
    if (signal?.aborted) throw abortReason(signal);
    try {
      const handle = await attempt(deps, name, config, signal);
      if (handle) return handle;
      failures = 0;
    } catch (error) {
      if (signal?.aborted) throw abortReason(signal);
      if (!(error instanceof LeaseError) || !error.retryable) throw error;
      failures++;
      try {
        await deps.clock.sleep(backoffMs(failures), signal);
      } catch {
        throw abortReason(signal as AbortSignal);
      }
    }
  }
}
