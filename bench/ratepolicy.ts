/**
 * RatePolicy benchmark (issue 14), against one `manyfold operator` process on a local
 * control plane of its own. A counting HTTP server on 127.0.0.1 counts arrivals per
 * 100 ms window; client processes (bench/support/ratepolicy-client.ts), one per pod of
 * a Deployment whose pods kwok makes Ready, send to it as fast as their limiter admits
 * (`createRateLimiter` over the API server). The global limit is 2,000 requests/s
 * (burst 20), spec defaults otherwise (leaseSeconds 15, refreshIntervalMilliseconds
 * 1000). For N = 4, then 16:
 *
 * 1. N pods, steady; 2. scale up by N/4 (a client starts with each new pod, before it
 *    is Ready); 3. scale down by N/4 (the departing pods' clients stop gracefully);
 * 4. uneven demand: half the clients want 20 requests/s, the rest as much as they
 *    get, first with shareMode Even, then Demand; 5. demand shifts (the halves swap).
 *
 * Figures: per 100 ms window, admitted vs the limit (200): max, p99, windows above
 * +5 %, longest run of such windows (sustained overshoot), over the whole run after
 * the first convergence; time from a replica change (pod Ready, or pod gone) to every
 * client holding its target share (from the clients' own share-change logs);
 * utilisation of the limit under uneven demand (Even vs Demand); decision latency
 * p50/p99 in process (`tryTake` on 1,000 keys). To tell late delivery from a real burst,
 * each request carries its admission time: the server also counts arrivals by the
 * window they were admitted in, and for each window above +5 % whether it is within
 * +5 % without the requests admitted in an earlier window, with the counting process's
 * own timer lag and the delivery delays. With `--gubernator <binary>` (or the
 * one in ~/.cache/manyfold/gubernator), the same N clients against one local
 * Gubernator (leaky bucket, 2,000/s, burst 20), asked over HTTP before every request:
 * admitted vs limit and decision latency.
 *
 * Usage: npx node bench/ratepolicy.ts [--sizes 4,16] [--phase-seconds 5] [--gubernator PATH]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RatePolicyType } from '../src/controllers/ratepolicy.ts';
import { Resources } from '../src/kube/resources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { SystemClock } from '../src/legos/clock.ts';
import { ENFORCER_LABEL } from '../src/legos/ratelimit/document.ts';
import { RateLimiterCore } from '../src/legos/ratelimit/limiter.ts';
import { onLines } from '../src/runtime/lines.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { startOperator, waitReady } from './support/operator.ts';
import { ms, summarize, table, type Row } from './support/stats.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '4,16' }, 'phase-seconds': { type: 'string', default: '5' }, gubernator: { type: 'string' } } });
const sizes = (values.sizes ?? '4,16').split(',').map(Number);
const phaseMs = Number(values['phase-seconds']) * 1000;
const LIMIT = 2000;
const WINDOW_LIMIT = LIMIT / 10;
const clientScript = fileURLToPath(new URL('./support/ratepolicy-client.ts', import.meta.url));
const NS = 'bench-rpol';

/**
 * Arrivals per 100 ms window (and, in `admitted`, the clients' own admissions per
 * window). Each request carries its admission time (`a`, the client's `Date.now()` when
 * its limiter admitted it; same machine, same clock), so the server also counts
 * arrivals by the window they were admitted in (`byAdmission`), how many arrived in a
 * later window than they were admitted in (`late`), and the delivery delay. A 10 ms
 * timer in this process records how late it fires per window (`lag`): the counting
 * server's own CPU starvation.
 */
