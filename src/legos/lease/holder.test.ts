import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { LeaseLostError, LeaseUnavailableError } from './errors.ts';
import { HeldLease } from './holder.ts';
import type { LeasePort } from './port.ts';
import type { LeaseEvent } from './types.ts';

/** Lets the holder's async loops run after the clock moved. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type KeepAliveAnswer = number | Error | 'hang';

/** A port whose keep-alive answers, fenced-write results and key deletion the test controls. */
class FakePort implements LeasePort {
  keepAlives: { leaseId: string; answer: KeepAliveAnswer }[] = [];
  revokes = 0;
  txns = 0;
  fenceCommits = true;
  nextKeepAlive: KeepAliveAnswer = 6;
  #deleteKey: (() => void) | undefined;

  grant = async () => '42';
  async keepAlive(leaseId: string): Promise<number> {
    const answer = this.nextKeepAlive;
    this.keepAlives.push({ leaseId, answer });
    if (answer === 'hang') return new Promise<number>(() => undefined);
    if (answer instanceof Error) throw answer;
    return answer;
  }
  async revoke(): Promise<boolean> {
    this.revokes++;
    return true;
  }
  timeToLive = async () => undefined;
  enqueue = async () => ({ createRevision: 7n, first: true, predecessor: undefined, revision: 7n });
  claimTurn = async () => ({ claimed: true as const, revision: 8n });
  lastCreatedUpTo = async () => ({ revision: 1n, value: undefined });
  firstCreated = async () => ({ revision: 1n, value: { first: undefined, count: 0 } });
  waitGone(_key: string, _rev: bigint, _from: bigint, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#deleteKey = resolve;
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  }
  async txnIfCurrent(): Promise<{ committed: boolean; revision: bigint }> {
    this.txns++;
    return { committed: this.fenceCommits, revision: 100n + BigInt(this.txns) };
  }
  deleteDir = async () => 0;
  watchDir = () => undefined;
  close = () => undefined;
  deleteHolderKey(): void {
    this.#deleteKey?.();
  }
}

function holder(options: { ttlMs?: number; marginMs?: number } = {}) {
  const clock = new ManualClock({ monotonicMs: 1000 });
  const port = new FakePort();
  const events: LeaseEvent[] = [];
  const lease = new HeldLease({
    port,
    clock,
    emit: (e) => events.push(e),
    name: 'db',
    identity: 'me',
    dir: '/l/db/',
    leaseId: '42',
    timing: { ttlMs: options.ttlMs ?? 3000, marginMs: options.marginMs ?? 300 },
    grantSentAt: clock.monotonic(),
    onEnd: () => undefined,
  });
  lease.setToken(7n);
  expect(lease.markAcquired(undefined)).toBe(true);
  return { clock, port, events, lease };
}

const reasonOf = (signal: AbortSignal) => (signal.reason instanceof LeaseLostError ? signal.reason.reason : undefined);

