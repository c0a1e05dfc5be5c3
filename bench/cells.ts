/**
 * Cell benchmark (issue 4): create N Cells (default 500), each a one-replica
 * Deployment and a Service, and time until every Cell reports `phase: Ready`; compare
 * in the same run with plain server-side applies of the same objects by a simple loop
 * (the API server's own limit). Target: operator throughput >= 80 % of that limit.
 *
 * Two halves, in separate namespaces, with one `manyfold operator` running (leading)
 * throughout:
 * - plain (`bench-plain`): `--concurrency` workers (default 8, the Cell controller's
 *   own concurrency: at most 8 reconciles in flight, each applying its children one
 *   after another) each apply a Deployment and then its Service, as the operator's
 *   ServiceAccount (same identity, RBAC and fencing admission as the operator; the
 *   objects carry the current epoch annotation so the fencing policy admits them).
 *   Timed: until the last apply returned, and until every Deployment is Ready and
 *   every Service has a ready endpoint (what a Cell's `Ready` requires).
 * - operator (`bench-cells`): the same number of workers create the Cells (admin);
 *   timed until every stamped child exists, and until every Cell is Ready.
 * The plain half runs first by default (`--order operator-first` swaps them): the
 *   second half then runs beside the first half's pods, a cost charged to the operator.
 *
 * `--concurrency N` other than 8 is a what-if: the product has no flag for the Cell
 * controller's concurrency, so the operator then runs from `bench/support/operator-main.ts`
 * (the same manager with only the Cell controller, at concurrency N), and the plain
 * loop gets N workers too.
 *
 * Cells/s figures are N divided by the time from the half's first request. The
 * operator's API writes per Cell come from the audit log, its reconciles per Cell
 * from its metrics.
 *
 * Usage: npx node bench/cells.ts [--cells 500] [--concurrency 8] [--nodes 12] [--order plain-first|operator-first]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CellType } from '../src/controllers/cell.ts';
import { childReadiness } from '../src/reconcilers/cell.ts';
import { KubeClient } from '../src/kube/client.ts';
import { Resources } from '../src/kube/resources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { auditCounts, formatCounts } from './support/audit.ts';
import { CpuMeter } from './support/cpu.ts';
import { CellTracker, webCell, webResources, type CellObject } from './support/cells.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { metricSum, scrapeMetrics, startOperator, waitReady } from './support/operator.ts';
import { pool, table } from './support/stats.ts';
import { Notifier, ObjectWatch } from './support/watch.ts';

const { values } = parseArgs({
  options: {
    cells: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '8' },
    nodes: { type: 'string', default: '12' },
    order: { type: 'string', default: 'plain-first' },
  },
});
const N = Number(values.cells);
const concurrency = Number(values.concurrency);
const nodes = Number(values.nodes);
if (!Number.isInteger(N) || N < 1 || N > 2000) throw new Error('--cells must be an integer from 1 to 2000');
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error('--concurrency must be an integer from 1 to 64');
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 100) throw new Error('--nodes must be an integer from 1 to 100');
if (values.order !== 'plain-first' && values.order !== 'operator-first') throw new Error('--order must be plain-first or operator-first');
if (nodes * 110 < 2 * N) throw new Error(`--nodes ${nodes} hold ${nodes * 110} pods; the run needs ${2 * N}`);

const TargetRatio = 0.8;
const WaitMs = 900_000;
type EndpointSlice = KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] };

/** Counts Deployments that are Ready and Services with a ready endpoint in one namespace. */
class Readiness {
  readonly deployments: ObjectWatch;
  readonly services: ObjectWatch;
  readonly slices: ObjectWatch<EndpointSlice>;
  deploymentsSeen = 0;
  servicesSeen = 0;
  deploymentsReady = 0;
  servicesReady = 0;
  private readonly ready = new Set<string>();
  private readonly endpointsBySlice = new Map<string, { service: string; ready: number }>();
  private readonly endpointsByService = new Map<string, number>();

