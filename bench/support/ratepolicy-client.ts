/**
 * One benchmark client process for bench/ratepolicy.ts: sends GET requests to a
 * counting server on 127.0.0.1 as fast as its limiter admits them (`--want max`) or
 * paced at `--want <rps>`; the parent changes `want` over IPC (`{ want }`). Two
 * limiters: `manyfold` (createRateLimiter over the API server; share changes printed
 * as JSON lines with their wall time `at`) or `gubernator` (asks a local Gubernator
 * over HTTP before every request; each decision's latency is printed every second).
 *
 * Usage (by the benchmark): node bench/support/ratepolicy-client.ts --mode manyfold|gubernator
 *   --target http://127.0.0.1:P --pod NAME [--kubeconfig F --namespace NS --policy P]
 *   [--gubernator http://127.0.0.1:P] [--want max|<rps>]
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createRateLimiter } from '../../src/legos/ratelimit/index.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'manyfold' },
    target: { type: 'string' },
    pod: { type: 'string' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    policy: { type: 'string' },
    gubernator: { type: 'string' },
    want: { type: 'string', default: 'max' },
  },
});
const target = new URL(values.target ?? 'http://127.0.0.1:1');
const pod = values.pod ?? 'pod';
let want = values.want === 'max' ? Number.POSITIVE_INFINITY : Number(values.want);
process.on('message', (m: { want?: number | 'max' }) => {
  if (m.want !== undefined) want = m.want === 'max' ? Number.POSITIVE_INFINITY : m.want;
});
process.stdout.on('error', () => process.exit(0));
const out = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ at: Date.now(), pod, ...line })}\n`);

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
let inFlight = 0;
/** Admissions per 100 ms window (wall clock), reported every second: the limiter's own view, before delivery jitter. */
let admitted = new Map<number, number>();
setInterval(() => {
  if (admitted.size > 0) out({ event: 'admitted', windows: [...admitted] });
  admitted = new Map();
}, 1000).unref();
function send(): void {
  const at = Date.now();
  const w = Math.floor(at / 100);
  admitted.set(w, (admitted.get(w) ?? 0) + 1);
  inFlight++;
  // `a`: the admission time, so the server can tell late delivery from a real burst
  const req = request({ host: target.hostname, port: target.port, path: `/?c=${pod}&a=${at}`, agent }, (res) => {
    res.resume();
    res.on('end', () => inFlight--);
  });
  req.on('error', () => inFlight--);
  req.end();
}

let stopping = false;
const latencies: number[] = [];

/** Paced sending at `want` requests/s (or as fast as admitted when want is Infinity), until `until()`. */
async function loop(decide: () => Promise<boolean>, until: () => boolean = () => false): Promise<void> {
  let next = performance.now();
  while (!stopping && !until()) {
    if (Number.isFinite(want)) {
      next += 1000 / Math.max(0.1, want);
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else if (wait < -1000) next = performance.now();
    }
    if (inFlight >= 64) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    if (await decide()) send();
  }
}

if (values.mode === 'gubernator') {
  const url = new URL('/v1/GetRateLimits', values.gubernator ?? 'http://127.0.0.1:9080');
  const gAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  const body = JSON.stringify({ requests: [{ name: 'bench', unique_key: 'k', hits: 1, limit: 2000, duration: 1000, algorithm: 'LEAKY_BUCKET', burst: 20 }] });
  const ask = () =>
    new Promise<boolean>((resolve) => {
      const start = performance.now();
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: gAgent, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          latencies.push(performance.now() - start);
          // UNDER_LIMIT is the enum's zero value: absent when the gateway omits defaults
          resolve(res.statusCode === 200 && !text.includes('OVER_LIMIT') && !/"error":"[^"]/.test(text));
        });
      });
      req.on('error', () => resolve(false));
      req.end(body);
    });
  setInterval(() => {
    if (latencies.length > 0) out({ event: 'latencies', ms: latencies.splice(0) });
  }, 1000).unref();
  process.once('SIGTERM', () => {
    stopping = true;
    if (latencies.length > 0) out({ event: 'latencies', ms: latencies.splice(0) });
    setTimeout(() => process.exit(0), 50);
  });
  out({ event: 'started' });
  await loop(async () => {
    const ok = await ask();
    if (!ok) await new Promise((r) => setTimeout(r, 1));
    return ok;
  });
} else {
  const log = pino({ level: 'debug', base: { pod }, timestamp: () => `,"at":${Date.now()}` }, process.stdout);
  const limiter = await createRateLimiter({ kubeconfig: values.kubeconfig, namespace: values.namespace, policy: values.policy ?? '', limit: 'calls', podName: pod, log });
  process.once('SIGTERM', () => {
    stopping = true;
    if (admitted.size > 0) out({ event: 'admitted', windows: [...admitted] });
    admitted = new Map();
    void limiter.close().then(() => process.exit(0));
  });
  out({ event: 'started', rps: limiter.share().requestsPerSecond });
  // as fast as admitted: every token the bucket holds goes out at once, then a short nap
  while (!stopping) {
    if (Number.isFinite(want)) {
      await loop(() => Promise.resolve(limiter.tryTake('k')), () => !Number.isFinite(want));
      continue;
    }
    let sent = 0;
    while (inFlight < 64 && limiter.tryTake('k')) {
      send();
      sent++;
    }
    await new Promise((r) => setTimeout(r, sent === 0 ? 2 : 0));
  }
}