class Counter {
  readonly windows = new Map<number, number>();
  readonly admitted = new Map<number, number>();
  readonly byAdmission = new Map<number, number>();
  readonly late = new Map<number, number>();
  readonly lag = new Map<number, number>();
  /** [arrival wall ms, delivery delay ms] of every stamped request. */
  readonly delays: [number, number][] = [];
  private readonly server = createServer((req, res) => {
    const now = Date.now();
    const w = Math.floor(now / 100);
    this.windows.set(w, (this.windows.get(w) ?? 0) + 1);
    const a = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('a'));
    if (Number.isFinite(a) && a > 0) {
      const aw = Math.floor(a / 100);
      this.byAdmission.set(aw, (this.byAdmission.get(aw) ?? 0) + 1);
      if (aw < w) this.late.set(w, (this.late.get(w) ?? 0) + 1);
      this.delays.push([now, now - a]);
    }
    req.resume();
    res.end();
  });
  private timer: NodeJS.Timeout | undefined;
  url = '';
  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    let last = performance.now();
    this.timer = setInterval(() => {
      const t = performance.now();
      const w = Math.floor(Date.now() / 100);
      this.lag.set(w, Math.max(this.lag.get(w) ?? 0, t - last - 10));
      last = t;
    }, 10);
  }
  stop() {
    clearInterval(this.timer);
    this.server.closeAllConnections();
    this.server.close();
  }
  /** Counts of every window in [from, to) (ms), zeros included: arrivals, or the clients' admissions. */
  range(from: number, to: number, of: 'arrivals' | 'admissions' | 'by-admission' = 'arrivals'): number[] {
    const source = of === 'arrivals' ? this.windows : of === 'admissions' ? this.admitted : this.byAdmission;
    const out: number[] = [];
    for (let w = Math.floor(from / 100); w < Math.floor(to / 100); w++) out.push(source.get(w) ?? 0);
    return out;
  }
  /**
   * The server windows of [from, to) above +5 %, and how many of them are explained by
   * late delivery: without the requests admitted in an earlier window, the window is
   * within +5 %. With the server's timer lag in those windows and the delivery delays.
   */
  bunching(from: number, to: number) {
    let over = 0;
    let explained = 0;
    const lags: number[] = [];
    const worst: string[] = [];
    for (let w = Math.floor(from / 100); w < Math.floor(to / 100); w++) {
      const arrivals = this.windows.get(w) ?? 0;
      if (arrivals <= WINDOW_LIMIT * 1.05) continue;
      over++;
      const late = this.late.get(w) ?? 0;
      if (arrivals - late <= WINDOW_LIMIT * 1.05) explained++;
      const lag = Math.max(this.lag.get(w) ?? 0, this.lag.get(w - 1) ?? 0);
      lags.push(lag);
      worst.push(`${arrivals}: ${late} late, lag ${lag.toFixed(0)} ms`);
    }
    const delays = summarize(this.delays.filter(([at]) => at >= from && at < to).map(([, d]) => d));
    return { over, explained, lags: summarize(lags), worst: worst.slice(0, 4), delays };
  }
}

interface Client {
  readonly pod: string;
  readonly child: ChildProcess;
  rps: number | undefined;
  /** Wall ms at which its limiter was running. */
  startedAt: number | undefined;
  /** Wall ms of each share change and the rps it set. */
  readonly changes: { at: number; rps: number }[];
  readonly latencies: number[];
  readonly spawnedAt: number;
}