  constructor(client: KubeClient, namespace: string, notifier: Notifier) {
    this.deployments = new ObjectWatch({ client, type: Resources.Deployment, namespace, notifier });
    this.services = new ObjectWatch({ client, type: Resources.Service, namespace, notifier });
    this.slices = new ObjectWatch<EndpointSlice>({ client, type: Resources.EndpointSlice, namespace, notifier });
    this.deployments.on((change, d) => {
      const name = d.metadata.name ?? '';
      if (change === 'add') this.deploymentsSeen++;
      const ready = change !== 'delete' && childReadiness(d).ready;
      if (ready && !this.ready.has(name)) {
        this.ready.add(name);
        this.deploymentsReady++;
      } else if (!ready && this.ready.has(name)) {
        this.ready.delete(name);
        this.deploymentsReady--;
      }
    });
    this.services.on((change) => {
      if (change === 'add') this.servicesSeen++;
    });
    this.slices.on((change, slice) => {
      const service = slice.metadata.labels?.['kubernetes.io/service-name'] ?? '';
      const key = slice.metadata.name ?? '';
      const ready = change === 'delete' ? 0 : (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
      const before = this.endpointsByService.get(service) ?? 0;
      const after = before - (this.endpointsBySlice.get(key)?.ready ?? 0) + ready;
      this.endpointsBySlice.set(key, { service, ready });
      this.endpointsByService.set(service, after);
      if (before === 0 && after > 0) this.servicesReady++;
      if (before > 0 && after === 0) this.servicesReady--;
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    await Promise.all([this.deployments.start(signal), this.services.start(signal), this.slices.start(signal)]);
  }

  async close(): Promise<void> {
    await Promise.all([this.deployments.close(), this.services.close(), this.slices.close()]);
  }

  /** Every Deployment Ready and every Service with a ready endpoint. */
  allReady(): boolean {
    return this.deploymentsReady >= N && this.servicesReady >= N;
  }

  progress(): string {
    return `${this.deploymentsReady}/${N} Deployments Ready, ${this.servicesReady}/${N} Services with endpoints`;
  }
}

interface Half {
  /** Seconds from the first request until every object was applied (plain) or stamped (operator). */
  readonly applied: number;
  /** Seconds until Ready (plain: Deployments Ready and Services with endpoints; operator: every Cell Ready). */
  readonly ready: number;
  readonly deploymentsReady?: number;
}

async function plainHalf(ctx: BenchContext, epoch: number): Promise<Half> {
  const namespace = 'bench-plain';
  await ctx.namespace(namespace);
  const client = await KubeClient.create({ kubeconfig: ctx.cluster.operatorKubeconfig });
  const notifier = new Notifier();
  const readiness = new Readiness(ctx.admin, namespace, notifier);
  const done = new AbortController();
  const signal = AbortSignal.any([ctx.signal, done.signal]);
  try {
    await readiness.start(signal);
    const deploymentsReady = notifier.until(() => readiness.deploymentsReady >= N, { what: 'plain Deployments Ready', timeoutMs: WaitMs, signal });
    const allReady = notifier.until(() => readiness.allReady(), { what: 'plain objects ready', timeoutMs: WaitMs, signal, progress: () => readiness.progress() });
    for (const p of [deploymentsReady, allReady]) p.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    const start = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), concurrency, async (i) => {
      const name = `plain-${String(i).padStart(4, '0')}`;
      for (const resource of webResources(name)) {
        const object = { ...resource, metadata: { name: `${name}-web`, namespace, annotations: { 'manyfold.dev/epoch': String(epoch) } } };
        await client.apply(object, { fieldManager: 'bench-plain', force: true, signal });
      }
    });
    const applied = performance.now();
    ctx.log(`plain: ${2 * N} objects applied in ${((applied - start) / 1000).toFixed(1)} s; waiting for readiness`);
    const [deployments, ready] = await Promise.all([deploymentsReady, allReady]);
    return { applied: (applied - start) / 1000, ready: (ready - start) / 1000, deploymentsReady: (deployments - start) / 1000 };
  } finally {
    done.abort();
    await readiness.close();
    await client.close();
  }
}

async function operatorHalf(ctx: BenchContext): Promise<Half> {
  const namespace = 'bench-cells';
  await ctx.namespace(namespace);
  const notifier = new Notifier();
  const cells = new ObjectWatch<CellObject>({ client: ctx.admin, type: CellType, namespace, notifier });
  const tracker = new CellTracker(cells);
  const readiness = new Readiness(ctx.admin, namespace, notifier);
  const done = new AbortController();
  const signal = AbortSignal.any([ctx.signal, done.signal]);
  try {
    await Promise.all([cells.start(signal), readiness.start(signal)]);
    const stamped = notifier.until(() => readiness.deploymentsSeen >= N && readiness.servicesSeen >= N, { what: 'children stamped', timeoutMs: WaitMs, signal });
    const ready = notifier.until(() => tracker.ready >= N, { what: `${N} Cells Ready`, timeoutMs: WaitMs, signal, progress: () => `${tracker.ready} Ready, ${tracker.reconciled} reconciled; ${readiness.progress()}` });
    for (const p of [stamped, ready]) p.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    const start = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), concurrency, async (i) => {
      await ctx.admin.apply(webCell(namespace, `cell-${String(i).padStart(4, '0')}`), { fieldManager: 'bench', force: true, signal });
    });
    ctx.log(`operator: ${N} Cells created in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    const stampedAt = await stamped;
    ctx.log(`operator: every child stamped after ${((stampedAt - start) / 1000).toFixed(1)} s; waiting for Ready`);
    const readyAt = await ready;
    return { applied: (stampedAt - start) / 1000, ready: (readyAt - start) / 1000 };
  } finally {
    done.abort();
    await readiness.close();
    await cells.close();
  }
}

const code = await runBench({ name: 'cells', title: `Cells: ${N} Cells (Deployment + Service) to Ready, against plain server-side applies of the same objects`, nodes }, async (ctx) => {
  const operator = startOperator({
    kubeconfig: ctx.cluster.operatorKubeconfig,
    logFile: join(ctx.dir, 'operator.log'),
    processes: ctx.processes,
    cellConcurrency: concurrency === 8 ? undefined : concurrency,
  });
  await waitReady(operator, { signal: ctx.signal });
  const elected = await operator.waitForLog((l) => l['event'] === 'leader_elected', { signal: ctx.signal });
  await operator.waitForLog((l) => l['event'] === 'controller_started', { signal: ctx.signal });
  const epoch = typeof elected['epoch'] === 'number' ? elected['epoch'] : 0;
  const metricsAddress = operator.addresses().metrics ?? '';

  const meter = new CpuMeter([...ctx.cluster.processes.map((p) => ({ name: p.name, pid: p.pid })), { name: 'manyfold operator', pid: operator.pid }]);
  const cpu: Record<string, string> = {};
  let plain: Half | undefined;
  let op: Half | undefined;
  let opWindow = { from: 0, to: 0 };
  let opMetrics = { reconciles: 0, seconds: 0, queueSeconds: 0, queued: 0 };
  const runOperatorHalf = async () => {
    const before = await scrapeMetrics(metricsAddress);
    opWindow = { from: Date.now(), to: 0 };
    await meter.start();
    op = await operatorHalf(ctx);
    cpu['operator'] = await meter.stop();
    opWindow.to = Date.now();
    const after = await scrapeMetrics(metricsAddress);
    const delta = (name: string) => metricSum(after, name, { controller: 'cell' }) - metricSum(before, name, { controller: 'cell' });
    opMetrics = {
      reconciles: delta('controller_runtime_reconcile_total'),
      seconds: delta('controller_runtime_reconcile_time_seconds_sum'),
      queueSeconds: delta('workqueue_queue_duration_seconds_sum'),
      queued: delta('workqueue_queue_duration_seconds_count'),
    };
    ctx.log(`operator half: stamped ${op.applied.toFixed(1)} s, all Ready ${op.ready.toFixed(1)} s`);
  };
  const runPlainHalf = async () => {
    await meter.start();
    plain = await plainHalf(ctx, epoch);
    cpu['plain'] = await meter.stop();
    ctx.log(`plain half: applied ${plain.applied.toFixed(1)} s, Deployments Ready ${plain.deploymentsReady?.toFixed(1)} s, all ready ${plain.ready.toFixed(1)} s`);
  };
  const halves = values.order === 'plain-first' ? [runPlainHalf, runOperatorHalf] : [runOperatorHalf, runPlainHalf];
  for (const [i, half] of halves.entries()) {
    if (i > 0) await sleep(10_000, undefined, { signal: ctx.signal }); // let the controller manager and kwok settle
    await half();
  }
  if (!plain || !op) throw new Error('a half did not run');

  const rate = (seconds: number) => N / seconds;
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  const literal = rate(op.ready) / rate(plain.applied);
  const fair = rate(op.ready) / rate(plain.ready);
  const writes = await auditCounts(ctx.dir, { namespace: 'bench-cells', fromMs: opWindow.from, toMs: opWindow.to });
  const operatorKind = concurrency === 8 ? 'manyfold operator (Cell controller concurrency 8)' : `what-if operator (bench/support/operator-main.ts, Cell controller concurrency ${concurrency})`;
  console.log(`\n${N} Cells; ${concurrency} workers in the plain loop and for creating Cells; ${operatorKind}; ${nodes} kwok nodes; ${values.order}.\n`);
  console.log(
    table([
      { metric: 'plain: applies done (API server limit)', value: `${plain.applied.toFixed(1)} s = ${rate(plain.applied).toFixed(1)} cells/s (${(rate(plain.applied) * 2).toFixed(0)} applies/s)` },
      { metric: 'plain: Deployments Ready', value: `${plain.deploymentsReady?.toFixed(1)} s` },
      { metric: 'plain: Deployments Ready + Services with endpoints', value: `${plain.ready.toFixed(1)} s = ${rate(plain.ready).toFixed(1)} cells/s` },
      { metric: 'operator: every child stamped', value: `${op.applied.toFixed(1)} s = ${rate(op.applied).toFixed(1)} cells/s` },
      { metric: 'operator: every Cell Ready', value: `${op.ready.toFixed(1)} s = ${rate(op.ready).toFixed(1)} cells/s` },
      { metric: 'operator Ready / plain applies (issue 4 target)', value: pct(literal), target: '>= 80 %', met: literal >= TargetRatio },
      { metric: 'operator Ready / plain Ready (like for like)', value: pct(fair), target: '>= 80 %', met: fair >= TargetRatio },
      { metric: 'operator stamped / plain applies (write path only)', value: pct(rate(op.applied) / rate(plain.applied)) },
      { metric: 'operator reconciles per Cell', value: (opMetrics.reconciles / N).toFixed(2) },
      { metric: 'operator mean reconcile time / mean queue wait', value: `${((opMetrics.seconds / Math.max(1, opMetrics.reconciles)) * 1000).toFixed(0)} ms / ${((opMetrics.queueSeconds / Math.max(1, opMetrics.queued)) * 1000).toFixed(0)} ms` },
    ]),
  );
  console.log(`\noperator API writes in bench-cells during its half (audit log):`);
  console.log(formatCounts(writes, { unit: 'Cell', n: N }));
  console.log(`\nCPU during the plain half:\n${cpu['plain'] ?? ''}`);
  console.log(`CPU during the operator half:\n${cpu['operator'] ?? ''}`);
});
process.exitCode = code;
