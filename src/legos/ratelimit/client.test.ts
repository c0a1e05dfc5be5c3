import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { RateLimitNotFoundError, createRateLimiter } from './client.ts';
import type { SharesDocument } from './document.ts';
import { DEMAND_HEADROOM } from './limiter.ts';
import type { ShareReport, SharesTransport } from './transport.ts';

const T0 = Date.UTC(2026, 0, 1);
const silent = pino({ level: 'silent' });

function doc(version: number, grant: [number, number], shareMode: 'Even' | 'Demand' = 'Even'): SharesDocument {
  return {
    policy: 'p',
    version,
    expiresAtMs: T0 + 60_000,
    refreshIntervalMs: 1000,
    leaseMs: 15_000,
    limits: [{ name: 'calls', key: 'customer', scope: 'Global', shareMode, requestsPerSecond: 100, burst: 10, fallbackRequestsPerSecond: 0 }],
    replicas: { 'pod-a': { calls: grant } },
  };
}

class FakeTransport implements SharesTransport {
  reports: { at: number; report: ShareReport }[] = [];
  push: ((d: SharesDocument | undefined) => void) | undefined;
  readonly clock: ManualClock;
  document: SharesDocument | undefined;
  constructor(clock: ManualClock, document: SharesDocument | undefined) {
    this.clock = clock;
    this.document = document;
  }
  read() {
    return Promise.resolve({ document: this.document, resumeFrom: '1' });
  }
  watch(_from: string | undefined, onDocument: (d: SharesDocument | undefined) => void, signal: AbortSignal) {
    this.push = onDocument;
    return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  report(report: ShareReport, signal: AbortSignal) {
    if (signal.aborted) return Promise.reject(new Error('aborted'));
    this.reports.push({ at: this.clock.monotonic(), report });
    return Promise.resolve();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function run(clock: ManualClock, ms: number, step = 10) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
  }
}

describe('createRateLimiter', () => {
  it('rejects a limit the policy does not have, naming the ones it has', async () => {
    const clock = new ManualClock({ wallMs: T0 });
    const transport = new FakeTransport(clock, doc(1, [10, 5]));
    const attempt = createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'cals', podName: 'pod-a', transport, clock, log: silent });
    await expect(attempt).rejects.toThrow(RateLimitNotFoundError);
    await expect(attempt).rejects.toThrow("RatePolicy ns/p has no limit named 'cals'; its limits are: calls");
  });

  it('enforces the share, acknowledges each version at most once per refresh interval, and reports on close', async () => {
    const clock = new ManualClock({ wallMs: T0 });
    const transport = new FakeTransport(clock, doc(1, [10, 5]));
    const registry = new Registry();
    const limiter = await createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'calls', podName: 'pod-a', transport, clock, log: silent, registry, closeTimeoutMs: 0 });
    expect(Array.from({ length: 10 }, () => limiter.tryTake('c')).filter(Boolean)).toHaveLength(5);
    expect(limiter.retryAfterSeconds('c')).toBe(1);
    await run(clock, 50);
    expect(transport.reports.map((r) => r.report.version)).toEqual([1]);
    transport.push?.(doc(2, [20, 5]));
    transport.push?.(doc(3, [30, 5]));
    expect(limiter.share()).toMatchObject({ state: 'granted', requestsPerSecond: 30, version: 3 });
    await run(clock, 500);
    expect(transport.reports).toHaveLength(1); // the interval has not passed
    await run(clock, 600);
    expect(transport.reports.map((r) => r.report.version)).toEqual([1, 3]);
    const gaps = transport.reports.slice(1).map((r, i) => r.at - transport.reports[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1000);
    expect(await registry.getSingleMetricAsString('manyfold_ratelimit_share_requests_per_second')).toContain('} 30');
    transport.push?.(doc(4, [40, 5]));
    await limiter.close();
    expect(transport.reports.at(-1)?.report.version).toBe(4);
  });

  it('reports demand in Demand mode when it moved by more than 10 %', async () => {
    const clock = new ManualClock({ wallMs: T0 });
    const transport = new FakeTransport(clock, doc(1, [100, 100], 'Demand'));
    const limiter = await createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'calls', podName: 'pod-a', transport, clock, log: silent, closeTimeoutMs: 0 });
    await run(clock, 20);
    expect(transport.reports).toHaveLength(1);
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 50; i++) limiter.tryTake('k');
      await run(clock, 1000, 50);
    }
    const demands = transport.reports.map((r) => r.report.demand.calls ?? 0);
    expect(demands.at(-1)).toBe(50 * (1 + DEMAND_HEADROOM)); // asked 50/s, plus the headroom
    expect(transport.reports.length).toBeLessThanOrEqual(3);
    await limiter.close();
  });

  it('with nothing published, applies the fallback and picks the shares up when they appear', async () => {
    const clock = new ManualClock({ wallMs: T0 });
    const transport = new FakeTransport(clock, undefined);
    const limiter = await createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'calls', podName: 'pod-a', transport, clock, log: silent, closeTimeoutMs: 0 });
    expect(limiter.tryTake('k')).toBe(false);
    expect(limiter.share().state).toBe('waiting');
    await flush();
    transport.push?.(doc(1, [10, 5]));
    expect(limiter.tryTake('k')).toBe(true);
    await limiter.close();
  });

  it('close() waits for the version that takes its share away, acknowledges it, and gives up after closeTimeoutMs', async () => {
    const clock = new ManualClock({ wallMs: T0 });
    const transport = new FakeTransport(clock, doc(1, [10, 5]));
    const limiter = await createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'calls', podName: 'pod-a', transport, clock, log: silent, closeTimeoutMs: 3000 });
    await run(clock, 20);
    let done = false;
    const closing = limiter.close().then(() => (done = true));
    await run(clock, 500);
    expect(done).toBe(false);
    transport.push?.({ ...doc(2, [0, 0]), replicas: {} });
    await closing;
    expect(transport.reports.at(-1)?.report.version).toBe(2);
    const other = await createRateLimiter({ namespace: 'ns', policy: 'p', limit: 'calls', podName: 'pod-a', transport: new FakeTransport(clock, doc(1, [10, 5])), clock, log: silent, closeTimeoutMs: 1000 });
    let gaveUp = false;
    const giving = other.close().then(() => (gaveUp = true));
    await run(clock, 900);
    expect(gaveUp).toBe(false);
    await run(clock, 200);
    await giving;
    expect(gaveUp).toBe(true);
  });
});
