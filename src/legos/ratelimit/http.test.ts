import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { rateLimited } from './http.ts';
import { RateLimiterCore } from './limiter.ts';

describe('rateLimited', () => {
  it('answers 429 with Retry-After over the share and passes the rest to the handler', async () => {
    const clock = new ManualClock({ wallMs: Date.UTC(2026, 0, 1) });
    const core = new RateLimiterCore({ policy: 'p', limit: 'calls', podName: 'pod-a', clock });
    core.applyDocument({
      policy: 'p',
      version: 1,
      expiresAtMs: Date.UTC(2026, 0, 1) + 60_000,
      refreshIntervalMs: 1000,
      leaseMs: 15_000,
      limits: [{ name: 'calls', key: 'x-customer', scope: 'Global', shareMode: 'Even', requestsPerSecond: 1, burst: 2, fallbackRequestsPerSecond: 0 }],
      replicas: { 'pod-a': { calls: [0.5, 2] } },
    });
    const limiter = { tryTake: (k: string) => core.tryTake(k), retryAfterSeconds: (k: string) => Math.max(1, Math.ceil(core.delayFor(k) / 1000)) };
    let handled = 0;
    const server = createServer(
      rateLimited(
        limiter,
        (_req, res) => {
          handled++;
          res.end('ok');
        },
        { keyOf: (req) => String(req.headers['x-customer'] ?? '') },
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const get = (customer: string) => fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-customer': customer } });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await get('acme')).status);
      expect(statuses).toEqual([200, 200, 429]);
      const refused = await get('acme');
      expect(refused.headers.get('retry-after')).toBe('2'); // one token at 0.5/s
      expect((await get('other')).status).toBe(200);
      expect(handled).toBe(3);
    } finally {
      server.close();
    }
  });
});
