/**
 * The I/O shell around one lease holder: a keep-alive loop every TTL/3 on the Clock
 * seam, a watchdog that ends the lease when its own deadline passes, a watch on the
 * holder's own key from 250 ms after acquiring (so `revoke`/`deleteAll` are noticed at
 * once), and fenced writes. All decisions go through the pure `stepHolder`; this file
 * only performs I/O and fires the signal when the state becomes `ended`.
 *
 * Failure behaviour: a keep-alive that fails (etcd unreachable, timeout) is retried
 * every `min(TTL/3, max(100 ms, TTL/12))`; the lease ends with `expired` when the deadline
 * passes first, with `revoked` when etcd answers that the lease is gone. Whatever ended
 * the lease, its etcd lease is revoked (best effort) so waiters need not wait for the TTL.
 *
 * Limitations: never relies on etcd3's `lost` event (it fires only after 2×TTL). Timers
 * can fire late under load; every fenced write and `throwIfLost()` re-checks the
 * deadline against the clock instead of trusting the watchdog alone.
 */
import type { Clock } from '../clock.ts';
import { LeaseError, LeaseLostError, LeaseUnavailableError } from './errors.ts';
import { checkFencedOps } from './config.ts';
import { type HolderInput, type HolderState, type HolderTiming, initialHolderState, stepHolder } from './holder-state.ts';
import type { LeasePort } from './port.ts';
import type { FencedOp, FencedWriteResult, LeaseEvent, LeaseHandle } from './types.ts';

export interface HeldLeaseInit {
  readonly port: LeasePort;
  readonly clock: Clock;
  readonly emit: (event: LeaseEvent) => void;
  readonly name: string;
  readonly identity: string;
  readonly dir: string;
  /** Decimal etcd lease ID. */
  readonly leaseId: string;
  readonly timing: HolderTiming;
  /** Monotonic ms when the grant request was sent. */
  readonly grantSentAt: number;
  /** Called once when the lease ends (the client forgets the handle). */
  readonly onEnd: (handle: HeldLease) => void;
}

/** Delay before a holder starts watching its own key, ms. */
const OWN_KEY_WATCH_DELAY_MS = 250;

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** One lease, from grant to end. Created waiting; `acquire` turns it into a holder. */
export class HeldLease implements LeaseHandle {
  readonly name: string;
  readonly identity: string;
  readonly key: string;
  readonly leaseId: string;
  readonly #init: HeldLeaseInit;
  readonly #ended = new AbortController();
  #state: HolderState;
  #token = 0n;
  #revoking: Promise<void> | undefined;
  #detachOwner: () => void = () => undefined;

  constructor(init: HeldLeaseInit) {
    this.#init = init;
    this.name = init.name;
    this.identity = init.identity;
    this.leaseId = BigInt(init.leaseId).toString(16);
    this.key = `${init.dir}${this.leaseId}`;
    this.#state = initialHolderState(init.grantSentAt, init.timing);
    void this.#keepAliveLoop();
    void this.#watchdog();
  }

  get fencingToken(): bigint {
    return this.#token;
  }

  get validUntil(): number {
    return this.#state.phase === 'ended' ? Math.min(this.#state.at, this.#state.validUntil) : this.#state.validUntil;
  }

  get signal(): AbortSignal {
    return this.#ended.signal;
  }

  /** The current state (for diagnostics and tests). */
  get state(): HolderState {
    return this.#state;
  }

  /** Records the create revision of our key once it exists. */
  setToken(token: bigint): void {
    this.#token = token;
  }

