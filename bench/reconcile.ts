/**
 * Reconcile benchmark (issue 3), against one `manyfold operator` process:
 *
 * (a) reconcile latency with 1,000 objects: 1,000 Cells (each one ConfigMap template,
 *     ready as soon as it exists) are created and converge; then N spec updates
 *     (default 200, each to a different Cell) arrive as a Poisson stream (default mean
 *     5/s, below the point where the operator's queue backs up on a 2-core machine, so
 *     the figure is latency rather than queueing; `--rate` raises it). For each, the time from the server-side apply's response to the arrival,
 *     on a watch of Cells, of the status showing the new generation
 *     (`status.observedGeneration`), p50/p99; and to the status showing it converged
 *     (Ready=True, every resource at that template generation). Target for the first:
 *     none set by the issue beyond reporting p50/p99.
 * (b) operator RSS while watching 10,000 objects (target <= 200 MB): on top of the
 *     1,000 Cells and their 1,000 ConfigMaps, `--rss-objects configmaps` (default)
 *     adds 8,000 ConfigMaps labelled `manyfold.dev/cell` (which the Cell controller's
 *     owned-ConfigMap informer caches; no owner, so they trigger no reconcile), and
 *     `--rss-objects cells` adds 9,000 more Cells instead (10,000 Cells + 10,000
 *     stamped ConfigMaps cached, and each reconciled once). After `/readyz` and RSS
 *     settle, VmRSS and VmHWM from /proc/<pid>/status and `process_resident_memory_bytes`.
 * (c) queue throughput is `bench/queue.ts` (in process, no cluster).
 *
 * Before the latency sample the operator is left to go quiet (no reconcile for 5 s, and
 * at least 35 s after all were Ready, so the 30 s `requeueAfter` of Cells reconciled
 * while Pending has fired): the sample measures steady state, not the tail of creation.
 * The operator's API writes per Cell and per update are counted from the audit log.
 *
 * Usage: npx node bench/reconcile.ts [--updates 200] [--rate 5] [--rss-objects configmaps|cells]
 *          [--operator-node-options='<NODE_OPTIONS for the operator, e.g. V8 heap flags>']
 *          [--operator-env KEY=VALUE ...] (e.g. MALLOC_ARENA_MAX=2)
 *          [--memory-probe] (preload bench/support/memory-probe.ts: V8 and process memory split)
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CellType } from '../src/controllers/cell.ts';
import { Resources } from '../src/kube/resources.ts';
import { auditCounts, formatCounts } from './support/audit.ts';
import { CellTracker, cheapCell, type CellObject } from './support/cells.ts';
import { CpuMeter } from './support/cpu.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { metricSum, readRss, rssBreakdown, scrapeMetrics, startOperator, waitReady, type OperatorProcess, type RssBreakdown } from './support/operator.ts';
import { mib, ms, pool, shuffled, summarize, table, type Row } from './support/stats.ts';
import { ObjectWatch } from './support/watch.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '200' },
    rate: { type: 'string', default: '5' },
    'rss-objects': { type: 'string', default: 'configmaps' },
    'operator-node-options': { type: 'string' },
    'operator-env': { type: 'string', multiple: true },
    'memory-probe': { type: 'boolean', default: false },
  },
});
const updates = Number(values.updates);
const rate = Number(values.rate);
const rssObjects = values['rss-objects'];
if (!Number.isInteger(updates) || updates < 1 || updates > 1000) throw new Error('--updates must be an integer from 1 to 1000');
if (!(rate > 0 && rate <= 1000)) throw new Error('--rate must be in (0, 1000] updates per second');
if (rssObjects !== 'configmaps' && rssObjects !== 'cells') throw new Error('--rss-objects must be configmaps or cells');
const operatorEnv = Object.fromEntries(
  (values['operator-env'] ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--operator-env expects KEY=VALUE, got '${pair}'`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }),
);

const probePath = fileURLToPath(new URL('./support/memory-probe.ts', import.meta.url));
const nodeOptions = [values['memory-probe'] ? `--import ${probePath}` : '', values['operator-node-options'] ?? ''].filter(Boolean).join(' ') || undefined;

const Cells = 1000;
const Watched = 10_000;
const RssTargetBytes = 200 * 1000 * 1000;
const CreateConcurrency = 16;
const namespace = 'bench-reconcile';
const cellName = (i: number) => `cell-${String(i).padStart(5, '0')}`;
const applyCell = (ctx: BenchContext, cell: CellObject) => ctx.admin.apply<CellObject>(cell, { fieldManager: 'bench', force: true });

/** Creates Cells `from..to-1` and waits until the tracker saw them all Ready; returns seconds. */
async function createCells(ctx: BenchContext, watch: ObjectWatch<CellObject>, tracker: CellTracker, from: number, to: number): Promise<{ created: number; ready: number }> {
  const start = performance.now();
  await pool(Array.from({ length: to - from }, (_, i) => from + i), CreateConcurrency, async (i) => {
    await applyCell(ctx, cheapCell(namespace, cellName(i), 0));
  });
  const created = performance.now();
  const readyAt = await watch.until(() => tracker.ready >= to, {
    what: `${to} Cells Ready`,
    timeoutMs: 600_000,
    signal: ctx.signal,
    progress: () => `${tracker.ready} Ready, ${tracker.reconciled} reconciled`,
  });
  return { created: (created - start) / 1000, ready: (readyAt - start) / 1000 };
}