class Clients {
  readonly all = new Map<string, Client>();
  /** Clients stopped so far (their last lines included). */
  readonly retired: Client[] = [];
  private readonly ctx: BenchContext;
  private readonly base: string[];
  private readonly counter: Counter;
  constructor(ctx: BenchContext, base: string[], counter: Counter) {
    this.ctx = ctx;
    this.base = base;
    this.counter = counter;
  }
  start(pod: string, extra: string[] = []): Client {
    const child = fork(clientScript, [...this.base, '--pod', pod, ...extra], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const client: Client = { pod, child, rps: undefined, startedAt: undefined, changes: [], latencies: [], spawnedAt: Date.now() };
    onLines(child.stdout!, (line) => {
      try {
        const l = JSON.parse(line) as { at: number; event?: string; rps?: number; fallbackRps?: number; ms?: number[]; windows?: [number, number][] };
        for (const [w, c] of l.windows ?? []) this.counter.admitted.set(w, (this.counter.admitted.get(w) ?? 0) + c);
        if (l.event === 'started') client.startedAt = l.at;
        const rps = l.rps ?? l.fallbackRps;
        if (rps !== undefined) {
          client.rps = rps;
          client.changes.push({ at: l.at, rps });
        }
        if (l.ms) client.latencies.push(...l.ms);
      } catch {
        // not JSON
      }
    });
    onLines(child.stderr!, (line) => this.ctx.log(`client ${pod}: ${line}`));
    this.all.set(pod, client);
    return client;
  }
  async stop(pod: string) {
    const c = this.all.get(pod);
    if (!c) return;
    this.all.delete(pod);
    this.retired.push(c);
    if (c.child.exitCode !== null) return;
    const exited = new Promise((r) => c.child.once('exit', r));
    c.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
  /** Restarts clients whose limiter did not come up within `ms` (seen on this loaded machine: processes starved of CPU in start-up). */
  restartStalled(ms: number): number {
    let restarted = 0;
    for (const c of [...this.all.values()]) {
      if (c.startedAt === undefined && Date.now() - c.spawnedAt > ms) {
        this.ctx.log(`client ${c.pod}: limiter not up after ${ms} ms; restarting it`);
        c.child.kill('SIGKILL');
        this.all.delete(c.pod);
        this.start(c.pod);
        restarted++;
      }
    }
    this.restarts += restarted;
    return restarted;
  }
  restarts = 0;

  async stopAll() {
    for (const pod of [...this.all.keys()]) await this.stop(pod);
  }
  want(pods: readonly string[], want: number | 'max') {
    for (const p of pods) this.all.get(p)?.child.send({ want });
  }
}

type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
const isReady = (p: Pod) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function overshootRows(label: string, windows: readonly number[]): Row[] {
  const s = summarize(windows);
  let run = 0;
  let longest = 0;
  let over = 0;
  for (const w of windows) {
    if (w > WINDOW_LIMIT * 1.05) {
      over++;
      run++;
      longest = Math.max(longest, run);
    } else run = 0;
  }
  const pct = (x: number) => `${((x / WINDOW_LIMIT - 1) * 100).toFixed(1)} %`;
  return [
    { metric: `${label}: 100 ms windows`, value: String(windows.length) },
    { metric: `${label}: admitted per window p50 / p99 / max (limit 200)`, value: `${s.p50} / ${s.p99} / ${s.max}` },
    { metric: `${label}: worst window vs limit`, value: pct(s.max), target: '≤ +5 %', met: s.max <= WINDOW_LIMIT * 1.05 },
    { metric: `${label}: windows above +5 % / longest run`, value: `${over} / ${longest} (${longest * 100} ms)`, target: 'none sustained', met: longest <= 1 },
    { metric: `${label}: mean admitted rate`, value: `${((s.mean * 10) | 0).toLocaleString('en-US')} req/s` },
  ];
}

function bunchingRows(label: string, b: ReturnType<Counter['bunching']>): Row[] {
  return [
    { metric: `${label}: server windows above +5 %, of them within +5 % without the requests admitted in an earlier window`, value: `${b.over}, ${b.explained}${b.worst.length > 0 ? ` (${b.worst.join('; ')})` : ''}` },
    { metric: `${label}: counting server's 10 ms timer lag in those windows (or the one before) p50 / max`, value: b.over === 0 ? 'n/a' : `${ms(b.lags.p50)} / ${ms(b.lags.max)}` },
    { metric: `${label}: delivery delay admission → arrival p50 / p99 / max`, value: `${ms(b.delays.p50)} / ${ms(b.delays.p99)} / ${ms(b.delays.max)}` },
  ];
}

async function bodyFor(ctx: BenchContext, n: number, counter: Counter, rows: Row[]) {
  const name = `rp${n}`;
  const deployment = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, [ENFORCER_LABEL]: 'true' } }, spec: { containers: [{ name: 'c', image: 'registry.invalid/x:1' }], tolerations: [{ operator: 'Exists' }] } },
    },
  });
  const policy = (shareMode: 'Even' | 'Demand') => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'RatePolicy',
    metadata: { name, namespace: NS },
    spec: { selector: { matchLabels: { app: name } }, limits: [{ name: 'calls', key: 'k', requestsPerSecond: LIMIT, burst: 20, shareMode }] },
  });
  const clients = new Clients(ctx, ['--mode', 'manyfold', '--target', counter.url, '--kubeconfig', ctx.cluster.kubeconfig, '--namespace', NS, '--policy', name], counter);
  ctx.defer(() => clients.stopAll());
  const pods = async () => (await ctx.admin.list<Pod>(Resources.Pod, { namespace: NS, labelSelector: `app=${name}` })).items;
  /** Starts a client for every pod of `all` without one (before it is Ready, as an app process would). */
  const follow = (all: readonly Pod[]) => {
    for (const p of all) if (!p.metadata.deletionTimestamp && !clients.all.has(p.metadata.name ?? '')) clients.start(p.metadata.name ?? '');
  };
  const readyCount = async (count: number) => {
    for (;;) {
      const all = await pods();
      follow(all); // from the same list: a pod seen Ready always has its client
      const ready = all.filter(isReady);
      if (ready.length === count) return { at: Date.now(), pods: ready.map((p) => p.metadata.name ?? '') };
      await sleep(50, undefined, { signal: ctx.signal });
    }
  };
  /** Waits until every client of `live` holds `share(pod)`; returns when the last one got there (wall ms). */
  const converged = async (live: readonly string[], share: (pod: string) => number, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      clients.restartStalled(90_000);
      if (live.every((p) => Math.abs((clients.all.get(p)?.rps ?? -1) - share(p)) < 0.5)) {
        return Math.max(...live.map((p) => clients.all.get(p)?.changes.at(-1)?.at ?? 0));
      }
      await sleep(20, undefined, { signal: ctx.signal });
    }
    throw new Error(`N=${n}: shares did not converge within ${timeoutMs} ms: ${live.map((p) => { const c = clients.all.get(p); return `${p}=${c?.rps} (started ${c?.startedAt ?? '-'}, exit ${c?.child.exitCode ?? '-'})`; }).join(' ')}`);
  };
  const even = (count: number) => () => LIMIT / count;
  /** Wall ms at which the policy's status first shows `replicas` Ready replicas and converged shares (polled every 50 ms). */
  const statusConverged = async (replicas: number) => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const p = await ctx.admin.get<KubeObject & { status?: { replicas?: number; converged?: boolean } }>(RatePolicyType, name, NS);
      if (p.status?.replicas === replicas && p.status.converged === true) return Date.now();
      await sleep(50, undefined, { signal: ctx.signal });
    }
    return Number.NaN;
  };

  await ctx.admin.apply(deployment(n), { fieldManager: 'bench' });
  await ctx.admin.apply(policy('Even'), { fieldManager: 'bench' });
  let state = await readyCount(n);
  await converged(state.pods, even(n), 240_000); // n processes starting at once on a shared 2-core machine
  const from = Date.now();
  await sleep(phaseMs, undefined, { signal: ctx.signal });
  const steady = counter.range(from, Date.now());

  // scale up
  const step = Math.max(1, n / 4);
  await ctx.admin.apply(deployment(n + step), { fieldManager: 'bench' });
  state = await readyCount(n + step);
  const published = await statusConverged(n + step);
  const upDone = await converged(state.pods, even(n + step));
  // from the later of the pod turning Ready and its process's limiter running (an app is up before it is Ready)
  const upFrom = Math.max(state.at, ...state.pods.map((p) => clients.all.get(p)?.startedAt ?? 0));
  const upMs = upDone - upFrom;
  const upPublishedMs = published - state.at;
  ctx.log(`N=${n} scale-up: pods Ready seen at +0, limiters up at ${state.pods.map((p) => (clients.all.get(p)?.startedAt ?? 0) - state.at).join(',')} ms, converged at +${upDone - state.at} ms`);
  await sleep(phaseMs, undefined, { signal: ctx.signal });

  // scale down: the Deployment picks the pods; their clients stop gracefully once the pods are going
  await ctx.admin.apply(deployment(n), { fieldManager: 'bench' });
  let goneAt = 0;
  for (;;) {
    const all = await pods();
    const going = all.filter((p) => p.metadata.deletionTimestamp).map((p) => p.metadata.name ?? '');
    const kept = all.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name ?? '');
    if (kept.length === n) {
      goneAt = Date.now();
      for (const p of [...clients.all.keys()]) if (!kept.includes(p) || going.includes(p)) void clients.stop(p);
      state = { at: goneAt, pods: kept };
      break;
    }
    await sleep(50, undefined, { signal: ctx.signal });
  }
  const downPublished = await statusConverged(n);
  const downDone = await converged(state.pods, even(n));
  const downMs = downDone - goneAt;
  await sleep(phaseMs, undefined, { signal: ctx.signal });

  // uneven demand: Even, then Demand, then a shift
  const half = state.pods.slice(0, n / 2);
  const rest = state.pods.slice(n / 2);
  clients.want(half, 20);
  await sleep(2000, undefined, { signal: ctx.signal });
  let t = Date.now();
  await sleep(phaseMs, undefined, { signal: ctx.signal });
  const evenUtil = counter.range(t, Date.now());
  await ctx.admin.apply(policy('Demand'), { fieldManager: 'bench' });
  await sleep(4000, undefined, { signal: ctx.signal });
  t = Date.now();
  await sleep(phaseMs, undefined, { signal: ctx.signal });
  const demandUtil = counter.range(t, Date.now());
  clients.want(half, 'max');
  clients.want(rest, 20);
  const shiftAt = Date.now();
  // the first 300 ms, all admitted after the swap, averaging ≥ 90 % of the limit (counted by admission
  // window, so late delivery neither hides nor fakes it; windows younger than 1 s may still be arriving)
  let shiftMs = Number.NaN;
  const firstWindow = Math.floor(shiftAt / 100) + 1;
  for (let i = 0; i < 40 && Number.isNaN(shiftMs); i++) {
    await sleep(500, undefined, { signal: ctx.signal });
    const windows = counter.range(firstWindow * 100, Date.now() - 1000, 'by-admission');
    for (let k = 0; k + 3 <= windows.length; k++) {
      if (windows[k]! + windows[k + 1]! + windows[k + 2]! >= 3 * WINDOW_LIMIT * 0.9) {
        shiftMs = (firstWindow + k) * 100 - shiftAt;
        break;
      }
    }
  }
  const until = Date.now();
  await clients.stopAll();
  await ctx.admin.delete(Resources.Deployment, { name, namespace: NS });
  await ctx.admin.delete(RatePolicyType, { name, namespace: NS });

  const util = (w: number[]) => `${((w.reduce((a, b) => a + b, 0) / w.length / WINDOW_LIMIT) * 100).toFixed(1)} %`;
  rows.push(
    ...overshootRows(`N=${n} steady`, steady),
    ...overshootRows(`N=${n} whole run (scale up/down, demand shifts)`, counter.range(from, until)),
    ...overshootRows(`N=${n} whole run, admissions as the clients count them`, counter.range(from, until - 1500, 'admissions')),
    ...overshootRows(`N=${n} whole run, arrivals at the server by their admission window`, counter.range(from, until - 1500, 'by-admission')),
    ...bunchingRows(`N=${n} whole run`, counter.bunching(from, until)),
    { metric: `N=${n}: scale-up ${n}→${n + step}: pod Ready → converged shares published (status)`, value: ms(upPublishedMs), target: '≤ 2 s', met: upPublishedMs <= 2000 },
    { metric: `N=${n}: scale-up: later of pod Ready / its limiter up → every client holds its share`, value: ms(upMs), target: '≤ 2 s', met: upMs <= 2000 },
    { metric: `N=${n}: scale-down ${n + step}→${n}: pods going → converged shares published (status)`, value: ms(downPublished - goneAt), target: '≤ 2 s', met: downPublished - goneAt <= 2000 },
    { metric: `N=${n}: scale-down: pods going → every client holds its share`, value: ms(downMs), target: '≤ 2 s', met: downMs <= 2000 },
    { metric: `N=${n}: client processes restarted (not up after 90 s)`, value: String(clients.restarts) },
    { metric: `N=${n}: utilisation, half the clients want 20/s — Even`, value: util(evenUtil) },
    { metric: `N=${n}: utilisation, same demand — Demand`, value: util(demandUtil) },
    { metric: `N=${n}: Demand mode, demand shifts (halves swap) → first 300 ms admitted at ≥ 90 % again`, value: Number.isNaN(shiftMs) ? 'not within 20 s' : ms(shiftMs) },
  );
}

