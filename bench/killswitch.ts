/**
 * Kill-switch latency: 100 Rollouts in progress over 20 Cells (5 namespaces, each with
 * 4 Cells in 2 waves and 20 FeatureFlags, each flag with a Rollout paused at 20 % in
 * wave 1), two `manyfold operator` processes (lease 3 s / 2 s / 0.5 s). Per trial the
 * global kill switch is engaged on `manyfold-system/manyfold-config`; per flag we time
 *
 * - published: a watch on the namespace's ConfigMap `manyfold-flags` delivers a version in
 *   which every document (`flags.json` and each `cell-<cell>.json`) serves the flag's safe
 *   variant;
 * - evaluated: an OpenFeature provider (ManyfoldFlagProvider over configMapSource, one per
 *   namespace, reading a wave-1 Cell's document) evaluates the safe variant for a
 *   targeting key that the 20 % ramp had moved onto the rolled variant.
 *
 * Then the switch is released and the next trial starts once every client sees the
 * rolled variant again. Failover trials SIGKILL the leader and engage the switch in the
 * same instant: target ≤ lease duration + 1 s. Compare: Argo Rollouts aborts per object
 * reconcile (and waits ~15 s for a new leader after a crash); flagd polls every 5 s.
 *
 * Usage: `npx node bench/killswitch.ts [--trials 10] [--failover-trials 5]`.
 */
import { ProviderEvents } from '@openfeature/server-sdk';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { API_VERSION } from '../src/crds/common.ts';
import { ManyfoldResources } from '../src/crds/index.ts';
import type { RolloutStatus } from '../src/crds/rollout.ts';
import type { FlagdDocument } from '../src/legos/flagd/document.ts';
import { inRamp } from '../src/legos/flagd/fractional.ts';
import { ManyfoldFlagProvider } from '../src/legos/flagd/provider.ts';
import { FLAGS_CONFIGMAP, cellDocumentKey, configMapSource } from '../src/legos/flagd/sources.ts';
import { Resources } from '../src/kube/resources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { cheapCell } from './support/cells.ts';
import { runBench, type BenchContext } from './support/harness.ts';
import { startOperator, waitReady, type OperatorProcess } from './support/operator.ts';
import { ms, pool, summarize, table } from './support/stats.ts';
import { ObjectWatch } from './support/watch.ts';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, 'failover-trials': { type: 'string', default: '5' } } });
const TRIALS = Number(values.trials);
const FAILOVER_TRIALS = Number(values['failover-trials']);
const NAMESPACES = 5;
const CELLS_PER_NAMESPACE = 4;
const FLAGS_PER_NAMESPACE = 20;
const LEASE_MS = 3000;
const KILL = 'manyfold.dev/kill-switch';

type ConfigMap = KubeObject & { data?: Record<string, string> };
type Rollout = KubeObject & { status?: RolloutStatus };
interface FlagProbe {
  readonly namespace: string;
  readonly flag: string;
  /** A targeting key inside the 20 % ramp: served `new` while rolling, `old` when safe. */
  readonly key: string;
}

const nsName = (i: number) => `ks-${i}`;