/** The latency sample: `updates` applies at Poisson times, each to a different Cell. */
async function latencySample(ctx: BenchContext, watch: ObjectWatch<CellObject>, tracker: CellTracker): Promise<{ observed: number[]; converged: number[]; early: number }> {
  const order = shuffled(Array.from({ length: Cells }, (_, i) => i)).slice(0, updates);
  const observed: number[] = [];
  const converged: number[] = [];
  let early = 0;
  const inflight: Promise<void>[] = [];
  for (const [k, i] of order.entries()) {
    await sleep(Math.min(-Math.log(1 - Math.random()) * (1000 / rate), 10_000 / rate), undefined, { signal: ctx.signal });
    const name = cellName(i);
    inflight.push(
      (async () => {
        const applied = await applyCell(ctx, cheapCell(namespace, name, k + 1));
        const answeredAt = performance.now();
        const generation = applied.metadata.generation ?? 0;
        const seen = (at: number) => {
          if (at < answeredAt) early++;
          return Math.max(0, at - answeredAt);
        };
        const tracked = () => tracker.cells.get(name);
        const seenAt = await watch.until(() => tracked()?.seenGeneration.has(generation) === true, { what: `${name} generation ${generation} observed`, timeoutMs: 120_000, signal: ctx.signal });
        observed.push(seen(tracked()?.seenGeneration.get(generation) ?? seenAt));
        const convergedAt = await watch.until(() => tracked()?.convergedGeneration.has(generation) === true, { what: `${name} generation ${generation} converged`, timeoutMs: 120_000, signal: ctx.signal });
        converged.push(seen(tracked()?.convergedGeneration.get(generation) ?? convergedAt));
      })(),
    );
  }
  await Promise.all(inflight);
  return { observed, converged, early };
}

function formatMaps(m: RssBreakdown): string {
  return `brk ${mib(m.brk)}, anon ${mib(m.anonymous)} (largest ${m.largestAnonymous.map((b) => (b / 2 ** 20).toFixed(0)).join('/')} MiB), files ${mib(m.files)}`;
}

/** With `--memory-probe`: the operator's own memory split, as one line (undefined otherwise). */
async function probe(ctx: BenchContext, operator: OperatorProcess): Promise<string | undefined> {
  if (!values['memory-probe']) return undefined;
  const after = performance.now();
  operator.kill('SIGUSR2');
  const line = await operator.waitForLog((l) => l['event'] === 'memory_probe', { after, timeoutMs: 10_000, signal: ctx.signal });
  const field = (name: string) => mib(typeof line[name] === 'number' ? line[name] : Number.NaN);
  return `rss ${field('rss')}, heapTotal ${field('heapTotal')} (physical ${field('totalPhysicalSize')}), V8 malloc ${field('mallocedMemory')} (peak ${field('peakMallocedMemory')}), external ${field('external')}, arrayBuffers ${field('arrayBuffers')}`;
}

/** Waits until the operator ran no reconcile for 5 s and `minMs` have passed (at most 120 s more). */
async function quiesce(ctx: BenchContext, metricsAddress: string, minMs: number): Promise<void> {
  await sleep(minMs, undefined, { signal: ctx.signal });
  let last = -1;
  for (let i = 0; i < 120; i += 5) {
    const now = metricSum(await scrapeMetrics(metricsAddress), 'controller_runtime_reconcile_total', { controller: 'cell' });
    if (now === last) return;
    last = now;
    await sleep(5000, undefined, { signal: ctx.signal });
  }
  ctx.log('the operator did not go quiet within 120 s; measuring anyway');
}

/** Samples RSS every second until the last 10 samples lie within 3 % (at most 90 s). */
async function settledRss(ctx: BenchContext, operator: OperatorProcess): Promise<{ rss: number; peak: number; seconds: number }> {
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < 90; i++) {
    await sleep(1000, undefined, { signal: ctx.signal });
    samples.push((await readRss(operator.pid)).rss);
    const last = samples.slice(-10);
    if (last.length === 10 && (Math.max(...last) - Math.min(...last)) / Math.max(...last) < 0.03) break;
  }
  const { rss, peak } = await readRss(operator.pid);
  return { rss, peak, seconds: (performance.now() - start) / 1000 };
}

