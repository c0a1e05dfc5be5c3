// Holding a lease while etcd restarts (single member, same data dir) and while the
// leader of a 3-member cluster changes (MoveLeader, then the leader stopped and
// restarted). Either the lease survives (keep-alives resume, fenced writes commit) or
// the holder's signal fires (fenced writes are refused); never a silent overlap: the
// holder's deadline never exceeds what its own confirmed keep-alives justify, never
// exceeds what etcd itself still grants, and a waiter gets the lease only after the
// holder's validity ended.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseClient, defaultSafetyMarginMs, type LeaseClient, type LeaseEvent, type LeaseHandle } from '../../../src/legos/lease/index.ts';
import { EtcdCluster } from '../../support/etcd.ts';
import { monitorDeadline, until } from './deadline-monitor.ts';

const TTL_SECONDS = 4;
const TTL_MS = TTL_SECONDS * 1000;
const MARGIN_MS = defaultSafetyMarginMs(TTL_MS);

interface Scenario {
  readonly cluster: EtcdCluster;
  readonly name: string;
  /** Disrupts etcd; resolves to the monotonic time from which etcd serves again. */
  readonly disrupt: (holder: LeaseHandle, client: LeaseClient) => Promise<number>;
}

/** Holds a lease through `disrupt` and checks the safety properties; returns whether it survived. */
async function holdThrough(scenario: Scenario, clients: LeaseClient[]): Promise<{ survived: boolean; reason: string | undefined }> {
  const events: LeaseEvent[] = [];
  const client = createLeaseClient({ endpoints: scenario.cluster.endpoints, onEvent: (e) => events.push(e) });
  const waiterClient = createLeaseClient({ endpoints: scenario.cluster.endpoints });
  clients.push(client, waiterClient);
  const { name } = scenario;
  const holder = await client.acquire(name, { ttlSeconds: TTL_SECONDS, identity: 'holder' });
  const monitor = monitorDeadline(holder, events, { ttlMs: TTL_MS, marginMs: MARGIN_MS });
  const waiting = waiterClient
    .acquire(name, { ttlSeconds: TTL_SECONDS, identity: 'waiter', signal: AbortSignal.timeout(90_000) })
    .then((lease) => ({ lease, at: performance.now() }));
  await until(async () => ((await client.inspect(name)).holder?.waiters ?? 0) >= 1, 10_000);

  const servingAgainAt = await scenario.disrupt(holder, client);
  // Wait for a keep-alive sent after etcd serves again, or for the end of the lease.
  const resolved = await until(
    () => holder.signal.aborted || events.some((e) => e.type === 'lease_keepalive_confirmed' && e.token === holder.fencingToken && e.sentAt >= servingAgainAt),
    20_000,
  );
  expect(resolved).toBe(true);
  const survived = !holder.signal.aborted;
  const target = `/test/${name}/target`;
  if (survived) {
    // The holder never believes it has longer than etcd grants it.
    const seen = await client.inspect(name);
    expect(seen.holder?.fencingToken).toBe(holder.fencingToken);
    expect(holder.validUntil - performance.now()).toBeLessThanOrEqual((seen.holder?.remainingSeconds ?? 0) * 1000 + 1000);
    const write = await holder.fencedPut(target, 'after-disruption');
    expect(write.committed).toBe(true);
  } else {
    expect((await holder.fencedPut(target, 'after-loss')).committed).toBe(false);
  }
  monitor.stop();
  expect(monitor.violations).toEqual([]);
  expect(monitor.samples).toBeGreaterThan(10);

  await holder.release();
  const ended = events.find((e) => e.type === 'lease_ended' && e.token === holder.fencingToken);
  expect(ended).toBeDefined();
  const { lease: waiter, at } = await waiting;
  expect(waiter.fencingToken).toBeGreaterThan(holder.fencingToken);
  // Validity windows never overlap: the waiter holds only after the holder's ended.
  expect(at).toBeGreaterThanOrEqual(ended?.type === 'lease_ended' ? ended.validUntil : Number.POSITIVE_INFINITY);
  expect((await waiter.fencedPut(target, 'waiter')).committed).toBe(true);
  await waiter.release();
  const reason: unknown = holder.signal.reason;
  return { survived, reason: survived ? undefined : reason instanceof Error && 'reason' in reason ? String(reason.reason) : 'unknown' };
}

describe('etcd restart while holding (single member)', () => {
  let cluster: EtcdCluster;
  const clients: LeaseClient[] = [];
  beforeAll(async () => {
    cluster = await EtcdCluster.start({ name: 'restart' });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it.each([
    { downMs: 500, graceMs: 0, label: 'crash and quick restart' },
    { downMs: 5000, graceMs: 5000, label: 'graceful stop, down longer than the TTL' },
  ])('$label (down $downMs ms): survives or reports the loss, never overlaps', async ({ downMs, graceMs }) => {
    const outcome = await holdThrough(
      {
        cluster,
        name: `restart-${downMs}`,
        disrupt: async () => {
          await cluster.stopMember(0, { graceMs });
          await sleep(downMs);
          await cluster.startMember(0);
          return performance.now();
        },
      },
      clients,
    );
    if (downMs > TTL_MS) {
      // Down longer than the deadline allows: the holder must have given up on its own.
      expect(outcome).toEqual({ survived: false, reason: 'expired' });
    }
    console.log(`etcd restart, down ${downMs} ms, TTL ${TTL_SECONDS} s: ${outcome.survived ? 'lease survived' : `lease lost (${outcome.reason})`}`);
  });
});

describe('etcd leader change while holding (3 members)', () => {
  let cluster: EtcdCluster;
  const clients: LeaseClient[] = [];
  beforeAll(async () => {
    cluster = await EtcdCluster.start({ size: 3, name: 'leader' });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('MoveLeader: the server resets TTLs, the holder keeps its own deadline', async () => {
    const outcome = await holdThrough(
      {
        cluster,
        name: 'move-leader',
        disrupt: async (holder, client) => {
          // Let the server-side TTL run down a little, so a reset is visible.
          await sleep(1500);
          const leader = await cluster.leaderIndex();
          await cluster.moveLeader((leader + 1) % 3);
          const after = await client.inspect('move-leader');
          expect(holder.validUntil - performance.now()).toBeLessThanOrEqual((after.holder?.remainingSeconds ?? 0) * 1000 + 1000);
          return performance.now();
        },
      },
      clients,
    );
    console.log(`MoveLeader, TTL ${TTL_SECONDS} s: ${outcome.survived ? 'lease survived' : `lease lost (${outcome.reason})`}`);
  });

  it('leader stopped and restarted: survives or reports the loss, never overlaps', async () => {
    const outcome = await holdThrough(
      {
        cluster,
        name: 'stop-leader',
        disrupt: async () => {
          const leader = await cluster.leaderIndex();
          await cluster.stopMember(leader);
          await cluster.leaderIndex(); // a new leader among the other two
          const servingAgainAt = performance.now();
          await sleep(1000);
          await cluster.startMember(leader);
          return servingAgainAt;
        },
      },
      clients,
    );
    console.log(`leader stopped, TTL ${TTL_SECONDS} s: ${outcome.survived ? 'lease survived' : `lease lost (${outcome.reason})`}`);
  });
});
