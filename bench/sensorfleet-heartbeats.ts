/**
 * SensorFleet at steady state with agents that really heartbeat (issue 15): N kwok
 * nodes, one SensorFleet selecting them all, and N real agents (the agent's own code,
 * `bench/support/agent-host.ts`, several per process; node 0 runs as a plain
 * `manyfold agent` process, for its memory) renewing their heartbeat Leases with a
 * token of the fleet's ServiceAccount, against a `manyfold operator` process.
 *
 * For each `staleAfterSeconds` in `--stale-after` (default `60,3,1`) it sets the fleet's
 * spec, projects the new config to the agents (as the kubelet's ConfigMap volume would;
 * they re-read it within 2 s), waits `--warmup-s`, then over `--window-s` measures:
 * - operator reconciles/s of the fleet (`controller_runtime_reconcile_total`, scraped);
 * - operator API writes/s by verb and resource (the API server's audit log);
 * - agent heartbeats/s (each one a GET and a PUT of a Lease) and failed heartbeats;
 * - the fleet's `reportingNodes`/`staleNodeCount`, polled every second (min-max);
 * - CPU of the operator, the API server, etcd and the agent processes.
 * Then the RSS of the agent processes: one `manyfold agent` alone and the hosts per agent.
 *
 * Usage: npx node bench/sensorfleet-heartbeats.ts [--nodes 200] [--agents-per-process 20]
 *   [--stale-after 60,3,1] [--warmup-s 15] [--window-s 30] [--operator-arg=--flag=value ...]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { SensorFleetType } from '../src/controllers/sensorfleet.ts';
import type { SensorFleetStatus } from '../src/crds/sensorfleet.ts';
import { nodeName } from '../src/devcluster/nodes.ts';
import { Resources } from '../src/kube/resources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { agentName } from '../src/reconcilers/sensorfleet-agent.ts';
import { auditCounts } from './support/audit.ts';
import { CpuMeter } from './support/cpu.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { metricSum, readRss, scrapeMetrics, startOperator, waitReady } from './support/operator.ts';
import { mib } from './support/stats.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '200' },
    'agents-per-process': { type: 'string', default: '20' },
    'stale-after': { type: 'string', default: '60,3,1' },
    'warmup-s': { type: 'string', default: '15' },
    'window-s': { type: 'string', default: '30' },
    'operator-arg': { type: 'string', multiple: true, default: [] },
  },
});
const nodes = Number(values.nodes);
const perProcess = Number(values['agents-per-process']);
const staleAfters = (values['stale-after'] ?? '').split(',').map(Number);
const warmupMs = Number(values['warmup-s']) * 1000;
const windowMs = Number(values['window-s']) * 1000;
if (!Number.isInteger(nodes) || nodes < 2 || nodes > 2000) throw new Error('--nodes must be an integer from 2 to 2000');
if (!Number.isInteger(perProcess) || perProcess < 1) throw new Error('--agents-per-process must be a positive integer');
if (staleAfters.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--stale-after must list positive integers');

const hostPath = fileURLToPath(new URL('./support/agent-host.ts', import.meta.url));
const binPath = fileURLToPath(new URL('../bin/manyfold.js', import.meta.url));
const namespace = 'bench-sfleet-hb';
const fleetName = 'fleet';

type Fleet = KubeObject & { status?: SensorFleetStatus };
type ConfigMap = KubeObject & { data?: Record<string, string> };
type Report = { heartbeats: number; failures: number; agents: number };

/** Writes a kubeconfig holding a token of the fleet's ServiceAccount (what the agents' pods get). */
async function agentKubeconfig(ctx: BenchContext, path: string): Promise<void> {
  const token = await ctx.admin.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${agentName(fleetName)}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } },
  });
  const base = new KubeConfig();
  base.loadFromFile(ctx.cluster.kubeconfig);
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [cluster], users: [{ name: 'agent', token: token.status.token }], contexts: [{ name: 'agent', cluster: cluster.name, user: 'agent', namespace }], currentContext: 'agent' });
  await writeFile(path, kc.exportConfig(), { mode: 0o600 });
}