const code = await runBench({ name: 'reconcile', title: `Reconcile latency with ${Cells} Cells, and operator RSS while watching ${Watched} objects (${rssObjects})`, nodes: 1 }, async (ctx) => {
  await ctx.namespace(namespace);
  const watch = new ObjectWatch<CellObject>({ client: ctx.admin, type: CellType, namespace });
  const tracker = new CellTracker(watch);
  ctx.defer(() => watch.close());
  await watch.start(ctx.signal);

  const operator = startOperator({ kubeconfig: ctx.cluster.operatorKubeconfig, logFile: join(ctx.dir, 'operator.log'), processes: ctx.processes, nodeOptions, env: operatorEnv });
  await waitReady(operator, { signal: ctx.signal });
  await operator.waitForLog((l) => l['event'] === 'controller_started', { signal: ctx.signal });
  const metricsAddress = operator.addresses().metrics ?? '';
  await sleep(2000, undefined, { signal: ctx.signal });
  const idle = await readRss(operator.pid);
  const idleMaps = await rssBreakdown(operator.pid);
  const idleProbe = await probe(ctx, operator);
  const idleMetrics = await scrapeMetrics(metricsAddress);
  ctx.log(`operator pid ${operator.pid} leads; RSS idle ${mib(idle.rss)}`);

  const meter = new CpuMeter([...ctx.cluster.processes.map((p) => ({ name: p.name, pid: p.pid })), { name: 'manyfold operator', pid: operator.pid }]);
  const createFrom = Date.now();
  await meter.start();
  const first = await createCells(ctx, watch, tracker, 0, Cells);
  const createCpu = await meter.stop();
  const createTo = Date.now();
  ctx.log(`${Cells} Cells applied in ${first.created.toFixed(1)} s, all Ready after ${first.ready.toFixed(1)} s; waiting for the operator to go quiet`);
  await quiesce(ctx, metricsAddress, 35_000);
  const quietTo = Date.now();

  const before = await scrapeMetrics(metricsAddress);
  const flapsBefore = tracker.readyFlaps;
  ctx.log(`latency sample: ${updates} updates at ~${rate}/s`);
  const sampleFrom = Date.now();
  await meter.start();
  const sample = await latencySample(ctx, watch, tracker);
  const sampleCpu = await meter.stop();
  await sleep(2000, undefined, { signal: ctx.signal });
  const sampleTo = Date.now();
  const after = await scrapeMetrics(metricsAddress);
  const delta = (name: string) => metricSum(after, name, { controller: 'cell' }) - metricSum(before, name, { controller: 'cell' });
  const reconciles = delta('controller_runtime_reconcile_total');
  const reconcileMean = (delta('controller_runtime_reconcile_time_seconds_sum') / delta('controller_runtime_reconcile_time_seconds_count')) * 1000;
  const queueMean = (delta('workqueue_queue_duration_seconds_sum') / delta('workqueue_queue_duration_seconds_count')) * 1000;
  const observed = summarize(sample.observed);
  const converged = summarize(sample.converged);
  const withCells = await readRss(operator.pid);

  ctx.log(`RSS with ${Cells} Cells + ${Cells} ConfigMaps cached: ${mib(withCells.rss)}; adding ${rssObjects === 'cells' ? `${Watched - Cells} Cells` : `${Watched - 2 * Cells} labelled ConfigMaps`}`);
  const addStart = performance.now();
  if (rssObjects === 'cells') {
    await createCells(ctx, watch, tracker, Cells, Watched);
  } else {
    await pool(Array.from({ length: Watched - 2 * Cells }, (_, i) => i), CreateConcurrency, async (i) => {
      await ctx.admin.create(Resources.ConfigMap, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `filler-${String(i).padStart(5, '0')}`, namespace, labels: { 'manyfold.dev/cell': 'filler', app: 'bench' } },
        data: { mode: 'blue', 'settings.json': JSON.stringify({ replicas: 3, zone: 'zone-a', limits: { cpu: '250m', memory: '128Mi' }, index: i }) },
      });
    });
  }
  ctx.log(`added in ${((performance.now() - addStart) / 1000).toFixed(1)} s; waiting for /readyz and for RSS to settle`);
  await waitReady(operator, { signal: ctx.signal });
  const settled = await settledRss(ctx, operator);
  const metrics = await scrapeMetrics(metricsAddress);
  const maps = await rssBreakdown(operator.pid);
  const loadedProbe = await probe(ctx, operator);
  if (nodeOptions) console.log(`operator NODE_OPTIONS: ${nodeOptions}`);
  if (idleProbe) console.log(`memory probe, idle: ${idleProbe}`);
  if (loadedProbe) console.log(`memory probe, ${Watched} objects: ${loadedProbe}`);
  if (Object.keys(operatorEnv).length > 0) console.log(`operator environment: ${JSON.stringify(operatorEnv)}`);
  const cached = rssObjects === 'cells' ? `${Watched} Cells + ${Watched} stamped ConfigMaps` : `${Cells} Cells + ${Cells} stamped ConfigMaps + ${Watched - 2 * Cells} labelled ConfigMaps`;

  const createWrites = await auditCounts(ctx.dir, { namespace, fromMs: createFrom, toMs: quietTo });
  const sampleWrites = await auditCounts(ctx.dir, { namespace, fromMs: sampleFrom, toMs: sampleTo });
  console.log(`\noperator API writes while ${Cells} Cells were created and converged (${((quietTo - createFrom) / 1000).toFixed(0)} s, ${((createTo - createFrom) / 1000).toFixed(0)} s to all Ready):`);
  console.log(formatCounts(createWrites, { unit: 'Cell', n: Cells }));
  console.log(`operator API writes during the latency sample:`);
  console.log(formatCounts(sampleWrites, { unit: 'update', n: updates }));
  console.log(`\nCPU while ${Cells} Cells were created until all Ready:\n${createCpu}`);
  console.log(`CPU during the latency sample:\n${sampleCpu}`);
  console.log(`\n(a) ${updates} spec updates at ~${rate}/s (Poisson), each to a different one of ${Cells} Cells; timed from the apply's response to the watch event.`);
  console.log(`    ${sample.early} of ${updates * 2} events arrived before the apply's response was read (counted as 0 ms).`);
  console.log(`(b) cached: ${cached}; RSS settled after ${settled.seconds.toFixed(0)} s.\n`);
  const rows: Row[] = [
    { metric: `(a) ${Cells} Cells created -> all Ready`, value: `${first.ready.toFixed(1)} s (${(Cells / first.ready).toFixed(0)} cells/s)` },
    { metric: '(a) apply -> status.observedGeneration, p50', value: ms(observed.p50) },
    { metric: '(a) apply -> status.observedGeneration, p99', value: ms(observed.p99) },
    { metric: '(a) apply -> status.observedGeneration, min / max', value: `${ms(observed.min)} / ${ms(observed.max)}` },
    { metric: '(a) apply -> converged (Ready=True at new gen), p50 / p99', value: `${ms(converged.p50)} / ${ms(converged.p99)}` },
    { metric: '(a) reconciles per update (operator metrics)', value: (reconciles / updates).toFixed(2) },
    { metric: '(a) mean reconcile time / mean queue wait', value: `${ms(reconcileMean)} / ${ms(queueMean)}` },
    { metric: '(a) Ready=True -> False flaps during the sample', value: String(tracker.readyFlaps - flapsBefore) },
    { metric: '(b) RSS idle (no objects); V8 heap used / total', value: `${mib(idle.rss)}; ${mib(metricSum(idleMetrics, 'nodejs_heap_size_used_bytes'))} / ${mib(metricSum(idleMetrics, 'nodejs_heap_size_total_bytes'))}` },
    { metric: `(b) RSS with ${2 * Cells} objects cached`, value: mib(withCells.rss) },
    { metric: `(b) RSS watching ${Watched} objects (VmRSS)`, value: mib(settled.rss), target: '<= 200 MB (190.7 MiB)', met: settled.rss <= RssTargetBytes },
    { metric: '(b) process_resident_memory_bytes', value: mib(metricSum(metrics, 'process_resident_memory_bytes')), target: '<= 200 MB (190.7 MiB)', met: metricSum(metrics, 'process_resident_memory_bytes') <= RssTargetBytes },
    { metric: '(b) peak RSS over the run (VmHWM)', value: mib(settled.peak) },
    { metric: '(b) V8 heap used / total', value: `${mib(metricSum(metrics, 'nodejs_heap_size_used_bytes'))} / ${mib(metricSum(metrics, 'nodejs_heap_size_total_bytes'))}` },
    { metric: '(b) RSS by mapping, idle', value: formatMaps(idleMaps) },
    { metric: `(b) RSS by mapping, ${Watched} objects`, value: formatMaps(maps) },
    { metric: '(b) external memory (buffers outside the V8 heap)', value: mib(metricSum(metrics, 'nodejs_external_memory_bytes')) },
    ...['new', 'old', 'code', 'large_object'].map((space) => ({
      metric: `(b) V8 ${space} space used / size`,
      value: `${mib(metricSum(metrics, 'nodejs_heap_space_size_used_bytes', { space }))} / ${mib(metricSum(metrics, 'nodejs_heap_space_size_total_bytes', { space }))}`,
    })),
    { metric: '(c) queue throughput', value: 'see bench/queue.ts', target: '>= 100k keys/s' },
  ];
  console.log(table(rows));
});
process.exitCode = code;