function decisionLatency(rows: Row[]) {
  const core = new RateLimiterCore({ policy: 'p', limit: 'calls', podName: 'a', clock: SystemClock });
  core.applyDocument({ policy: 'p', version: 1, expiresAtMs: Date.now() + 3_600_000, refreshIntervalMs: 1000, leaseMs: 15_000, limits: [{ name: 'calls', key: 'k', scope: 'Global', shareMode: 'Even', requestsPerSecond: 1e6, burst: 1e6, fallbackRequestsPerSecond: 0 }], replicas: { a: { calls: [1e6, 1e6] } } });
  const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`);
  const samples: number[] = [];
  for (let i = 0; i < 300_000; i++) {
    const start = process.hrtime.bigint();
    core.tryTake(keys[i % 1000]!);
    const ns = Number(process.hrtime.bigint() - start);
    if (i >= 50_000) samples.push(ns);
  }
  const s = summarize(samples);
  rows.push({ metric: 'manyfold: decision latency tryTake, 1,000 keys, in process (p50 / p99)', value: `${(s.p50 / 1000).toFixed(2)} µs / ${(s.p99 / 1000).toFixed(2)} µs`, target: 'microseconds', met: s.p99 < 100_000 });
}

async function gubernator(ctx: BenchContext, counter: Counter, rows: Row[], binary: string) {
  const http = 9000 + Math.floor(Math.random() * 500);
  const child = spawn(binary, [], {
    env: { ...process.env, GUBER_HTTP_ADDRESS: `127.0.0.1:${http}`, GUBER_GRPC_ADDRESS: `127.0.0.1:${http + 1}`, GUBER_ADVERTISE_ADDRESS: `127.0.0.1:${http + 1}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  ctx.defer(() => void child.kill('SIGTERM'));
  const base = `http://127.0.0.1:${http}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${base}/v1/HealthCheck`).then((r) => r.ok).catch(() => false);
    if (ok) break;
    await sleep(100);
  }
  for (const n of sizes) {
    const clients = new Clients(ctx, ['--mode', 'gubernator', '--target', counter.url, '--gubernator', base], counter);
    for (let i = 0; i < n; i++) clients.start(`g${n}-${i}`);
    // every process up (start-up takes seconds on a loaded machine), then 2 s of warm-up
    for (let i = 0; i < 1200 && [...clients.all.values()].some((c) => c.startedAt === undefined); i++) await sleep(100, undefined, { signal: ctx.signal });
    await sleep(2000, undefined, { signal: ctx.signal });
    const from = Date.now();
    await sleep(phaseMs, undefined, { signal: ctx.signal });
    const windows = counter.range(from, Date.now());
    await clients.stopAll();
    const lat = summarize(clients.retired.flatMap((c) => c.latencies));
    rows.push(...overshootRows(`Gubernator N=${n}`, windows), ...bunchingRows(`Gubernator N=${n}`, counter.bunching(from, from + phaseMs)));
    rows.push({ metric: `Gubernator N=${n}: decision latency (HTTP round trip, p50 / p99)`, value: `${ms(lat.p50)} / ${ms(lat.p99)} (${lat.n} decisions)` });
  }
}

