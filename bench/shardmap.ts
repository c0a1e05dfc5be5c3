/**
 * ShardMap drain on the local control plane: a ShardMap of 4,096 shards × 3 replicas
 * over 20 Cells in 5 zones (handoff None, maxInFlight 10 %) is published and balanced,
 * then one Cell is set Draining; the clock runs from that apply to the Cell's
 * `status.phase: Drained` (seen on a watch-polled get every 100 ms), with the moves, the
 * routing versions published meanwhile and the ShardMap's lastRebalance.
 *
 * Usage: `npx node bench/shardmap.ts [shards=4096] [cells=20]`. Runs `manyfold operator`
 * as a process against a control plane of its own (`.manyfold/bench-shardmap`).
 */
import { join } from 'node:path';
import { CellType } from '../src/controllers/cell.ts';
import { ShardMapType } from '../src/controllers/shardmap.ts';
import type { CellStatus } from '../src/crds/cell.ts';
import type { ShardMapStatus } from '../src/crds/shardmap.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { runBench } from './support/harness.ts';
import { startOperator, waitReady } from './support/operator.ts';

const SHARDS = Number(process.argv[2] ?? 4096);
const CELLS = Number(process.argv[3] ?? 20);
const NS = 'bench-shardmap';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const code = await runBench({ name: 'shardmap', title: `ShardMap: ${SHARDS} shards × 3 over ${CELLS} Cells, one Cell drained (handoff None, maxInFlight 10%)`, nodes: 1 }, async (ctx) => {
  const operator = startOperator({ kubeconfig: ctx.cluster.operatorKubeconfig, logFile: join(ctx.dir, 'operator.log'), processes: ctx.processes });
  await waitReady(operator, { signal: ctx.signal });
  await operator.waitForLog((l) => l['event'] === 'controller_started', { signal: ctx.signal });
  await ctx.namespace(NS);
  const apply = (object: KubeObject) => ctx.admin.apply(object, { fieldManager: 'bench' });
  const cell = (i: number, state = 'Active') => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: `cell-${i}`, namespace: NS }, spec: { zone: `zone-${i % 5}`, capacity: [50, 100, 150, 200][i % 4], state } });
  for (let i = 0; i < CELLS; i++) await apply(cell(i));
  const created = performance.now();
  await apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'bench', namespace: NS }, spec: { shards: SHARDS, replicas: 3, placement: { maxLoadFactor: 1.25 }, migration: { maxInFlight: '10%', handoff: 'None' } } });
  const getMap = () => ctx.admin.get<KubeObject & { status?: ShardMapStatus }>(ShardMapType, 'bench', NS);
  const balanced = (m: { status?: ShardMapStatus }) => m.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && m.status.conditions.some((c) => c.type === 'Rebalancing' && c.status === 'False');
  for (;;) {
    ctx.signal.throwIfAborted();
    if (balanced(await getMap())) break;
    await sleep(100);
  }
  const first = await getMap();
  console.log(`published and balanced: ${((performance.now() - created) / 1000).toFixed(2)} s after the ShardMap was created (routing version ${first.status?.routingVersion}, max load ratio ${first.status?.balance?.maxLoadRatio})`);
  const victim = 7;
  const held = first.status?.members?.find((m) => m.cell === `cell-${victim}`)?.replicas ?? 0;
  const start = performance.now();
  await apply(cell(victim, 'Draining'));
  let phase = '';
  for (;;) {
    ctx.signal.throwIfAborted();
    const c = await ctx.admin.get<KubeObject & { status?: CellStatus }>(CellType, `cell-${victim}`, NS);
    phase = c.status?.phase ?? '';
    if (phase === 'Drained') break;
    await sleep(100);
  }
  const seconds = (performance.now() - start) / 1000;
  const after = await getMap();
  console.log(
    `drain of cell-${victim} (${held} replicas) → Drained: ${seconds.toFixed(2)} s; routing versions ${first.status?.routingVersion} → ${after.status?.routingVersion}; ` +
      `lastRebalance moves ${after.status?.lastRebalance?.moves} (lower bound ${after.status?.lastRebalance?.lowerBound}), done ${after.status?.lastRebalance?.done}`,
  );
});
process.exit(code);