/** The operator's completed writes of ConfigMap manyfold-flags, from the API server's audit log (wall ms). */
async function configMapWrites(clusterDir: string): Promise<{ namespace: string; at: number }[]> {
  const out: { namespace: string; at: number }[] = [];
  const lines = createInterface({ input: createReadStream(join(clusterDir, 'logs', 'audit.log'), 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.includes(FLAGS_CONFIGMAP)) continue;
    const e = JSON.parse(line) as { verb?: string; stage?: string; stageTimestamp?: string; objectRef?: { resource?: string; name?: string; namespace?: string; subresource?: string }; responseStatus?: { code?: number } };
    if (e.objectRef?.resource !== 'configmaps' || e.objectRef.name !== FLAGS_CONFIGMAP || e.objectRef.subresource !== undefined) continue;
    if ((e.verb !== 'patch' && e.verb !== 'create') || e.stage !== 'ResponseComplete' || (e.responseStatus?.code ?? 0) >= 300) continue;
    out.push({ namespace: e.objectRef.namespace ?? '', at: Date.parse(e.stageTimestamp ?? '') });
  }
  return out.sort((a, b) => a.at - b.at);
}
const flagName = (j: number) => `flag-${String(j).padStart(2, '0')}`;

async function setup(ctx: BenchContext): Promise<FlagProbe[]> {
  const probes: FlagProbe[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const namespace = nsName(i);
    await ctx.namespace(namespace);
    for (let c = 0; c < CELLS_PER_NAMESPACE; c++) {
      const cell = cheapCell(namespace, `cell-${c}`, 0);
      await ctx.admin.apply({ ...cell, metadata: { ...cell.metadata, labels: { wave: c < CELLS_PER_NAMESPACE / 2 ? '1' : '2' } } }, { fieldManager: 'bench', force: true });
    }
    await pool(Array.from({ length: FLAGS_PER_NAMESPACE }, (_, j) => j), 8, async (j) => {
      const flag = flagName(j);
      await ctx.admin.apply({ apiVersion: API_VERSION, kind: 'FeatureFlag', metadata: { name: flag, namespace }, spec: { variants: { new: 'new', old: 'old' }, defaultVariant: 'old', safeVariant: 'old' } }, { fieldManager: 'bench', force: true });
      await ctx.admin.apply(
        { apiVersion: API_VERSION, kind: 'Rollout', metadata: { name: flag, namespace }, spec: { flagRef: { name: flag }, variant: 'new', steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 100 }], waves: { label: 'wave', order: ['1', '2'] } } },
        { fieldManager: 'bench', force: true },
      );
      let n = 0;
      while (!inRamp(flag, `user-${n}`, 20)) n++;
      probes.push({ namespace, flag, key: `user-${n}` });
    });
  }
  return probes;
}

function safeEverywhere(cm: ConfigMap | undefined, flag: string): boolean {
  if (cm?.data === undefined) return false;
  return Object.values(cm.data).every((json) => {
    const f = (JSON.parse(json) as FlagdDocument).flags[flag];
    return f !== undefined && f.targeting === undefined && f.defaultVariant === 'old' && f.metadata?.['killSwitch'] === true;
  });
}