/** The agent processes: hosts of several agents, and node 0 as a plain `manyfold agent`. */
class AgentFleet {
  readonly reports = new Map<ChildProcess, Report>();
  readonly children: ChildProcess[] = [];
  single: ChildProcess | undefined;

  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async start(options: { config: string; kubeconfig: string }): Promise<void> {
    const logFile = (i: number) => createWriteStream(join(this.dir, `agents-${i}.log`), { flags: 'a' });
    const names = Array.from({ length: nodes }, (_, i) => nodeName(i));
    const single = spawn(process.execPath, [binPath, 'agent', '--config', options.config, '--spool-dir', join(this.dir, 'spool-single'), '--kubeconfig', options.kubeconfig, '--metrics-bind-address', '0', '--log-level', 'warn'], {
      env: { ...process.env, NODE_NAME: names[0] },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    single.stderr?.pipe(logFile(0));
    this.single = single;
    this.children.push(single);
    for (let i = 1; i < names.length; i += perProcess) {
      const child = spawn(process.execPath, [hostPath, '--config', options.config, '--kubeconfig', options.kubeconfig, '--spool-root', join(this.dir, 'spool'), '--nodes', names.slice(i, i + perProcess).join(',')], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      child.stderr?.pipe(logFile(i));
      child.on('message', (message: Report) => this.reports.set(child, message));
      this.children.push(child);
      // Staggered, as agents on real nodes start at different times (and to spare 2 cores a thundering start).
      await sleep(300);
    }
  }

  /** Heartbeats and failures so far, over the hosts (node 0's single agent is not counted). */
  totals(): Report {
    const sum = { heartbeats: 0, failures: 0, agents: 0 };
    for (const r of this.reports.values()) {
      sum.heartbeats += r.heartbeats;
      sum.failures += r.failures;
      sum.agents += r.agents;
    }
    return sum;
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }));
  }
}

