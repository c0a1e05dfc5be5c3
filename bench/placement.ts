/**
 * Placement benchmark: 65,536 shards × 3 replicas over 1,000 Cells in 10 zones with
 * mixed capacities (weights 50/100/150/200 by a hash of the name), maxLoadFactor 1.05,
 * spreadBy zone. Five scenarios, each from the balanced map: add one Cell, remove one
 * Cell, add a zone (100 Cells), change one capacity (×2), drain 10 % of the Cells.
 *
 * For each scenario and algorithm, on the same members: replica moves (placements not
 * in the algorithm's own previous assignment), moves / lower bound, max and mean load
 * ratio (replicas held / water-filled fair share, over the members that hold), and the
 * time to compute the new assignment (CPU time of this process, and wall time). The
 * lower bound is the planner's (src/legos/placement/planner.ts): the fewest placements
 * any assignment within the policy needs from the balanced map; it is the reference
 * for every row, since the hash placements do not meet the policy to begin with.
 * Jump hash applies only where members are appended or the last one removed, and knows
 * neither weights nor zones.
 *
 * Usage: `npx node bench/placement.ts [shards=65536] [cells=1000]`.
 * Targets (issue 12): moves ≤ 1.02 × lower bound, max load ratio ≤ 1.05, plan ≤ 1 s on one core.
 */
import { planPlacement } from '../src/legos/placement/planner.ts';
import type { PlacementMember, PlacementPlan } from '../src/legos/placement/types.ts';
import { ShardRouter } from '../src/client/shard-router.ts';
import { decodeTable, encodeTable } from '../src/legos/placement/routing-table.ts';
import { boundedLoad, jumpHash, nameId, rendezvous, ring, type Assignment } from './placement/baselines.ts';

const SHARDS = Number(process.argv[2] ?? 65_536);
const CELLS = Number(process.argv[3] ?? 1_000);
const REPLICAS = 3;
const policy = { maxLoadFactor: 1.05, spreadBy: 'zone' as const };
const weightOf = (name: string): number => [50, 100, 150, 200][nameId(name) % 4] as number;
const cell = (name: string, zone: string): PlacementMember => ({ name, zone, weight: weightOf(name), state: 'Active' });
const base: PlacementMember[] = Array.from({ length: CELLS }, (_, i) => cell(`cell-${i}`, `zone-${i % 10}`));

const scenarios: { name: string; members: PlacementMember[]; jump: boolean }[] = [
  { name: 'add one Cell', members: [...base, cell(`cell-${CELLS}`, 'zone-3')], jump: true },
  { name: 'remove one Cell', members: base.slice(0, -1), jump: true },
  { name: 'add a zone (100 Cells)', members: [...base, ...Array.from({ length: 100 }, (_, i) => cell(`cell-z${i}`, 'zone-10'))], jump: true },
  { name: 'change one capacity (×2)', members: base.map((m, i) => (i === 5 ? { ...m, weight: m.weight * 2 } : m)), jump: false },
  { name: 'drain 10 % of Cells', members: base.map((m) => (nameId(m.name) % 10 === 7 ? { ...m, state: 'Draining' as const } : m)), jump: false },
];

function timed<T>(run: () => T): { value: T; cpuMs: number; wallMs: number } {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const value = run();
  const used = process.cpuUsage(cpu);
  return { value, cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - wall };
}

function moves(before: Assignment, after: Assignment): number {
  let n = 0;
  after.forEach((cells, s) => {
    const old = before[s] ?? [];
    for (const c of cells) if (!old.includes(c)) n++;
  });
  return n;
}

function loads(assignment: Assignment, plan: PlacementPlan): { max: number; mean: number } {
  const held = new Map<string, number>();
  for (const cells of assignment) for (const c of cells) held.set(c, (held.get(c) ?? 0) + 1);
  const ratios = plan.members.filter((m) => m.share > 0).map((m) => (held.get(m.name) ?? 0) / m.share);
  return { max: Math.max(...ratios), mean: ratios.reduce((a, r) => a + r, 0) / ratios.length };
}

function mustPlan(input: Parameters<typeof planPlacement>[0]): PlacementPlan {
  const result = planPlacement(input);
  if (!result.ok) throw new Error(result.message);
  return result.plan;
}

