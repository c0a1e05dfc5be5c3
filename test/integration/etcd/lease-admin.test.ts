// Operator-side lease API against a real etcd: revoke (the `manyfold.dev/revoke`
// annotation), deleteAll (clean-up), the watch-based observer the FencedLease controller
// mirrors into status, and bad configuration.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseClient, type LeaseClient, LeaseConfigError, LeaseLostError, type LeaseObservation } from '../../../src/legos/lease/index.ts';
import { EtcdCluster } from '../../support/etcd.ts';
import { until } from './deadline-monitor.ts';

const reasonOf = (signal: AbortSignal) => (signal.reason instanceof LeaseLostError ? signal.reason.reason : undefined);

describe('lease administration', () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  let client: LeaseClient;
  let operator: LeaseClient;

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ name: 'admin' });
    raw = new Etcd3({ hosts: cluster.endpoints });
    client = createLeaseClient({ endpoints: cluster.endpoints });
    operator = createLeaseClient({ endpoints: cluster.endpoints });
  });

  afterAll(async () => {
    await client?.close();
    await operator?.close();
    raw?.close();
    await cluster?.stop();
  });

  it('revoke fires the holder signal, the next waiter acquires with a larger token, the observer sees both', async () => {
    const name = 'revoked';
    const watching = new AbortController();
    const observations: LeaseObservation[] = [];
    const observing = (async () => {
      for await (const o of operator.observe(name, { signal: watching.signal })) observations.push(o);
    })();

    const first = await client.acquire(name, { ttlSeconds: 30, identity: 'first' });
    const waiting = client.acquire(name, { ttlSeconds: 30, identity: 'second', signal: AbortSignal.timeout(30_000) });
    await until(async () => ((await operator.inspect(name)).holder?.waiters ?? 0) === 1, 10_000);

    const seen = await operator.inspect(name);
    expect(seen.holder).toMatchObject({ identity: 'first', fencingToken: first.fencingToken, leaseId: first.leaseId, ttlSeconds: 30, waiters: 1 });
    expect(seen.holder?.remainingSeconds).toBeGreaterThan(20);
    expect(seen.holder?.acquireTime).toBeTypeOf('number');

    // A revoke aimed at another token does nothing.
    expect(await operator.revoke(name, { fencingToken: first.fencingToken + 1000n })).toBeUndefined();
    expect(first.signal.aborted).toBe(false);

    const revoked = await operator.revoke(name, { fencingToken: first.fencingToken });
    expect(revoked?.fencingToken).toBe(first.fencingToken);
    const second = await waiting;
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    expect(await until(() => first.signal.aborted, 10_000)).toBe(true);
    expect(['deleted', 'revoked']).toContain(reasonOf(first.signal));
    expect(await first.fencedPut('/test/revoked/target', 'stale')).toEqual({ committed: false, reason: 'lost' });
    expect((await second.fencedPut('/test/revoked/target', 'fresh')).committed).toBe(true);

    await until(() => observations.some((o) => o.holder?.fencingToken === second.fencingToken && o.holder.acquireTime !== undefined), 10_000);
    await second.release();
    await until(() => observations.at(-1)?.holder === undefined, 10_000);
    watching.abort();
    await observing;
    const tokens = observations.map((o) => o.holder?.fencingToken);
    expect(tokens).toContain(first.fencingToken);
    expect(tokens).toContain(second.fencingToken);
    expect(tokens.indexOf(first.fencingToken)).toBeLessThan(tokens.indexOf(second.fencingToken));
    expect(observations.at(-1)?.holder).toBeUndefined();
    // Observations come in etcd order.
    for (let i = 1; i < observations.length; i++) expect(observations[i]!.revision).toBeGreaterThanOrEqual(observations[i - 1]!.revision);
  });

  it('deleteAll removes holder and waiter keys; the holder learns at once', async () => {
    const name = 'cleaned';
    const dir = `/manyfold/leases/${name}/`;
    const holder = await client.acquire(name, { ttlSeconds: 30, identity: 'holder' });
    const waiterAbort = new AbortController();
    const waiting = client.acquire(name, { ttlSeconds: 30, identity: 'waiter', signal: waiterAbort.signal }).catch(() => undefined);
    await until(async () => (await raw.getAll().prefix(dir).count()) === 2, 10_000);

    expect(await operator.deleteAll(name)).toBe(2);
    expect(await until(() => holder.signal.aborted, 10_000)).toBe(true);
    expect(reasonOf(holder.signal)).toBe('deleted');
    expect((await holder.fencedPut('/test/cleaned/target', 'stale')).committed).toBe(false);

    // The waiter lost its place and joins again; stop it and clean up for good.
    waiterAbort.abort(new Error('test done'));
    await (await waiting)?.release();
    await operator.deleteAll(name);
    expect(await raw.getAll().prefix(dir).count()).toBe(0);
    expect((await operator.inspect(name)).holder).toBeUndefined();
  });

  it('honours an override key directory', async () => {
    const lease = await client.acquire('custom', { ttlSeconds: 5, identity: 'x', key: '/apps/custom-leader' });
    expect(lease.key.startsWith('/apps/custom-leader/')).toBe(true);
    expect((await operator.inspect('custom', { key: '/apps/custom-leader/' })).holder?.fencingToken).toBe(lease.fencingToken);
    expect((await operator.inspect('custom')).holder).toBeUndefined();
    await lease.release();
    expect(await raw.getAll().prefix('/apps/custom-leader/').count()).toBe(0);
  });

  it('close() ends held leases (revoked in etcd) and rejects pending and later acquires', async () => {
    const own = createLeaseClient({ endpoints: cluster.endpoints });
    const held = await own.acquire('closing', { ttlSeconds: 30, identity: 'held' });
    const pending = own.acquire('closing', { ttlSeconds: 30, identity: 'pending' });
    await until(async () => ((await operator.inspect('closing')).holder?.waiters ?? 0) === 1, 10_000);
    await own.close();
    expect(reasonOf(held.signal)).toBe('closed');
    await expect(pending).rejects.toMatchObject({ reason: 'closed' });
    await expect(own.acquire('closing', { ttlSeconds: 30, identity: 'late' })).rejects.toBeInstanceOf(LeaseLostError);
    expect(await raw.getAll().prefix('/manyfold/leases/closing/').count()).toBe(0);
  });

  it.each([0, 1])('rejects ttlSeconds %s naming the field and the range, writing nothing', async (ttlSeconds) => {
    const rejection = client.acquire('bad-ttl', { ttlSeconds, identity: 'x' });
    await expect(rejection).rejects.toBeInstanceOf(LeaseConfigError);
    await expect(rejection).rejects.toMatchObject({ field: 'ttlSeconds', message: expect.stringContaining('2..3600') as unknown });
    expect(await raw.getAll().prefix('/manyfold/leases/bad-ttl/').count()).toBe(0);
  });

  it('rejects empty endpoints naming the field', () => {
    expect(() => createLeaseClient({ endpoints: [] })).toThrow(LeaseConfigError);
    expect(() => createLeaseClient({ endpoints: [] })).toThrow(/endpoints/);
  });
});
