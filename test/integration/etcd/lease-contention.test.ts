// Safety under contention: 32 contenders x 10 rounds on one lease name against a real
// etcd. Each holding reads a shared counter and writes counter+1 through a fenced put;
// etcd's own history then proves the writes were exclusive, in FIFO order, each made by
// the holder of that revision.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseClient, type LeaseClient, type LeaseEvent } from '../../../src/legos/lease/index.ts';
import { prefixEnd } from '../../../src/legos/lease/etcd-port.ts';
import { EtcdCluster } from '../../support/etcd.ts';

const CONTENDERS = 32;
const ROUNDS = 10;
const CLIENTS = 4;
const NAME = 'contended';
const DIR = `/manyfold/leases/${NAME}/`;
const COUNTER = '/test/contention/counter';

interface Holding {
  readonly contender: number;
  readonly token: bigint;
  readonly acquiredAt: number;
  readonly releasedAt: number;
  readonly writeRevision: bigint;
  readonly wrote: number;
}

describe('fenced lease under contention', () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  const clients: LeaseClient[] = [];
  const events: LeaseEvent[] = [];

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ name: 'contention' });
    raw = new Etcd3({ hosts: cluster.endpoints });
    for (let i = 0; i < CLIENTS; i++) clients.push(createLeaseClient({ endpoints: cluster.endpoints, onEvent: (e) => events.push(e) }));
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    raw?.close();
    await cluster?.stop();
  });

  it(`${CONTENDERS} contenders x ${ROUNDS} rounds: exclusive fenced writes, increasing tokens, FIFO, everyone served`, async () => {
    const holdings: Holding[] = [];
    const deadline = AbortSignal.timeout(100_000);
    await Promise.all(
      Array.from({ length: CONTENDERS }, async (_, contender) => {
        const client = clients[contender % CLIENTS]!;
        for (let round = 0; round < ROUNDS; round++) {
          const lease = await client.acquire(NAME, { ttlSeconds: 10, identity: `c${contender}`, signal: deadline });
          const acquiredAt = performance.now();
          const current = await raw.get(COUNTER).string();
          const seen = current === null ? 0 : (JSON.parse(current) as { n: number }).n;
          const result = await lease.fencedPut(COUNTER, JSON.stringify({ n: seen + 1, token: lease.fencingToken.toString(), contender }));
          if (!result.committed) throw new Error(`fenced write of c${contender} rejected: ${result.reason}`);
          const releasedAt = performance.now();
          await lease.release();
          holdings.push({ contender, token: lease.fencingToken, acquiredAt, releasedAt, writeRevision: result.revision, wrote: seen + 1 });
        }
      }),
    );

    // Everyone was served, every round.
    expect(holdings).toHaveLength(CONTENDERS * ROUNDS);
    for (let c = 0; c < CONTENDERS; c++) expect(holdings.filter((h) => h.contender === c)).toHaveLength(ROUNDS);

    // No lost update: an exclusive read-modify-write chain counts every holding once.
    const final = JSON.parse((await raw.get(COUNTER).string()) ?? '{}') as { n: number };
    expect(final.n).toBe(CONTENDERS * ROUNDS);

    // In etcd's order of commits: counter values 1..N and strictly increasing tokens.
    const byRevision = [...holdings].sort((a, b) => (a.writeRevision < b.writeRevision ? -1 : 1));
    byRevision.forEach((h, i) => expect(h.wrote).toBe(i + 1));
    for (let i = 1; i < byRevision.length; i++) expect(byRevision[i]!.token).toBeGreaterThan(byRevision[i - 1]!.token);

    // Each committed fenced write was made by the then-current holder: at the write's
    // revision, the key with the smallest create revision under the lease directory is
    // the writer's own (etcd's MVCC history, read at that revision).
    for (const h of byRevision) {
      const atWrite = await raw.kv.range({ key: Buffer.from(DIR), range_end: prefixEnd(DIR), sort_order: 'Ascend', sort_target: 'Create', limit: 1, revision: h.writeRevision.toString() });
      expect(BigInt(atWrite.kvs[0]!.create_revision)).toBe(h.token);
      const counterAtWrite = await raw.kv.range({ key: Buffer.from(COUNTER), revision: h.writeRevision.toString() });
      expect(BigInt(counterAtWrite.kvs[0]!.mod_revision)).toBe(h.writeRevision);
    }

    // FIFO: acquisition order (local clock) equals request order (token), and local
    // holding windows never overlap.
    const byAcquire = [...holdings].sort((a, b) => a.acquiredAt - b.acquiredAt);
    for (let i = 1; i < byAcquire.length; i++) {
      expect(byAcquire[i]!.token).toBeGreaterThan(byAcquire[i - 1]!.token);
      expect(byAcquire[i]!.acquiredAt).toBeGreaterThanOrEqual(byAcquire[i - 1]!.releasedAt);
    }

    // No holder lost its lease along the way; every end was a release.
    const ends = events.filter((e) => e.type === 'lease_ended');
    expect(ends.filter((e) => e.type === 'lease_ended' && e.reason !== 'released')).toEqual([]);
    // Nothing is left behind in etcd.
    expect(await raw.getAll().prefix(DIR).count()).toBe(0);
  });

  it('a waiter that gives up lets the next one move up without jumping the holder', async () => {
    const name = 'give-up';
    const [client] = clients;
    const holder = await client!.acquire(name, { ttlSeconds: 10, identity: 'holder' });
    const quitting = new AbortController();
    const quitter = client!.acquire(name, { ttlSeconds: 10, identity: 'quitter', signal: quitting.signal }).catch((error: unknown) => error);
    let lastAcquiredWhileHolderHeld = false;
    const last = client!.acquire(name, { ttlSeconds: 10, identity: 'last', signal: AbortSignal.timeout(30_000) }).then((lease) => {
      lastAcquiredWhileHolderHeld = !holder.signal.aborted;
      return lease;
    });
    const inspected = async () => (await client!.inspect(name)).holder?.waiters ?? 0;
    for (let i = 0; i < 200 && (await inspected()) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await inspected()).toBe(2);

    // The quitter's key goes; `last` wakes up, finds the holder still ahead and keeps waiting.
    quitting.abort(new Error('gave up'));
    expect(await quitter).toBeInstanceOf(Error);
    for (let i = 0; i < 200 && (await inspected()) !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await inspected()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await client!.inspect(name)).holder?.fencingToken).toBe(holder.fencingToken);
    expect((await holder.fencedPut('/test/give-up/target', 'holder')).committed).toBe(true);

    await holder.release();
    const next = await last;
    expect(lastAcquiredWhileHolderHeld).toBe(false);
    expect(next.fencingToken).toBeGreaterThan(holder.fencingToken);
    await next.release();
  });
});