const exitCode = await runBench({ name: 'sfleet-hb', title: `SensorFleet steady state: ${nodes} kwok nodes with real heartbeating agents`, nodes }, async (ctx) => {
  const work = join(ctx.dir, 'agents');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const configPath = join(work, 'config.json');
  const kubeconfigPath = join(work, 'agent.kubeconfig');
  const operator = startOperator({ kubeconfig: ctx.cluster.operatorKubeconfig, args: values['operator-arg'] ?? [], logFile: join(ctx.dir, 'operator.log'), processes: ctx.processes });
  await waitReady(operator, { timeoutMs: 90_000, signal: ctx.signal });
  const metricsAddress = operator.addresses().metrics;
  if (!metricsAddress) throw new Error('the operator logged no metrics address');
  await ctx.namespace(namespace);

  const fleetSpec = (staleAfterSeconds: number) => ({
    nodeSelector: { type: 'kwok' },
    sensors: [{ name: 'temp', source: { type: 'simulated', base: 20, amplitude: 2 }, intervalMs: 1000 }],
    sink: { type: 'stdout' },
    staleAfterSeconds,
  });
  const fleet = (staleAfterSeconds: number) => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'SensorFleet', metadata: { name: fleetName, namespace }, spec: fleetSpec(staleAfterSeconds) });
  const getFleet = () => ctx.admin.get<Fleet>(SensorFleetType, fleetName, namespace);
  /** Copies the published config to the agents' file once it reflects `staleAfterSeconds`; returns the heartbeat interval. */
  const project = async (staleAfterSeconds: number) => {
    for (let i = 0; i < 120; i++) {
      const cm = await ctx.admin.getOrUndefined<ConfigMap>(Resources.ConfigMap, agentName(fleetName), namespace);
      const text = cm?.data?.['config.json'];
      const config = text ? (JSON.parse(text) as { heartbeatIntervalSeconds?: number }) : undefined;
      if (text && config?.heartbeatIntervalSeconds === Math.max(1, Math.floor(staleAfterSeconds / 3))) {
        // Atomically, as the kubelet swaps a ConfigMap volume's files.
        await writeFile(`${configPath}.tmp`, text);
        await rename(`${configPath}.tmp`, configPath);
        return config.heartbeatIntervalSeconds;
      }
      await sleep(500, undefined, { signal: ctx.signal });
    }
    throw new Error(`the fleet's ConfigMap did not reflect staleAfterSeconds ${staleAfterSeconds} within 60 s`);
  };

  const first = staleAfters[0] ?? 60;
  await ctx.admin.apply(fleet(first), { fieldManager: 'bench' });
  await project(first);
  await agentKubeconfig(ctx, kubeconfigPath);
  const agents = new AgentFleet(work);
  ctx.defer(() => agents.stop());
  const startedAt = performance.now();
  await agents.start({ config: configPath, kubeconfig: kubeconfigPath });
  for (;;) {
    const s = (await getFleet()).status;
    if ((s?.reportingNodes ?? 0) >= nodes) break;
    if (performance.now() - startedAt > 300_000) throw new Error(`only ${s?.reportingNodes ?? 0} of ${nodes} nodes reporting after 300 s`);
    await sleep(1000, undefined, { signal: ctx.signal });
  }
  ctx.log(`all ${nodes} agents reporting after ${((performance.now() - startedAt) / 1000).toFixed(0)} s (${agents.children.length} agent processes)`);

  const pids = [
    { name: 'operator', pid: operator.pid },
    ...ctx.cluster.processes.filter((p) => ['etcd', 'kube-apiserver'].includes(p.name)).map((p) => ({ name: p.name, pid: p.pid })),
    ...agents.children.map((c, i) => ({ name: i === 0 ? 'agent (single process)' : `agent host ${i}`, pid: c.pid ?? 0 })),
  ];
  const lines: string[] = [];
  for (const staleAfterSeconds of staleAfters) {
    try {
      await ctx.admin.apply(fleet(staleAfterSeconds), { fieldManager: 'bench' });
    } catch (error) {
      lines.push(`staleAfterSeconds ${staleAfterSeconds}: refused by the API server: ${error instanceof Error ? error.message : String(error)}`, '');
      continue;
    }
    const interval = await project(staleAfterSeconds);
    await sleep(warmupMs, undefined, { signal: ctx.signal });
    const reconcilesBefore = metricSum(await scrapeMetrics(metricsAddress), 'controller_runtime_reconcile_total', { controller: 'sensorfleet' });
    const beatsBefore = agents.totals();
    const cpu = new CpuMeter(pids);
    await cpu.start();
    const from = Date.now();
    const reporting: number[] = [];
    const stale: number[] = [];
    while (Date.now() - from < windowMs) {
      const s = (await getFleet()).status;
      reporting.push(s?.reportingNodes ?? 0);
      stale.push(s?.staleNodeCount ?? 0);
      await sleep(1000, undefined, { signal: ctx.signal });
    }
    const to = Date.now();
    const seconds = (to - from) / 1000;
    const cpuReport = await cpu.stop();
    const reconciles = metricSum(await scrapeMetrics(metricsAddress), 'controller_runtime_reconcile_total', { controller: 'sensorfleet' }) - reconcilesBefore;
    const beats = agents.totals();
    await sleep(2000); // let the audit log catch up with the window's last requests
    const writes = await auditCounts(ctx.dir, { namespace, fromMs: from, toMs: to });
    const total = [...writes.values()].reduce((a, b) => a + b, 0);
    const heartbeats = beats.heartbeats - beatsBefore.heartbeats;
    const range = (xs: number[]) => `${Math.min(...xs)}-${Math.max(...xs)}`;
    lines.push(
      `staleAfterSeconds ${staleAfterSeconds} (agents beat every ${interval} s), ${seconds.toFixed(0)} s window:`,
      `  operator reconciles of the fleet      ${(reconciles / seconds).toFixed(2)} /s (${reconciles})`,
      `  operator API writes in the namespace  ${(total / seconds).toFixed(2)} /s (${total}): ${[...writes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
      `  agent heartbeats (GET + PUT a Lease)  ${(heartbeats / seconds).toFixed(1)} /s from ${beats.agents} hosted agents (+1 single), ${beats.failures - beatsBefore.failures} failed`,
      `  status reportingNodes / staleNodeCount  ${range(reporting)} / ${range(stale)} (of ${nodes}; polled every 1 s)`,
      cpuReport,
      '',
    );
    ctx.log(`staleAfterSeconds ${staleAfterSeconds}: ${(reconciles / seconds).toFixed(2)} reconciles/s, ${(total / seconds).toFixed(2)} operator writes/s`);
  }
  const single = agents.single?.pid ? await readRss(agents.single.pid) : undefined;
  const hosts = await Promise.all(agents.children.slice(1).map((c) => readRss(c.pid ?? 0)));
  const hostRss = hosts.reduce((n, r) => n + r.rss, 0);
  console.log(lines.join('\n'));
  console.log(
    [
      'agent memory:',
      `  one \`manyfold agent\` process: RSS ${single ? mib(single.rss) : '-'} (peak ${single ? mib(single.peak) : '-'}); ${nodes} such processes would take about ${single ? mib(single.rss * nodes) : '-'}`,
      `  ${hosts.length} hosts of up to ${perProcess} agents: RSS ${mib(hostRss)} in all, ${mib(hostRss / Math.max(1, nodes - 1))} per agent`,
    ].join('\n'),
  );
  const operatorRss = await readRss(operator.pid);
  console.log(`operator RSS ${mib(operatorRss.rss)} (peak ${mib(operatorRss.peak)})`);
});
process.exit(exitCode);
