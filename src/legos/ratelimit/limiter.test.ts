import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import type { SharesDocument } from './document.ts';
import { DEMAND_HEADROOM, RateLimiterCore, type LimiterEvent } from './limiter.ts';

const T0 = Date.UTC(2026, 0, 1);

function doc(overrides: Partial<SharesDocument> & { grant?: [number, number] | undefined; fallback?: number } = {}): SharesDocument {
  const { grant = [10, 5], fallback = 0, ...rest } = overrides;
  return {
    policy: 'p',
    version: 1,
    expiresAtMs: T0 + 15_000,
    refreshIntervalMs: 1000,
    leaseMs: 15_000,
    limits: [
      { name: 'calls', key: 'customer', scope: 'Global', shareMode: 'Even', requestsPerSecond: 100, burst: 50, fallbackRequestsPerSecond: fallback },
      { name: 'local', key: 'path', scope: 'PerReplica', shareMode: 'Even', requestsPerSecond: 7, burst: 3, fallbackRequestsPerSecond: 0 },
    ],
    replicas: grant === undefined ? {} : { 'pod-a': { calls: grant } },
    ...rest,
  };
}

function setup(limit = 'calls', maxKeys?: number) {
  const clock = new ManualClock({ wallMs: T0, monotonicMs: 0 });
  const events: LimiterEvent[] = [];
  const core = new RateLimiterCore({ policy: 'p', limit, podName: 'pod-a', clock, maxKeys, onEvent: (e) => events.push(e) });
  return { clock, core, events };
}

const admitted = (core: RateLimiterCore, key: string, times: number) => Array.from({ length: times }, () => core.tryTake(key)).filter(Boolean).length;