const rows: Row[] = [];
process.exitCode = await runBench({ name: 'ratepolicy', title: 'RatePolicy: shares that follow replicas and demand, enforced in-process', nodes: 3 }, async (ctx) => {
  const operator = startOperator({ kubeconfig: ctx.cluster.operatorKubeconfig, logFile: join(ctx.dir, 'operator.log'), processes: ctx.processes });
  await waitReady(operator, { signal: ctx.signal });
  await ctx.namespace(NS);
  const counter = new Counter();
  await counter.start();
  ctx.defer(() => counter.stop());
  for (const n of sizes) {
    ctx.log(`N=${n}`);
    try {
      await bodyFor(ctx, n, counter, rows);
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      rows.push({ metric: `N=${n}`, value: `failed: ${(error instanceof Error ? error.message : String(error)).slice(0, 300)}`, met: false });
      await ctx.admin.delete(Resources.Deployment, { name: `rp${n}`, namespace: NS }).catch(() => undefined);
    }
  }
  decisionLatency(rows);
  const binary = values.gubernator ?? join(homedir(), '.cache/manyfold/gubernator/gubernator');
  if (existsSync(binary)) await gubernator(ctx, counter, rows, binary);
  else rows.push({ metric: 'Gubernator', value: `not run: no binary at ${binary}` });
  console.log(table(rows));
});
