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
 * (b) operator RSS while watching 10,000 objects (target <= 128 MiB, issue 15): on top
 *     of the 1,000 Cells and their 1,000 ConfigMaps, `--rss-objects configmaps` (default)
 *     adds 8,000 ConfigMaps labelled `manyfold.dev/cell` (which the Cell controller's
 *     owned-ConfigMap informer caches; no owner, so they trigger no reconcile);
 *     `--rss-objects deployments` adds 10,000 Deployments of realistic size instead
 *     (pod templates, env, probes, the last-applied annotation: support/deployments.ts),
 *     labelled the same way, so 12,000 objects are cached; `--rss-objects cells` adds
 *     9,000 more Cells (10,000 Cells + 10,000 stamped ConfigMaps cached, and each
 *     reconciled once). After `/readyz` and RSS settle, VmRSS and VmHWM from
 *     /proc/<pid>/status and `process_resident_memory_bytes`. Then a second replica is
 *     started with every object already there (a failover's or a rollout's new pod: its
 *     first list loads the whole cache at once, the worst case for the peak), and its
 *     settled RSS and peak are reported too.
 * (c) queue throughput is `bench/queue.ts` (in process, no cluster).
 *
 * Before the latency sample the operator is left to go quiet (no reconcile for 5 s, and
 * at least 35 s after all were Ready, so the 30 s `requeueAfter` of Cells reconciled
 * while Pending has fired): the sample measures steady state, not the tail of creation.
 * The operator's API writes per Cell and per update are counted from the audit log.
 * A leadership change during the sample (a renewal missed while the machine is
 * overloaded: the default renew deadline is 2 s) is reported, with a warning: the new
 * term re-applies every Cell's children once, which the per-update figures then include.
 *
 * Usage: npx node bench/reconcile.ts [--updates 200 (0: skip (a))] [--rate 5] [--rss-objects configmaps|deployments|cells]
 *          [--operator-node-options='<NODE_OPTIONS for the operator, e.g. V8 heap flags>']
 *          [--operator-env KEY=VALUE ...] (e.g. MALLOC_ARENA_MAX=2)
 *          [--operator-node-arg=--FLAG ...] (Node flags NODE_OPTIONS refuses, e.g. --optimize-for-size)
 *          [--operator-arg=--FLAG=VALUE ...] (extra operator flags, e.g. longer
 *            --leader-elect-lease-duration / --leader-elect-renew-deadline on a loaded machine)
 *          [--memory-probe] (preload bench/support/memory-probe.js: V8 and process memory split)
 *          [--no-build] (do not run `npm run build` first: the operator then strips its
 *            types at run time, ~25-30 MiB more RSS than the image, which is built)
 *          [--as-deployed] (NODE_OPTIONS, MALLOC_* and node flags read from
 *            deploy/manifests/deployment.yaml and the Dockerfile's ENTRYPOINT, and each
 *            operator run from its own copy of the node binary in a memory cgroup limited
 *            to the Deployment's container limit: reports the cgroup's peak, OOM kills
 *            and whether it is still running; needs root)
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CellType } from '../src/controllers/cell.ts';
import { Resources } from '../src/kube/resources.ts';
import { auditCounts, formatCounts } from './support/audit.ts';
import { CellTracker, cheapCell, type CellObject } from './support/cells.ts';
import { realisticDeployment } from './support/deployments.ts';
import { CpuMeter, cpuSeconds } from './support/cpu.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { metricSum, readRss, rssBreakdown, scrapeMetrics, startOperator, waitReady, type OperatorProcess, type RssBreakdown } from './support/operator.ts';
import { createMemoryCgroup, privateCopy, type MemoryCgroup } from './support/cgroup.ts';
import { deployedSettings } from './support/deployed.ts';
import { mib, ms, pool, shuffled, summarize, table, type Row } from './support/stats.ts';
import { ObjectWatch } from './support/watch.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '200' },
    rate: { type: 'string', default: '5' },
    'rss-objects': { type: 'string', default: 'configmaps' },
    'operator-node-options': { type: 'string' },
    'operator-env': { type: 'string', multiple: true },
    'operator-node-arg': { type: 'string', multiple: true },
    'operator-arg': { type: 'string', multiple: true },
    'memory-probe': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'as-deployed': { type: 'boolean', default: false },
  },
});
const updates = Number(values.updates);
const rate = Number(values.rate);
const rssObjects = values['rss-objects'];
if (!Number.isInteger(updates) || updates < 0 || updates > 1000) throw new Error('--updates must be an integer from 0 (no latency sample) to 1000');
if (!(rate > 0 && rate <= 1000)) throw new Error('--rate must be in (0, 1000] updates per second');
if (rssObjects !== 'configmaps' && rssObjects !== 'deployments' && rssObjects !== 'cells') throw new Error('--rss-objects must be configmaps, deployments or cells');
const operatorEnv = Object.fromEntries(
  (values['operator-env'] ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--operator-env expects KEY=VALUE, got '${pair}'`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }),
);

const asDeployed = values['as-deployed'] ? deployedSettings() : undefined;
if (asDeployed !== undefined && (values['operator-node-options'] !== undefined || values['operator-env'] !== undefined || values['operator-node-arg'] !== undefined)) {
  throw new Error('--as-deployed takes NODE_OPTIONS, the environment and the node flags from deploy/manifests and the Dockerfile: drop --operator-node-options, --operator-env and --operator-node-arg');
}
if (asDeployed !== undefined && values['no-build']) throw new Error('--as-deployed runs the built modules, as the image does: drop --no-build');
const operatorArgs = values['operator-arg'] ?? [];
const nodeArgs = asDeployed?.nodeArgs ?? values['operator-node-arg'] ?? [];
const environment = asDeployed?.env ?? operatorEnv;

if (!values['no-build']) {
  // As the image does (Dockerfile): the operator then loads its modules type-stripped.
  const built = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/strip-types.js', import.meta.url))], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('npm run build (scripts/strip-types.js) failed');
}

const probePath = fileURLToPath(new URL('./support/memory-probe.js', import.meta.url));
const nodeOptions = [values['memory-probe'] ? `--import ${probePath}` : '', asDeployed?.nodeOptions ?? values['operator-node-options'] ?? ''].filter(Boolean).join(' ') || undefined;

/**
 * Starts operator replica `replica` (1, 2) logging to `logFile`. With `--as-deployed`, in
 * a memory cgroup limited as the Deployment's container is and from a node binary of its
 * own (so the cgroup is charged for the binary's pages, as a container is for its
 * image's: support/cgroup.ts); both are removed after the process stops.
 */
function startReplica(ctx: BenchContext, replica: number, logFile: string): { operator: OperatorProcess; cgroup?: MemoryCgroup } {
  const options = { kubeconfig: ctx.cluster.operatorKubeconfig, logFile: join(ctx.dir, logFile), processes: ctx.processes, nodeOptions, nodeArgs, env: environment, args: operatorArgs };
  if (asDeployed === undefined) return { operator: startOperator(options) };
  const cgroup = createMemoryCgroup(`manyfold-bench-${process.pid}-${replica}`, asDeployed.memoryLimitBytes);
  const node = privateCopy(process.execPath, join(ctx.dir, `node-${replica}`));
  ctx.log(`operator ${replica} runs ${node} in ${cgroup.path} (limit ${mib(asDeployed.memoryLimitBytes)}, the Deployment's)`);
  const operator = startOperator({ ...options, cgroup, node });
  ctx.defer(async () => {
    await operator.stop();
    cgroup.remove();
    rmSync(node, { force: true });
  });
  return { operator, cgroup };
}

/** One row on how the operator fared under the container's limit. */
function limitRow(label: string, cgroup: MemoryCgroup | undefined, exited: boolean): Row[] {
  if (cgroup === undefined || asDeployed === undefined) return [];
  const kills = cgroup.oomKills();
  const now = cgroup.usage();
  return [
    {
      metric: `(b) ${label} under the Deployment's limit: OOM kills; times at the limit; exited`,
      value: `${kills}; ${cgroup.limitHits()}; ${exited ? 'yes' : 'no'}`,
      target: 'no OOM kill, still running',
      met: kills === 0 && !exited,
    },
    {
      metric: `(b) ${label}: cgroup peak (page cache included) / limit; now: working set, anonymous, page cache`,
      value: `${mib(cgroup.peakBytes())} / ${mib(asDeployed.memoryLimitBytes)}; ${mib(now.workingSet)}, ${mib(now.anon)}, ${mib(now.cache)}`,
    },
  ];
}

const Cells = 1000;
const Watched = 10_000;
const RssTargetBytes = 128 * 2 ** 20;
const RssTarget = '<= 128 MiB';
/** Deployments `--rss-objects deployments` adds. */
const FillerDeployments = 10_000;
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

/**
 * Waits until the operator's informers applied no watch event for 5 s (at most 300 s):
 * on a loaded machine the operator works through its backlog of events (the objects'
 * creation, then the controller manager's status writes) for minutes after the creates.
 */
async function informersQuiet(ctx: BenchContext, metricsAddress: string): Promise<void> {
  let last = -1;
  for (let i = 0; i < 60; i++) {
    const now = metricSum(await scrapeMetrics(metricsAddress), 'manyfold_informer_events_total');
    if (now === last) return;
    last = now;
    await sleep(5000, undefined, { signal: ctx.signal });
  }
  ctx.log('the informers did not go quiet within 300 s; measuring anyway');
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

interface LatencyInputs {
  readonly operator: OperatorProcess;
  readonly metricsAddress: string;
  readonly watch: ObjectWatch<CellObject>;
  readonly tracker: CellTracker;
  readonly meter: CpuMeter;
  /** When the 1,000 Cells' creation started and when all were Ready (epoch ms). */
  readonly createFrom: number;
  readonly createTo: number;
  readonly createCpu: string;
}

/**
 * Part (a): waits for the operator to go quiet, runs the latency sample, and returns
 * its table rows and a printer of the writes, CPU and warnings.
 */
async function latencyPart(ctx: BenchContext, input: LatencyInputs): Promise<{ rows: Row[]; print: () => void }> {
  const { operator, metricsAddress, watch, tracker, meter, createFrom, createTo, createCpu } = input;
  ctx.log('waiting for the operator to go quiet');
  await quiesce(ctx, metricsAddress, 35_000);
  const quietTo = Date.now();
  const before = await scrapeMetrics(metricsAddress);
  const flapsBefore = tracker.readyFlaps;
  ctx.log(`latency sample: ${updates} updates at ~${rate}/s`);
  const sampleFrom = Date.now();
  const sampleFromMono = performance.now();
  await meter.start();
  const sample = await latencySample(ctx, watch, tracker);
  const sampleCpu = await meter.stop();
  await sleep(2000, undefined, { signal: ctx.signal });
  const sampleTo = Date.now();
  const after = await scrapeMetrics(metricsAddress);
  const terms = {
    from: metricSum(before, 'manyfold_fencing_epoch'),
    to: metricSum(after, 'manyfold_fencing_epoch'),
    lost: operator.logs.filter((l) => l.receivedAt >= sampleFromMono && l['event'] === 'leader_lost').length,
  };
  const delta = (name: string) => metricSum(after, name, { controller: 'cell' }) - metricSum(before, name, { controller: 'cell' });
  const reconciles = delta('controller_runtime_reconcile_total');
  const reconcileMean = (delta('controller_runtime_reconcile_time_seconds_sum') / delta('controller_runtime_reconcile_time_seconds_count')) * 1000;
  const queueMean = (delta('workqueue_queue_duration_seconds_sum') / delta('workqueue_queue_duration_seconds_count')) * 1000;
  const observed = summarize(sample.observed);
  const converged = summarize(sample.converged);
  const createWrites = await auditCounts(ctx.dir, { namespace, fromMs: createFrom, toMs: quietTo });
  const sampleWrites = await auditCounts(ctx.dir, { namespace, fromMs: sampleFrom, toMs: sampleTo });
  const print = () => {
    console.log(`\noperator API writes while ${Cells} Cells were created and converged (${((quietTo - createFrom) / 1000).toFixed(0)} s, ${((createTo - createFrom) / 1000).toFixed(0)} s to all Ready):`);
    console.log(formatCounts(createWrites, { unit: 'Cell', n: Cells }));
    console.log(`operator API writes during the latency sample:`);
    console.log(formatCounts(sampleWrites, { unit: 'update', n: updates }));
    console.log(`\nCPU while ${Cells} Cells were created until all Ready:\n${createCpu}`);
    console.log(`CPU during the latency sample:\n${sampleCpu}`);
    console.log(`\n(a) ${updates} spec updates at ~${rate}/s (Poisson), each to a different one of ${Cells} Cells; timed from the apply's response to the watch event.`);
    console.log(`    ${sample.early} of ${updates * 2} events arrived before the apply's response was read (counted as 0 ms).`);
    if (terms.lost > 0 || terms.to !== terms.from) {
      console.log(`    WARNING: leadership changed during the sample (epoch ${terms.from} -> ${terms.to}, ${terms.lost} leader_lost): the new term re-applies`);
      console.log(`    every Cell's children once (their epoch annotation is the old term's), so the per-update figures include ~${Cells} re-applies.`);
    }
  };
  const rows: Row[] = [
    { metric: '(a) apply -> status.observedGeneration, p50', value: ms(observed.p50) },
    { metric: '(a) apply -> status.observedGeneration, p99', value: ms(observed.p99) },
    { metric: '(a) apply -> status.observedGeneration, min / max', value: `${ms(observed.min)} / ${ms(observed.max)}` },
    { metric: '(a) apply -> converged (Ready=True at new gen), p50 / p99', value: `${ms(converged.p50)} / ${ms(converged.p99)}` },
    { metric: '(a) leadership during the sample (fencing epoch; terms lost)', value: `${terms.from} -> ${terms.to}; ${terms.lost} lost`, target: 'no change', met: terms.lost === 0 && terms.to === terms.from },
    { metric: '(a) reconciles per update (operator metrics)', value: (reconciles / updates).toFixed(2) },
    { metric: '(a) mean reconcile time / mean queue wait', value: `${ms(reconcileMean)} / ${ms(queueMean)}` },
    { metric: '(a) Ready=True -> False flaps during the sample', value: String(tracker.readyFlaps - flapsBefore) },
  ];
  return { rows, print };
}

const code = await runBench({ name: 'reconcile', title: `Reconcile latency with ${Cells} Cells, and operator RSS while watching ${Watched} objects (${rssObjects})`, nodes: 1 }, async (ctx) => {
  await ctx.namespace(namespace);
  const watch = new ObjectWatch<CellObject>({ client: ctx.admin, type: CellType, namespace });
  const tracker = new CellTracker(watch);
  ctx.defer(() => watch.close());
  await watch.start(ctx.signal);

  const { operator, cgroup: limit } = startReplica(ctx, 1, 'operator.log');
  await waitReady(operator, { signal: ctx.signal });
  await operator.waitForLog((l) => l['event'] === 'controller_started', { signal: ctx.signal });
  const metricsAddress = operator.addresses().metrics ?? '';
  await sleep(2000, undefined, { signal: ctx.signal });
  const idle = await readRss(operator.pid);
  const idleMaps = await rssBreakdown(operator.pid);
  const idleProbe = await probe(ctx, operator);
  const idleMetrics = await scrapeMetrics(metricsAddress);
  ctx.log(`operator pid ${operator.pid} leads; RSS idle ${mib(idle.rss)}`);

  const idleCpu = await cpuSeconds(operator.pid);
  const meter = new CpuMeter([...ctx.cluster.processes.map((p) => ({ name: p.name, pid: p.pid })), { name: 'manyfold operator', pid: operator.pid }]);
  const createFrom = Date.now();
  await meter.start();
  const first = await createCells(ctx, watch, tracker, 0, Cells);
  const createCpu = await meter.stop();
  const createTo = Date.now();
  const createOperatorCpu = (await cpuSeconds(operator.pid)) - idleCpu;
  ctx.log(`${Cells} Cells applied in ${first.created.toFixed(1)} s, all Ready after ${first.ready.toFixed(1)} s`);
  const latency = updates > 0 ? await latencyPart(ctx, { operator, metricsAddress, watch, tracker, meter, createFrom, createTo, createCpu }) : undefined;
  const withCells = await readRss(operator.pid);

  const added = rssObjects === 'cells' ? `${Watched - Cells} Cells` : rssObjects === 'deployments' ? `${FillerDeployments} labelled Deployments of realistic size` : `${Watched - 2 * Cells} labelled ConfigMaps`;
  ctx.log(`RSS with ${Cells} Cells + ${Cells} ConfigMaps cached: ${mib(withCells.rss)}; adding ${added}`);
  const addStart = performance.now();
  const addCpuFrom = await cpuSeconds(operator.pid);
  if (rssObjects === 'cells') {
    await createCells(ctx, watch, tracker, Cells, Watched);
  } else if (rssObjects === 'deployments') {
    await pool(Array.from({ length: FillerDeployments }, (_, i) => i), CreateConcurrency, async (i) => {
      await ctx.admin.create(Resources.Deployment, realisticDeployment(namespace, `filler-${String(i).padStart(5, '0')}`, i), { fieldManager: 'kubectl-client-side-apply' });
    });
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
  await informersQuiet(ctx, metricsAddress);
  const addOperatorCpu = (await cpuSeconds(operator.pid)) - addCpuFrom;
  const settled = await settledRss(ctx, operator);
  const metrics = await scrapeMetrics(metricsAddress);
  const maps = await rssBreakdown(operator.pid);
  const loadedProbe = await probe(ctx, operator);
  const storedSize = rssObjects === 'deployments' ? JSON.stringify(await ctx.admin.get(Resources.Deployment, 'filler-00000', namespace)).length : undefined;

  // A second replica, started with every object already stored: its first list fills
  // the whole cache at once (what a failover's or a rolling update's new pod does).
  ctx.log('starting a second replica with every object present');
  const { operator: replica, cgroup: replicaLimit } = startReplica(ctx, 2, 'operator-2.log');
  const replicaFrom = performance.now();
  await waitReady(replica, { signal: ctx.signal });
  const replicaSynced = (performance.now() - replicaFrom) / 1000;
  await informersQuiet(ctx, replica.addresses().metrics ?? '');
  const replicaSettled = await settledRss(ctx, replica);
  const replicaMaps = await rssBreakdown(replica.pid);
  const replicaProbe = await probe(ctx, replica);
  const replicaCpu = await cpuSeconds(replica.pid);
  const limitRows = [...limitRow('first operator', limit, !operator.alive()), ...limitRow('second replica', replicaLimit, !replica.alive())];
  await replica.stop();

  console.log(`operator modules: ${values['no-build'] ? 'types stripped at run time (--no-build)' : 'types stripped at build time (npm run build, as in the image)'}`);
  if (nodeOptions) console.log(`operator NODE_OPTIONS: ${nodeOptions}`);
  if (nodeArgs.length > 0) console.log(`operator node flags: ${nodeArgs.join(' ')}`);
  if (idleProbe) console.log(`memory probe, idle: ${idleProbe}`);
  if (loadedProbe) console.log(`memory probe, ${Watched} objects: ${loadedProbe}`);
  if (replicaProbe) console.log(`memory probe, second replica: ${replicaProbe}`);
  if (Object.keys(environment).length > 0) console.log(`operator environment: ${JSON.stringify(environment)}`);
  if (asDeployed !== undefined) console.log(`as deployed: settings from deploy/manifests/deployment.yaml and the Dockerfile's ENTRYPOINT; each operator in a memory cgroup limited to ${mib(asDeployed.memoryLimitBytes)} (request ${mib(asDeployed.memoryRequestBytes)})`);
  const cached =
    rssObjects === 'cells'
      ? `${Watched} Cells + ${Watched} stamped ConfigMaps`
      : rssObjects === 'deployments'
        ? `${Cells} Cells + ${Cells} stamped ConfigMaps + ${FillerDeployments} labelled Deployments (${storedSize ?? 0} bytes of JSON each as stored, managedFields included)`
        : `${Cells} Cells + ${Cells} stamped ConfigMaps + ${Watched - 2 * Cells} labelled ConfigMaps`;

  if (latency) latency.print();
  console.log(`(b) cached: ${cached}; RSS settled after ${settled.seconds.toFixed(0)} s.`);
  console.log(`    second replica: /readyz after ${replicaSynced.toFixed(1)} s, RSS settled after ${replicaSettled.seconds.toFixed(0)} s.\n`);
  const rows: Row[] = [
    { metric: `(a) ${Cells} Cells created -> all Ready`, value: `${first.ready.toFixed(1)} s (${(Cells / first.ready).toFixed(0)} cells/s)` },
    ...(latency?.rows ?? []),
    { metric: '(a) operator CPU while the Cells were created until Ready', value: `${createOperatorCpu.toFixed(1)} CPU s` },
    { metric: '(b) operator CPU while the objects were added (until /readyz and quiet informers)', value: `${addOperatorCpu.toFixed(1)} CPU s` },
    { metric: '(b) second replica: CPU from start to settled', value: `${replicaCpu.toFixed(1)} CPU s` },
    { metric: '(b) RSS idle (no objects); V8 heap used / total', value: `${mib(idle.rss)}; ${mib(metricSum(idleMetrics, 'nodejs_heap_size_used_bytes'))} / ${mib(metricSum(idleMetrics, 'nodejs_heap_size_total_bytes'))}` },
    { metric: `(b) RSS with ${2 * Cells} objects cached`, value: mib(withCells.rss) },
    { metric: '(b) RSS watching the objects (VmRSS), settled', value: mib(settled.rss), target: RssTarget, met: settled.rss <= RssTargetBytes },
    { metric: '(b) process_resident_memory_bytes', value: mib(metricSum(metrics, 'process_resident_memory_bytes')) },
    { metric: '(b) peak RSS over the run (VmHWM)', value: mib(settled.peak), target: RssTarget, met: settled.peak <= RssTargetBytes },
    { metric: '(b) second replica (initial list of every object): RSS settled', value: mib(replicaSettled.rss), target: RssTarget, met: replicaSettled.rss <= RssTargetBytes },
    { metric: '(b) second replica: peak RSS (VmHWM)', value: mib(replicaSettled.peak), target: RssTarget, met: replicaSettled.peak <= RssTargetBytes },
    ...limitRows,
    { metric: '(b) V8 heap used / total', value: `${mib(metricSum(metrics, 'nodejs_heap_size_used_bytes'))} / ${mib(metricSum(metrics, 'nodejs_heap_size_total_bytes'))}` },
    { metric: '(b) RSS by mapping, idle', value: formatMaps(idleMaps) },
    { metric: '(b) RSS by mapping, all objects', value: formatMaps(maps) },
    { metric: '(b) RSS by mapping, second replica', value: formatMaps(replicaMaps) },
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