const code = await runBench({ name: 'killswitch', title: `Kill switch: 100 Rollouts over 20 Cells, global switch → safe variant published and evaluated (${TRIALS} trials + ${FAILOVER_TRIALS} after a leader SIGKILL)`, nodes: 1 }, async (ctx) => {
  const leaseFlags = ['--leader-elect-lease-duration', '3s', '--leader-elect-renew-deadline', '2s', '--leader-elect-retry-period', '500ms'];
  let started = 0;
  const launch = () => startOperator({ kubeconfig: ctx.cluster.operatorKubeconfig, args: leaseFlags, logFile: join(ctx.dir, `operator-${++started}.log`), processes: ctx.processes });
  const replicas: OperatorProcess[] = [launch(), launch()];
  for (const r of replicas) await waitReady(r, { signal: ctx.signal });
  const probes = await setup(ctx);
  ctx.log(`${probes.length} flags and Rollouts created; waiting for every Rollout to pause at 20 % in wave 1`);
  for (;;) {
    let paused = 0;
    for (let i = 0; i < NAMESPACES; i++) {
      const list = await ctx.admin.list<Rollout>(ManyfoldResources.Rollout, { namespace: nsName(i) });
      paused += list.items.filter((r) => r.status?.phase === 'Paused' && r.status.currentWeight === 20).length;
    }
    if (paused === probes.length) break;
    ctx.signal.throwIfAborted();
    await sleep(500);
  }

  // Published: a watch per namespace on the ConfigMap; evaluated: one provider per namespace.
  const published = new Map<string, number>(); // namespace/flag -> first time safe everywhere
  const evaluated = new Map<string, number>();
  const watches: ObjectWatch<ConfigMap>[] = [];
  const providers: ManyfoldFlagProvider[] = [];
  let t0 = 0;
  let expectSafe = true;
  for (let i = 0; i < NAMESPACES; i++) {
    const namespace = nsName(i);
    const watch = new ObjectWatch<ConfigMap>({ client: ctx.admin, type: Resources.ConfigMap, namespace, labelSelector: 'manyfold.dev/flags' });
    watch.on((_change, cm, at) => {
      if (cm.metadata.name !== FLAGS_CONFIGMAP || !expectSafe) return;
      for (const p of probes.filter((q) => q.namespace === namespace)) {
        const k = `${namespace}/${p.flag}`;
        if (!published.has(k) && safeEverywhere(cm, p.flag)) published.set(k, at - t0);
      }
    });
    await watch.start(ctx.signal);
    watches.push(watch);
    const provider = new ManyfoldFlagProvider({ source: configMapSource({ client: ctx.admin, namespace, key: cellDocumentKey('cell-0') }) });
    const mine = probes.filter((q) => q.namespace === namespace);
    const check = () => {
      const at = performance.now();
      for (const p of mine) {
        const k = `${namespace}/${p.flag}`;
        const variant = provider.evaluateString(p.flag, 'code', { targetingKey: p.key }).variant;
        if (expectSafe && variant === 'old' && !evaluated.has(k)) evaluated.set(k, at - t0);
        if (!expectSafe && variant === 'new' && !evaluated.has(k)) evaluated.set(k, at - t0);
      }
    };
    provider.events.addHandler(ProviderEvents.ConfigurationChanged, check);
    await provider.initialize();
    providers.push(provider);
  }
  ctx.defer(async () => {
    for (const p of providers) await p.onClose();
    for (const w of watches) await w.close();
  });
  const servedRolled = () => probes.filter((p) => providers[Number(p.namespace.slice(3))]?.evaluateString(p.flag, 'code', { targetingKey: p.key }).variant === 'new').length;
  for (let waited = 0; servedRolled() < probes.length; waited += 100) {
    if (waited > 120_000) throw new Error(`only ${servedRolled()}/${probes.length} probe keys are served the rolled variant after 120 s`);
    ctx.signal.throwIfAborted();
    await sleep(100);
  }
  ctx.log('every probe key is served the rolled variant');

  const annotate = (value: string | null) => ctx.admin.patch(Resources.ConfigMap, { name: 'manyfold-config', namespace: 'manyfold-system' }, { metadata: { annotations: { [KILL]: value } } }, { type: 'merge' });
  const waitAll = async (map: Map<string, number>, what: string, timeoutMs = 60_000) => {
    const end = performance.now() + timeoutMs;
    while (map.size < probes.length) {
      if (performance.now() > end) throw new Error(`${what}: ${map.size}/${probes.length} after ${timeoutMs} ms`);
      ctx.signal.throwIfAborted();
      await sleep(5);
    }
  };
  const engagedAt: { wall: number; releasedWall: number; failover: boolean }[] = [];
  const runTrial = async (before?: () => void) => {
    published.clear();
    evaluated.clear();
    expectSafe = true;
    t0 = performance.now();
    const wall = Date.now();
    before?.();
    await annotate('true');
    await waitAll(evaluated, 'clients on the safe variant');
    await waitAll(published, 'safe variant published');
    const result = { published: [...published.values()], evaluated: [...evaluated.values()] };
    evaluated.clear();
    expectSafe = false;
    t0 = performance.now();
    engagedAt.push({ wall, releasedWall: Date.now(), failover: before !== undefined });
    await annotate(null);
    await waitAll(evaluated, 'clients back on the rolled variant');
    return result;
  };

  const normal = { published: [] as number[], evaluated: [] as number[] };
  for (let t = 1; t <= TRIALS; t++) {
    await sleep(500 + Math.random() * 500);
    const r = await runTrial();
    normal.published.push(...r.published);
    normal.evaluated.push(...r.evaluated);
    ctx.log(`trial ${t}/${TRIALS}: published p99 ${ms(summarize(r.published).p99)}, evaluated p99 ${ms(summarize(r.evaluated).p99)}`);
  }

  const failover = { published: [] as number[], evaluated: [] as number[] };
  for (let t = 1; t <= FAILOVER_TRIALS; t++) {
    // The leader: the replica whose latest leader_elected line is not followed by leader_lost.
    const leading = replicas.filter((r) => {
      for (let i = r.logs.length - 1; i >= 0; i--) {
        const e = r.logs[i]?.['event'];
        if (e === 'leader_lost') return false;
        if (e === 'leader_elected') return true;
      }
      return false;
    });
    const leader = leading[0];
    if (leading.length !== 1 || leader === undefined) throw new Error(`expected one leader, found ${leading.length}`);
    await sleep(Math.random() * 500);
    const r = await runTrial(() => leader.kill('SIGKILL'));
    failover.published.push(...r.published);
    failover.evaluated.push(...r.evaluated);
    ctx.log(`failover trial ${t}/${FAILOVER_TRIALS}: published p99 ${ms(summarize(r.published).p99)}, evaluated p99 ${ms(summarize(r.evaluated).p99)}`);
    await leader.exited;
    replicas.splice(replicas.indexOf(leader), 1);
    const replacement = launch();
    replicas.push(replacement);
    await waitReady(replacement, { signal: ctx.signal });
    await sleep(2000);
  }

  // Server side: the operator's write of each namespace's ConfigMap, as the API server's audit log
  // records it (completed), after each engage: excludes the watch delivery to this process.
  const writes = await configMapWrites(ctx.dir);
  const serverSide = { normal: [] as number[], failover: [] as number[] };
  for (const e of engagedAt) {
    for (let i = 0; i < NAMESPACES; i++) {
      const first = writes.find((w) => w.namespace === nsName(i) && w.at >= e.wall && w.at <= e.releasedWall);
      if (first !== undefined) (e.failover ? serverSide.failover : serverSide.normal).push(first.at - e.wall);
    }
  }
  const s = (xs: number[]) => summarize(xs);
  const [sn, sf] = [s(serverSide.normal), s(serverSide.failover)];
  const [np, ne, fp, fe] = [s(normal.published), s(normal.evaluated), s(failover.published), s(failover.evaluated)];
  console.log(`\n${probes.length} flags x ${TRIALS} trials (${normal.published.length} samples) and x ${FAILOVER_TRIALS} failover trials (${failover.published.length}); lease ${LEASE_MS} ms\n`);
  console.log(
    table([
      { metric: 'engage → safe variant published (every document), p50 / p99', value: `${ms(np.p50)} / ${ms(np.p99)}`, target: 'p99 ≤ 1 s', met: np.p99 <= 1000 },
      { metric: `engage → operator's ConfigMap write completed (audit log; ${serverSide.normal.length} namespace-trials), p50 / p99`, value: `${ms(sn.p50)} / ${ms(sn.p99)}`, target: 'report' },
      { metric: 'engage → OpenFeature client evaluates it, p50 / p99', value: `${ms(ne.p50)} / ${ms(ne.p99)}`, target: 'p99 ≤ 1 s', met: ne.p99 <= 1000 },
      { metric: 'leader SIGKILL + engage → published, p50 / p99', value: `${ms(fp.p50)} / ${ms(fp.p99)}`, target: `p99 ≤ ${ms(LEASE_MS + 1000)}`, met: fp.p99 <= LEASE_MS + 1000 },
      { metric: `leader SIGKILL + engage → ConfigMap write completed (audit log; ${serverSide.failover.length}), p50 / p99`, value: `${ms(sf.p50)} / ${ms(sf.p99)}`, target: 'report' },
      { metric: 'leader SIGKILL + engage → client evaluates it, p50 / p99', value: `${ms(fe.p50)} / ${ms(fe.p99)}`, target: `p99 ≤ ${ms(LEASE_MS + 1000)}`, met: fe.p99 <= LEASE_MS + 1000 },
      { metric: 'compare: flagd file/HTTP sync poll interval', value: '5 s', target: '-' },
    ]),
  );
});
process.exit(code);