  /** Moves from waiting to holding; false when the lease ended or its deadline passed. */
  markAcquired(ownerSignal: AbortSignal | undefined): boolean {
    this.#apply({ type: 'acquired' });
    if (this.#state.phase !== 'holding') return false;
    void this.#watchOwnKey();
    if (ownerSignal) {
      const onAbort = () => void this.release();
      ownerSignal.addEventListener('abort', onAbort, { once: true });
      this.#detachOwner = () => ownerSignal.removeEventListener('abort', onAbort);
      if (ownerSignal.aborted) onAbort();
    }
    return true;
  }

  throwIfLost(): void {
    this.#throwIfEnded();
    if (this.#state.phase !== 'holding') throw new LeaseLostError('expired', `lease ${this.name} is not held yet`);
  }

  async renew(): Promise<number> {
    this.#throwIfEnded();
    const outcome = await this.#sendKeepAlive();
    if (outcome instanceof Error) {
      throw new LeaseUnavailableError(`keep-alive of lease ${this.name} failed: ${outcome.message}`, { cause: outcome });
    }
    this.#throwIfEnded();
    return this.#state.validUntil;
  }

  #throwIfEnded(): void {
    this.#apply({ type: 'tick' });
    if (this.#state.phase === 'ended') throw this.#ended.signal.reason as LeaseLostError;
  }

  release(): Promise<void> {
    this.#end('released');
    return this.#revoking ?? Promise.resolve();
  }

  /** Ends the lease with `reason` (client close, abandoned acquire) and revokes it. */
  close(reason: 'closed' | 'released'): Promise<void> {
    this.#end(reason);
    return this.#revoking ?? Promise.resolve();
  }

  fencedPut(key: string, value: string | Uint8Array): Promise<FencedWriteResult> {
    return this.fencedTxn([{ type: 'put', key, value }]);
  }

  async fencedTxn(ops: readonly FencedOp[]): Promise<FencedWriteResult> {
    checkFencedOps(this.#init.dir, ops);
    this.#apply({ type: 'tick' });
    if (this.#state.phase !== 'holding') return { committed: false, reason: 'lost' };
    let result: { committed: boolean; revision: bigint };
    try {
      result = await this.#init.port.txnIfCurrent({ holderKey: this.key, token: this.#token, ops });
    } catch (error) {
      if (error instanceof LeaseUnavailableError) {
        throw new LeaseUnavailableError(`fenced write of lease ${this.name}: outcome unknown (${error.message})`, { cause: error, outcomeUnknown: true });
      }
      throw error;
    }
    if (result.committed) return { committed: true, revision: result.revision };
    this.#init.emit({ type: 'lease_fenced_write_rejected', name: this.name, token: this.#token });
    this.#apply({ type: 'fenceRejected' });
    return { committed: false, reason: 'fenced' };
  }

  #apply(input: HolderInput): void {
    const before = this.#state;
    this.#state = stepHolder(before, input, this.#init.clock.monotonic(), this.#init.timing);
    if (before.phase !== 'ended' && this.#state.phase === 'ended') this.#onEnded(this.#state);
  }

  #end(reason: 'released' | 'closed'): void {
    this.#apply({ type: 'end', reason });
  }

  #onEnded(state: Extract<HolderState, { phase: 'ended' }>): void {
    this.#detachOwner();
    const messages: Record<typeof state.reason, string> = {
      expired: 'its deadline passed without a confirmed keep-alive',
      revoked: 'etcd reports the lease revoked or expired',
      deleted: 'its key was deleted',
      fenced: 'etcd rejected a fenced write',
      released: 'it was released',
      closed: 'the lease client was closed',
    };
    const error = new LeaseLostError(state.reason, `lease ${this.name} (token ${this.#token}) ended: ${messages[state.reason]}`);
    this.#revoking = this.#revokeQuietly();
    this.#init.emit({ type: 'lease_ended', name: this.name, token: this.#token, reason: state.reason, validUntil: Math.min(state.at, state.validUntil) });
    this.#init.onEnd(this);
    this.#ended.abort(error);
  }

  async #revokeQuietly(): Promise<void> {
    try {
      await this.#init.port.revoke(this.#init.leaseId, { timeoutMs: Math.min(2000, this.#init.timing.ttlMs) });
    } catch {
      // The lease expires on the server within the TTL anyway.
    }
  }

  /** Sends one keep-alive and applies the answer; returns the error when etcd did not answer. */
  async #sendKeepAlive(): Promise<Error | undefined> {
    const sentAt = this.#init.clock.monotonic();
    const interval = this.#init.timing.ttlMs / 3;
    try {
      const ttl = await this.#init.port.keepAlive(this.#init.leaseId, { timeoutMs: Math.max(500, interval) });
      this.#apply(ttl > 0 ? { type: 'keepAliveConfirmed', sentAt, serverTtlSeconds: ttl } : { type: 'leaseGone' });
      if (ttl > 0 && this.#state.phase !== 'ended') {
        this.#init.emit({ type: 'lease_keepalive_confirmed', name: this.name, token: this.#token, sentAt, serverTtlSeconds: ttl, validUntil: this.#state.validUntil });
      }
      return undefined;
    } catch (error) {
      if (error instanceof LeaseError && !error.retryable) {
        this.#apply({ type: 'leaseGone' });
        return undefined;
      }
      this.#init.emit({ type: 'lease_keepalive_failed', name: this.name, token: this.#token, error: describe(error) });
      return error instanceof Error ? error : new Error(describe(error));
    }
  }

  async #keepAliveLoop(): Promise<void> {
    const interval = this.#init.timing.ttlMs / 3;
    const retry = Math.min(interval, Math.max(100, this.#init.timing.ttlMs / 12));
    let delay = interval;
    for (;;) {
      try {
        await this.#init.clock.sleep(delay, this.#ended.signal);
      } catch {
        return;
      }
      const failure = await this.#sendKeepAlive();
      if (this.#ended.signal.aborted) return;
      delay = failure ? retry : interval;
    }
  }

  async #watchdog(): Promise<void> {
    while (this.#state.phase !== 'ended') {
      const remaining = this.#state.validUntil - this.#init.clock.monotonic();
      if (remaining > 0) {
        try {
          await this.#init.clock.sleep(remaining, this.#ended.signal);
        } catch {
          return;
        }
      }
      this.#apply({ type: 'tick' });
    }
  }

  /**
   * Watches our key for deletion. Starts after a short delay, so short holds do not pay
   * for a watch stream; the watch replays from the key's creation, so nothing is missed.
   */
  async #watchOwnKey(): Promise<void> {
    try {
      await this.#init.clock.sleep(Math.min(OWN_KEY_WATCH_DELAY_MS, this.#init.timing.ttlMs / 3), this.#ended.signal);
      await this.#init.port.waitGone(this.key, this.#token, this.#token + 1n, this.#ended.signal);
      this.#apply({ type: 'keyGone' });
    } catch {
      // Aborted: the lease already ended.
    }
  }
}