describe('RateLimiterCore', () => {
  it('admits nothing before the first document, then enforces the grant per key', () => {
    const { clock, core } = setup();
    expect(core.tryTake('c1')).toBe(false);
    expect(core.share().state).toBe('waiting');
    core.applyDocument(doc());
    expect(core.share()).toMatchObject({ state: 'granted', requestsPerSecond: 10, burst: 5, version: 1 });
    expect(admitted(core, 'c1', 20)).toBe(5);
    expect(admitted(core, 'c2', 20)).toBe(5); // another key value, another bucket
    clock.advance(100);
    expect(admitted(core, 'c1', 20)).toBe(1);
    expect(core.delayFor('c1')).toBe(100);
    expect(core.stats.admitted).toBe(11);
  });

  it('ignores a document older than the one in force', () => {
    const { core } = setup();
    core.applyDocument(doc({ version: 5, grant: [10, 5] }));
    core.applyDocument(doc({ version: 4, grant: [99, 99] }));
    expect(core.share()).toMatchObject({ version: 5, requestsPerSecond: 10 });
  });

  it('lapses to the fallback when the document expires, says so once, and recovers on a fresh document', () => {
    const { clock, core, events } = setup();
    core.applyDocument(doc({ fallback: 2 }));
    clock.advance(14_999);
    expect(core.share().state).toBe('granted');
    clock.advance(1);
    expect(core.tryTake('c1')).toBe(true); // fallback 2 rps, burst 1
    expect(core.tryTake('c1')).toBe(false);
    expect(core.share()).toMatchObject({ state: 'lapsed', requestsPerSecond: 2, burst: 1 });
    expect(events.filter((e) => e.event === 'share_lapsed')).toHaveLength(1);
    expect(core.stats.lapses).toBe(1);
    core.applyDocument(doc({ version: 2, expiresAtMs: T0 + 30_000 }));
    expect(core.share().state).toBe('granted');
  });

  it('a wall-clock step does not extend a grant (the deadline is monotonic)', () => {
    const { clock, core } = setup();
    core.applyDocument(doc());
    clock.set(T0 - 60_000);
    clock.advance(15_000);
    expect(core.share().state).toBe('lapsed');
  });

  it('names the limits that exist when the policy lacks the one asked for', () => {
    const { core, events } = setup('nope');
    expect(core.applyDocument(doc())).toBe(false);
    expect(events).toContainEqual({ event: 'limit_missing', limit: 'nope', existing: ['calls', 'local'], version: 1 });
    expect(core.tryTake('x')).toBe(false);
    expect(core.share().state).toBe('missing-limit');
  });

  it('PerReplica: the whole limit, whatever the age of the document', () => {
    const { clock, core } = setup('local');
    core.applyDocument(doc());
    clock.advance(60_000);
    expect(core.share()).toMatchObject({ state: 'per-replica', requestsPerSecond: 7, burst: 3 });
    expect(admitted(core, 'k', 10)).toBe(3);
  });

  it('keeps at most maxKeys buckets and counts evictions', () => {
    const { core } = setup('calls', 3);
    core.applyDocument(doc());
    for (const k of ['a', 'b', 'c', 'd', 'e']) core.tryTake(k);
    expect(core.keys).toBe(3);
    expect(core.stats.evictions).toBe(2);
    // 'c' was used most recently of the survivors' first uses; touching it keeps it
    core.tryTake('c');
    core.tryTake('f');
    expect(core.keys).toBe(3);
  });

  it('a lower share caps the tokens a bucket holds; a higher one adds none at once', () => {
    const { core } = setup();
    core.applyDocument(doc({ grant: [10, 5] }));
    core.tryTake('k');
    core.applyDocument(doc({ version: 2, grant: [4, 2] }));
    expect(admitted(core, 'k', 10)).toBe(2);
    core.applyDocument(doc({ version: 3, grant: [40, 20] }));
    expect(admitted(core, 'k', 10)).toBe(0);
  });

  it('take waits its turn within maxWaitMs and refuses at once beyond it', async () => {
    const { clock, core } = setup();
    core.applyDocument(doc({ grant: [10, 1] }));
    expect(await core.take('k')).toBe(true);
    expect(await core.take('k', 1, { maxWaitMs: 50 })).toBe(false); // needs 100 ms
    const waiting = core.take('k', 1, { maxWaitMs: 100 });
    await Promise.resolve();
    expect(clock.pendingSleeps).toBe(1);
    clock.advance(100);
    expect(await waiting).toBe(true);
    expect(await core.take('k', 2, { maxWaitMs: 10_000 })).toBe(false); // more than the burst: never
  });

  it('take without a share waits for a grant, and an abort rejects', async () => {
    const { clock, core } = setup();
    const first = core.take('k', 1, { maxWaitMs: 1000 });
    await Promise.resolve();
    core.applyDocument(doc());
    expect(await first).toBe(true);
    const none = setup();
    const timedOut = none.core.take('k', 1, { maxWaitMs: 1000 });
    await Promise.resolve();
    none.clock.advance(1000);
    expect(await timedOut).toBe(false);
    const controller = new AbortController();
    const aborted = none.core.take('k', 1, { signal: controller.signal });
    await Promise.resolve();
    controller.abort(new Error('client gone'));
    await expect(aborted).rejects.toThrow('client gone');
    expect(clock.pendingSleeps).toBe(0);
  });

  it('measures demand as the busiest key’s requests per second, the larger of the last two windows, plus headroom', () => {
    const { clock, core } = setup();
    core.applyDocument(doc({ refreshIntervalMs: 500, grant: [100, 40] }));
    for (let i = 0; i < 30; i++) core.tryTake('hot');
    for (let i = 0; i < 10; i++) core.tryTake('cold');
    expect(core.demand()).toBe(0); // window not complete yet
    clock.advance(500);
    expect(core.demand()).toBe(60 * (1 + DEMAND_HEADROOM));
    for (let i = 0; i < 5; i++) core.tryTake('hot');
    clock.advance(500);
    expect(core.demand()).toBe(60 * (1 + DEMAND_HEADROOM)); // a one-window dip is not reported
    clock.advance(500);
    expect(core.demand()).toBe(10 * (1 + DEMAND_HEADROOM));
    clock.advance(1000);
    expect(core.demand()).toBe(0);
  });

  it('a hungry replica (refused while using its share) asks for the whole limit', () => {
    const { clock, core } = setup();
    core.applyDocument(doc({ grant: [10, 10] }));
    for (let i = 0; i < 5; i++) core.tryTake('k');
    clock.advance(1000);
    expect(core.demand()).toBe(5 * (1 + DEMAND_HEADROOM)); // not throttled: what it asked
    for (let i = 0; i < 12; i++) core.tryTake('k');
    clock.advance(1000);
    expect(core.demand()).toBe(100); // admitted 10 of a 10/s share and refused twice: the whole limit
  });

  it('a replica refused for its burst while using little of its share is not hungry', () => {
    const { clock, core } = setup();
    core.applyDocument(doc({ grant: [50, 1] }));
    // a late timer bunches three requests: one admitted, two refused for the burst of 1
    expect([core.tryTake('k'), core.tryTake('k'), core.tryTake('k')]).toEqual([true, false, false]);
    clock.advance(1000);
    expect(core.demand()).toBe(3 * (1 + DEMAND_HEADROOM)); // asked 3/s, not the whole limit
  });
});