describe('HeldLease', () => {
  it('sends keep-alives every TTL/3 and moves the deadline to send time + TTL - margin', async () => {
    const { clock, port, lease } = holder();
    expect(lease.leaseId).toBe('2a');
    expect(lease.key).toBe('/l/db/2a');
    expect(lease.validUntil).toBe(1000 + 3000 - 300);
    clock.advance(999);
    await flush();
    expect(port.keepAlives).toHaveLength(0);
    clock.advance(1);
    await flush();
    expect(port.keepAlives).toHaveLength(1);
    expect(lease.validUntil).toBe(2000 + 3000 - 300);
    clock.advance(1000);
    await flush();
    expect(port.keepAlives).toHaveLength(2);
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
  });

  it('fires the signal exactly at its own deadline when etcd stops answering', async () => {
    const { clock, port, lease, events } = holder();
    port.nextKeepAlive = new LeaseUnavailableError('etcd down');
    const deadline = lease.validUntil;
    while (clock.monotonic() < deadline - 1) {
      clock.advance(Math.min(100, deadline - 1 - clock.monotonic()));
      await flush();
    }
    expect(lease.signal.aborted).toBe(false);
    expect(port.keepAlives.length).toBeGreaterThan(2); // retried faster than TTL/3
    clock.advance(1);
    await flush();
    expect(reasonOf(lease.signal)).toBe('expired');
    expect(events.some((e) => e.type === 'lease_ended' && e.reason === 'expired')).toBe(true);
    expect(() => lease.throwIfLost()).toThrow(LeaseLostError);
    expect(port.revokes).toBe(1); // revoked best-effort so waiters need not wait for the TTL
  });

  it('never extends the deadline beyond its own sends when etcd answers a reset, longer TTL', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 3, max: 3600 }), { minLength: 1, maxLength: 8 }), async (serverTtls) => {
        const { clock, port, lease } = holder();
        for (const ttl of serverTtls) {
          port.nextKeepAlive = ttl;
          clock.advance(1000);
          const sentAt = clock.monotonic();
          await flush();
          expect(lease.validUntil).toBe(sentAt + 3000 - 300);
        }
        await lease.release();
      }),
      { numRuns: 50 },
    );
  });

  it('ends with "revoked" when etcd answers TTL 0', async () => {
    const { clock, port, lease } = holder();
    port.nextKeepAlive = 0;
    clock.advance(1000);
    await flush();
    expect(reasonOf(lease.signal)).toBe('revoked');
  });

  it('a keep-alive that hangs does not keep the holder alive', async () => {
    const { clock, port, lease } = holder();
    port.nextKeepAlive = 'hang';
    clock.advance(lease.validUntil - clock.monotonic());
    await flush();
    expect(reasonOf(lease.signal)).toBe('expired');
  });

  it('fires the signal when etcd rejects a fenced write, then refuses locally', async () => {
    const { port, lease, events } = holder();
    expect(await lease.fencedPut('/data/x', '1')).toEqual({ committed: true, revision: 101n });
    port.fenceCommits = false;
    expect(await lease.fencedPut('/data/x', '2')).toEqual({ committed: false, reason: 'fenced' });
    expect(reasonOf(lease.signal)).toBe('fenced');
    expect(events.some((e) => e.type === 'lease_fenced_write_rejected')).toBe(true);
    expect(await lease.fencedTxn([{ type: 'delete', key: '/data/x' }])).toEqual({ committed: false, reason: 'lost' });
    expect(port.txns).toBe(2);
  });

  it('refuses fenced writes past its deadline even before the watchdog ran', async () => {
    const { clock, port, lease } = holder();
    port.nextKeepAlive = 'hang';
    clock.advance(lease.validUntil - clock.monotonic()); // no flush: the watchdog has not run
    expect(await lease.fencedPut('/data/x', '1')).toEqual({ committed: false, reason: 'lost' });
    expect(port.txns).toBe(0);
    expect(reasonOf(lease.signal)).toBe('expired');
  });

  it('ends with "deleted" when its key disappears', async () => {
    const { clock, port, lease } = holder();
    clock.advance(250); // the own-key watch starts after a short delay
    await flush();
    port.deleteHolderKey();
    await flush();
    expect(reasonOf(lease.signal)).toBe('deleted');
  });

  it('release is idempotent, revokes once and stops keep-alives', async () => {
    const { clock, port, lease } = holder();
    await Promise.all([lease.release(), lease.release()]);
    await lease.release();
    expect(port.revokes).toBe(1);
    expect(reasonOf(lease.signal)).toBe('released');
    clock.advance(10_000);
    await flush();
    expect(port.keepAlives).toHaveLength(0);
    await expect(lease.renew()).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('renew returns the new deadline and reports an unreachable etcd', async () => {
    const { clock, port, lease } = holder();
    clock.advance(500);
    expect(await lease.renew()).toBe(1500 + 3000 - 300);
    port.nextKeepAlive = new LeaseUnavailableError('etcd down');
    await expect(lease.renew()).rejects.toBeInstanceOf(LeaseUnavailableError);
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
  });
});