const fmt = (x: number, d = 0) => x.toFixed(d).padStart(8);
console.log(`placement: ${SHARDS} shards × ${REPLICAS} over ${CELLS} Cells, 10 zones, maxLoadFactor ${policy.maxLoadFactor}, node ${process.version}`);
const initial = timed(() => mustPlan({ shards: SHARDS, replicas: REPLICAS, members: base, current: [], policy }));
console.log(`initial placement by the planner: cpu ${initial.cpuMs.toFixed(0)} ms, max load ratio ${loads(initial.value.target, initial.value).max.toFixed(4)}`);

const algorithms: { name: string; place: (members: PlacementMember[]) => Assignment; jumpOnly?: boolean }[] = [
  { name: 'rendezvous', place: (m) => rendezvous(SHARDS, REPLICAS, m) },
  { name: 'ring-100', place: (m) => ring(SHARDS, REPLICAS, m, 100) },
  { name: 'jump', place: (m) => jumpHash(SHARDS, REPLICAS, m), jumpOnly: true },
  { name: 'bounded-0.25', place: (m) => boundedLoad(SHARDS, REPLICAS, m, 0.25, 100) },
];
const before = new Map(algorithms.map((a) => [a.name, a.place(base)]));
let worst = { ratio: 0, load: 0, cpu: 0 };
for (const scenario of scenarios) {
  const planned = timed(() => mustPlan({ shards: SHARDS, replicas: REPLICAS, members: scenario.members, current: initial.value.target, policy }));
  const plan = planned.value;
  const bound = plan.lowerBound;
  console.log(`\n${scenario.name}: lower bound ${bound}`);
  console.log(`  ${'algorithm'.padEnd(14)}${'moves'.padStart(8)}${'moves/LB'.padStart(10)}${'maxLoad'.padStart(9)}${'meanLoad'.padStart(9)}${'cpu ms'.padStart(8)}${'wall ms'.padStart(9)}`);
  const ours = loads(plan.target, plan);
  const row = (name: string, m: number, l: { max: number; mean: number }, cpu: number, wall: number) =>
    console.log(`  ${name.padEnd(14)}${fmt(m)}${(bound > 0 ? (m / bound).toFixed(3) : '-').padStart(10)}${l.max.toFixed(3).padStart(9)}${l.mean.toFixed(3).padStart(9)}${fmt(cpu)}${wall.toFixed(0).padStart(9)}`);
  row('planner', plan.moves.length, ours, planned.cpuMs, planned.wallMs);
  worst = { ratio: Math.max(worst.ratio, bound > 0 ? plan.moves.length / bound : 1), load: Math.max(worst.load, ours.max), cpu: Math.max(worst.cpu, planned.cpuMs) };
  for (const algorithm of algorithms) {
    if (algorithm.jumpOnly === true && !scenario.jump) {
      console.log(`  ${algorithm.name.padEnd(14)}     n/a (members not appended or removed at the end)`);
      continue;
    }
    const after = timed(() => algorithm.place(scenario.members));
    row(algorithm.name, moves(before.get(algorithm.name) ?? [], after.value), loads(after.value, plan), after.cpuMs, after.wallMs);
  }
}
console.log(`\nplanner worst case: moves/LB ${worst.ratio.toFixed(4)} (target ≤ 1.02), max load ratio ${worst.load.toFixed(4)} (target ≤ 1.05), plan cpu ${worst.cpu.toFixed(0)} ms (target ≤ 1000)`);

// The client library's lookup over the published table of the initial placement.
const encoded = encodeTable({
  name: 'bench',
  version: 1,
  shards: SHARDS,
  replicas: REPLICAS,
  entries: initial.value.target.map((replicas, shard) => ({ shard, replicas, primary: replicas[0], epoch: 1, joining: [], leaving: [] })),
});
const decoded = timed(() => decodeTable(encoded.binary));
const router = new ShardRouter(decoded.value.table);
const keys = Array.from({ length: 100_000 }, (_, i) => `user:${i}`);
let sink = 0;
for (const key of keys) sink += router.lookup(key).epoch; // warm-up
const lookups = timed(() => {
  for (let round = 0; round < 10; round++) for (const key of keys) sink += router.lookup(key).epoch;
});
console.log(
  `routing table: ${(encoded.json.length / 1024).toFixed(0)} KiB JSON, ${((encoded.binary.length * 3) / 4 / 1024).toFixed(0)} KiB gzip; decode ${decoded.cpuMs.toFixed(0)} ms; ` +
    `lookup ${((lookups.cpuMs * 1000) / 1_000_000).toFixed(3)} µs per key (1,000,000 keys, checksum ${sink % 10})`,
);
