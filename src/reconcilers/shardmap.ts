/**
 * The ShardMap decider, pure: from a ShardMap, its member Cells, the published routing
 * table, the hand-off acknowledgements and the time, the routing table to publish (as
 * the routing ConfigMap), the status with its conditions, the events and log events,
 * and when to look again.
 *
 * One reconcile: settle which table counts as published (`shardmap-table.ts`: trusted,
 * restored from its last-good copy, or rebuilt at a higher version); step every checkpointed move
 * (`shardmap-move.ts`); plan over the members (`legos/placement`) from the published
 * table with the moves in flight counted as done; start planned moves while fewer
 * than `maxInFlight` are in flight (one per shard at a time, most urgent first); then
 * publish one new version carrying every entry that changed. Moves not yet started are
 * not stored: the planner is deterministic, so the next reconcile plans them again.
 *
 * Guarantees: the routing version only increases; a shard's epoch only increases
 * (it is the version that fenced it); no published entry has fewer serving replicas
 * than before unless `replicas` shrank (a guard refuses such an entry otherwise); a
 * table is only published for a valid spec with enough members, and under the kill
 * switch only to restore the published state; statuses, conditions and events name
 * the numbers.
 *
 * Conditions: `Ready` (`Published`, or `InvalidSpec`, `InsufficientMembers`),
 * `Rebalancing` (`MovesInFlight` / `Balanced`), `SpreadDegraded` (`TooFewZones` /
 * `Spread`), `Enforcing` (`KillSwitchEngaged` / `Enforcing`), and `Progressing`
 * mirroring `Rebalancing` for generic tooling.
 *
 * A change of `spec.shards` once a table is published is refused (`Ready=False`,
 * `InvalidSpec`, naming the field, both counts and what to do): a key's shard depends
 * on the count, so a new count is a new keyspace, not a rebalance. The table stays as
 * published (restored if lost, at its shard count) and no move starts, as under the
 * kill switch, until the count is set back. Before the first publication the count
 * may change freely.
 *
 * Limitations: every reconcile replans (about 0.1-0.4 s of CPU at 65,536 × 3 over
 * 1,000 Cells, plus decoding and encoding the table); a Cell that changes zone
 * mid-move finishes the move, and the next plan moves whatever then breaks the spread
 * rule; if both the routing ConfigMap and its last-good copy are lost, the shard count
 * is known only from the new spec (the table is rebuilt at that count).
 */
import { createHash } from 'node:crypto';
import { quorumOf, type ShardMapSpec, type ShardMapStatus } from '../crds/shardmap.ts';
import { rfc3339 } from '../legos/clock.ts';
import { BackoffPolicy } from '../legos/retry.ts';
import { findCondition, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { planPlacement } from '../legos/placement/planner.ts';
import type { RoutingEntry, RoutingTable } from '../legos/placement/routing-table.ts';
import { KEY_HASH_NAME } from '../legos/placement/key-hash.ts';
import type { MemberState, PlacementMember, PlacementPlan } from '../legos/placement/types.ts';
import { invalidSpecConditions, invalidSpecEvent, type Decision, type PlannedEvent, type SpecResult } from './decision.ts';
import type { KillSwitchState } from './kill-switch.ts';
import { entryAfter, inFlight, stepMove, type Move, type MoveEntry } from './shardmap-move.ts';
import { fenceRestored, moveEntryOf, replicasByCell, routingConfigMaps, routingConfigMapName, routingEntryOf, sameEntry, settleTable, type ObservedTable } from './shardmap-table.ts';

/** A Cell the cellSelector picks, as the decider needs it. */
export interface MemberCell {
  readonly name: string;
  readonly zone?: string | undefined;
  readonly capacity: number;
  readonly state: MemberState;
}

export interface ShardMapObservation {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly spec: SpecResult<ShardMapSpec>;
  readonly status: ShardMapStatus | undefined;
  /** Cells the cellSelector picks in the namespace (deleting ones excluded). */
  readonly cells: readonly MemberCell[];
  readonly table: ObservedTable;
  /** The last-good copy of the routing table (ConfigMap `<name>-routing-last-good`). */
  readonly lastGood: ObservedTable;
  /** The table this process last published, with its checksum (the shell's memory). */
  readonly remembered?: { readonly table: RoutingTable; readonly checksum: string } | undefined;
  /** Acknowledgements by Cell, then shard → epoch. */
  readonly acks: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly killSwitch: KillSwitchState;
}

/** A log line the shell writes after the writes succeeded. */
export interface LogEvent {
  readonly event: 'rebalance_planned' | 'migration_started' | 'migration_fenced' | 'migration_done' | 'migration_failed' | 'routing_restored';
  readonly fields: Record<string, unknown>;
}

export interface ShardMapDecision extends Decision<ShardMapStatus> {
  /** The table published by `apply` (for the shell to remember once applied). */
  readonly published: { readonly table: RoutingTable; readonly checksum: string } | undefined;
  readonly logs: readonly LogEvent[];
  /** Moves started by this decision (rebalance_moves_total). */
  readonly movesStarted: number;
  readonly inFlight: number;
  /** Published load ratio per member Cell (shard_load_ratio). */
  readonly loadRatios: ReadonlyMap<string, number>;
}

/** Requeue while moves are in flight, ms (the ConfigMap's own event usually comes first). */
const IN_FLIGHT_REQUEUE_MS = 2_000;
/** Retry delays of failed moves: 5 s doubling to 5 min, no jitter (the decider is deterministic). */
const MOVE_BACKOFF = new BackoffPolicy({ initialDelayMs: 5_000, multiplier: 2, maxDelayMs: 300_000 });
const backoffMs = (attempt: number): number => MOVE_BACKOFF.baseDelay(attempt);

/** `maxInFlight` as a count: an integer, or a percentage of shards rounded up; at least 1. */
export function maxInFlightOf(spec: ShardMapSpec, cap: number): number {
  const raw = spec.migration.maxInFlight ?? 1;
  const n = typeof raw === 'number' ? raw : Math.ceil((spec.shards * Number.parseInt(raw, 10)) / 100);
  return Math.max(1, Math.min(n, cap));
}

function fingerprint(spec: ShardMapSpec, cells: readonly MemberCell[]): string {
  const key = JSON.stringify([spec.shards, spec.replicas, spec.placement, [...cells].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => [c.name, c.zone, c.capacity, c.state])]);
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** Why the members cannot carry the spec (numbers named), or undefined. */
function insufficient(spec: ShardMapSpec, cells: readonly MemberCell[]): string | undefined {
  if (cells.length === 0) return 'cellSelector matches no Cell in the namespace';
  const holders = cells.filter((c) => c.state !== 'Draining' && c.capacity > 0);
  if (holders.length < spec.replicas) return `replicas ${spec.replicas} need ${spec.replicas} Cells that can hold them (not Draining, capacity > 0); the selector picks ${holders.length}`;
  const f = spec.failureTolerance;
  if (spec.placement.spreadBy === 'zone' && f !== undefined) {
    const zones = [...new Set(holders.map((c) => c.zone ?? ''))].sort();
    if (zones.length < f + 1) return `failureTolerance ${f} with spreadBy zone needs at least ${f + 1} zones; the members span ${zones.length} (${zones.join(', ') || 'none'})`;
  }
  return undefined;
}

/** The whole decision for one reconcile at wall time `now` (ms). */
export function reconcileShardMap(input: ShardMapObservation, now: number): ShardMapDecision {
  const at = { now: rfc3339(now), generation: input.generation };
  const previous = input.status;
  const events: PlannedEvent[] = [];
  const logs: LogEvent[] = [];
  const base = { apply: [], delete: [], published: undefined, logs, movesStarted: 0, inFlight: 0, loadRatios: new Map<string, number>() };
  const enforcing = enforcingCondition(input.killSwitch, previous, events);
  if (!input.spec.ok) {
    const conditions = setConditions(previous?.conditions as Condition[] | undefined, [...invalidSpecConditions(input.spec.message, 'the routing table stays as published'), enforcing], at);
    if (findCondition(previous?.conditions as Condition[] | undefined, 'Ready')?.reason !== 'InvalidSpec') events.push(invalidSpecEvent(input.spec.message));
    return { ...base, status: { ...previous, observedGeneration: input.generation, conditions }, events, requeueAfterMs: undefined, reason: `invalid spec: ${input.spec.message}` };
  }
  let settled = settleTable(input.table, input.lastGood, input.remembered, previous);
  let publishedChecksum = input.table.kind === 'valid' ? input.table.checksum : undefined;
  if (settled.kind === 'trusted' && settled.table.version < (previous?.routingVersion ?? 0)) {
    // The cache has not caught up with our own last write: build on what was written, or wait.
    const own = input.remembered;
    if (own !== undefined && own.table.version === previous?.routingVersion) {
      settled = { kind: 'trusted', table: own.table };
      publishedChecksum = own.checksum;
    } else return { ...base, status: previous, events: [], requeueAfterMs: 250, reason: `routing ConfigMap in cache at version ${settled.table.version}, status at ${previous?.routingVersion ?? 0}: waiting for the cache` };
  }
  const observedVersion = input.table.kind === 'valid' ? input.table.table.version : 0;
  const lastGoodVersion = input.lastGood.kind === 'valid' ? input.lastGood.table.version : 0;
  const lastVersion = Math.max(previous?.routingVersion ?? 0, observedVersion, lastGoodVersion, settled.kind === 'rebuild' ? 0 : settled.table.version);
  const nextVersion = lastVersion + 1;
  const published = settled.kind === 'trusted' ? settled.table : settled.kind === 'restored' ? fenceRestored(settled.table, input.table.kind === 'valid' ? input.table.table : undefined, nextVersion) : undefined;
  const rebuildWhy = settled.kind === 'rebuild' ? settled.why : undefined;
  // A published keyspace keeps its shard count: a key's shard depends on it, so a new
  // count is a new keyspace (refused; the table stays as published, moves freeze).
  const refused = published && published.shards !== input.spec.value.shards ? shardsRefusal(published.shards, input.spec.value.shards, published.version) : undefined;
  const spec: ShardMapSpec = refused && published ? { ...input.spec.value, shards: published.shards } : input.spec.value;
  const S = spec.shards;
  const R = spec.replicas;
  const frozen = input.killSwitch.engaged || refused !== undefined;
  if (settled.kind === 'restored') logs.push({ event: 'routing_restored', fields: { why: settled.why, version: nextVersion } });
  if (settled.kind === 'restored') {
    events.push({ type: 'Warning', reason: 'RoutingTableRestored', note: `${settled.why}: restored as version ${nextVersion}` });
  }

  const members: PlacementMember[] = input.cells.map((c) => ({ name: c.name, zone: c.zone, weight: c.capacity, state: c.state }));
  const memberByName = new Map(input.cells.map((c) => [c.name, c]));
  const problem = insufficient(spec, input.cells);

  // Entries as this reconcile changes them, over the published ones.
  const changed = new Map<number, MoveEntry>();
  const entryOf = (s: number): MoveEntry => changed.get(s) ?? moveEntryOf(published?.entries[s]);
  const moveCtx = (move: Move, mayStart: boolean) => {
    const target = memberByName.get(move.to);
    return {
      nowMs: now,
      frozen,
      mayStart,
      publishedVersion: published?.version ?? 0,
      nextVersion,
      handoff: spec.migration.handoff ?? 'None',
      acknowledged: input.acks.get(move.to)?.get(move.shard) === moveEntryOf(published?.entries[move.shard]).epoch,
      timeoutMs: (spec.migration.handoffTimeoutSeconds ?? 300) * 1000,
      backoffMs,
      targetUsable: target !== undefined && target.state === 'Active' && target.capacity > 0,
    };
  };
  const counts = { started: 0, fenced: 0, done: 0, failed: 0 };
  const sample: Record<keyof typeof counts, number[]> = { started: [], fenced: [], done: [], failed: [] };
  const note = (kind: keyof typeof counts, shard: number) => {
    counts[kind]++;
    if (sample[kind].length < 10) sample[kind].push(shard);
  };
  const advance = (move: Move, mayStart: boolean): Move | undefined => {
    const step = stepMove(move, moveCtx(move, mayStart));
    if (step.move !== move) changed.set(move.shard, entryAfter(entryOf(move.shard), step.move));
    if (step.event === 'migration_started') note('started', move.shard);
    if (step.event === 'migration_fenced') note('fenced', move.shard);
    if (step.event === 'migration_done') note('done', move.shard);
    if (step.event === 'migration_failed') {
      note('failed', move.shard);
      events.push({ type: 'Warning', reason: 'MigrationFailed', note: `shard ${move.shard} → ${move.to}: ${step.move.message ?? ''}`.slice(0, 1000) });
    }
    // Done moves leave status; a failed move whose target left is dropped and replanned.
    if (step.move.phase === 'Done') return undefined;
    if (step.move.phase === 'Failed' && !moveCtx(move, false).targetUsable) return undefined;
    return step.move;
  };

  // 1. Checkpointed moves (none survive a rebuild).
  let moves: Move[] = [];
  if (published) for (const m of previous?.migrations ?? []) if (m.shard < S) moves.push(m);
  moves = moves.map((m) => advance(m, false)).filter((m): m is Move => m !== undefined);

  // 2. Plan from the published table with the moves in flight counted as done.
  let plan: PlacementPlan | undefined;
  let planProblem = problem;
  if (!problem) {
    const pendingOf = new Map(moves.map((m) => [m.shard, m]));
    const current = Array.from({ length: S }, (_, s) => {
      const e = entryOf(s);
      const m = pendingOf.get(s);
      return m ? [...e.replicas.filter((c) => c !== m.from && c !== m.to), m.to] : [...e.replicas];
    });
    const result = planPlacement({ shards: S, replicas: R, members, current: published ? current : [], policy: spec.placement });
    if (result.ok) plan = result.plan;
    else planProblem = result.message;
    if (plan && plan.unplaced > 0) planProblem = `${plan.unplaced} replicas have no member Cell within the rules (distinct Cells, spread, load caps, Cordoned takes nothing new)`;
  }

  // 3. A first (or rebuilt) table is published whole; later changes go through moves.
  let movesStarted = 0;
  if (plan && !published && !planProblem && (!frozen || rebuildWhy !== undefined)) {
    for (let s = 0; s < S; s++) changed.set(s, { replicas: plan.target[s] ?? [], joining: [], leaving: [], epoch: nextVersion });
    if (rebuildWhy) events.push({ type: 'Warning', reason: 'RoutingTableRebuilt', note: `${rebuildWhy}: rebuilt as version ${nextVersion} with every epoch raised` });
  } else if (plan && published && !frozen) {
    const busy = new Set(moves.map((m) => m.shard));
    let slots = maxInFlightOf(spec, 1024) - moves.filter(inFlight).length;
    for (const pm of plan.moves) {
      if (slots <= 0) break;
      if (busy.has(pm.shard)) continue;
      const started = advance({ shard: pm.shard, ...(pm.from === undefined ? {} : { from: pm.from }), to: pm.to, phase: 'Pending' }, true);
      if (started) moves.push(started);
      busy.add(pm.shard);
      slots--;
      movesStarted++;
    }
    // Replicas dropped without replacement (replicas shrank) leave at once, at a new epoch.
    plan.target.forEach((target, s) => {
      const e = entryOf(s);
      if (busy.has(s) || target.length >= e.replicas.length) return;
      changed.set(s, { ...e, replicas: e.replicas.filter((c) => target.includes(c)), epoch: nextVersion });
    });
  }

  // 4. Quorum guard, then publish one version with every changed entry.
  const quorum = quorumOf(spec);
  for (const [s, e] of changed) {
    const before = moveEntryOf(published?.entries[s]);
    if (published && e.replicas.length < Math.min(before.replicas.length, quorum) && R >= before.replicas.length) changed.delete(s);
  }
  const differs = [...changed].some(([s, e]) => !published || !sameEntry(e, moveEntryOf(published.entries[s])));
  const mustPublish = differs || settled.kind === 'restored';
  let next: RoutingTable | undefined = published;
  let decisionApply: ShardMapDecision['apply'] = [];
  let publishedOut: ShardMapDecision['published'];
  const owner = { name: input.name, namespace: input.namespace, uid: input.uid };
  if (mustPublish && (published || changed.size === S)) {
    const entries: RoutingEntry[] = Array.from({ length: S }, (_, s) => routingEntryOf(s, entryOf(s)));
    next = { name: input.name, version: nextVersion, shards: S, replicas: R, keyHash: KEY_HASH_NAME, entries };
    const cms = routingConfigMaps(owner, next);
    // The last-good copy first: whatever happens to the routing ConfigMap later, the
    // copy holds every version routers may have seen.
    decisionApply = [cms.lastGood, cms.routing];
    publishedOut = { table: next, checksum: cms.checksum };
  } else {
    // The last-good copy lost, edited or behind: write it again (same version). An
    // intact copy behind a version this process wrote it at is the cache lagging.
    const copy = input.lastGood;
    const intactCopy = copy.kind === 'valid' && copy.annotatedChecksum === copy.checksum;
    const lagging = intactCopy && copy.table.version < (published?.version ?? 0) && input.remembered !== undefined && input.remembered.checksum === publishedChecksum;
    if (published && !lagging && (!intactCopy || copy.checksum !== publishedChecksum)) decisionApply = [routingConfigMaps(owner, published).lastGood];
    // Nothing new to publish: a move whose table change is already out waits on that version.
    moves = moves.map((m) => (m.version === nextVersion ? { ...m, version: lastVersion } : m));
  }
  moves.sort((a, b) => a.shard - b.shard);

  // 5. Status.
  const held = replicasByCell(next);
  const planMembers = new Map((plan?.members ?? []).map((m) => [m.name, m]));
  const loadRatios = new Map<string, number>();
  for (const c of input.cells) {
    const share = planMembers.get(c.name)?.share ?? 0;
    loadRatios.set(c.name, share > 0 ? round((held.get(c.name) ?? 0) / share) : 0);
  }
  const memberStatus = [...new Set([...input.cells.map((c) => c.name), ...held.keys()])]
    .sort()
    .slice(0, 1024)
    .map((cell) => ({
      cell,
      ...(memberByName.get(cell)?.zone === undefined ? {} : { zone: memberByName.get(cell)?.zone }),
      replicas: held.get(cell) ?? 0,
      ...(loadRatios.has(cell) ? { loadRatio: loadRatios.get(cell) } : {}),
    }));
  const remaining = plan ? plan.moves.length - movesStarted + moves.length : moves.length;
  const inputs = fingerprint(spec, input.cells);
  let lastRebalance = previous?.lastRebalance;
  if (plan && published && !refused && plan.moves.length > 0 && lastRebalance?.inputs !== inputs) {
    lastRebalance = { moves: plan.moves.length, done: 0, lowerBound: plan.lowerBound, time: at.now, inputs };
    logs.push({ event: 'rebalance_planned', fields: { moves: plan.moves.length, lowerBound: plan.lowerBound, inFlightLimit: maxInFlightOf(spec, 1024) } });
    events.push({ type: 'Normal', reason: 'RebalancePlanned', note: `${plan.moves.length} replica moves planned (lower bound ${plan.lowerBound})` });
  }
  if (lastRebalance && counts.done > 0) lastRebalance = { ...lastRebalance, done: Math.min(lastRebalance.moves ?? 0, (lastRebalance.done ?? 0) + counts.done) };
  for (const kind of ['started', 'fenced', 'done', 'failed'] as const) {
    if (counts[kind] > 0) logs.push({ event: `migration_${kind}`, fields: { count: counts[kind], shards: sample[kind], version: next?.version } });
  }
  const ready: ConditionInput = refused
    ? { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: refused }
    : planProblem
    ? { type: 'Ready', status: 'False', reason: 'InsufficientMembers', message: planProblem }
    : next
      ? { type: 'Ready', status: 'True', reason: 'Published', message: `routing version ${next.version} in ConfigMap ${routingConfigMapName(input.name)}: ${S} shards × ${R} over ${input.cells.length} Cells` }
      : { type: 'Ready', status: 'False', reason: 'NotPublished', message: 'no routing table published yet' };
  const wasReady = findCondition(previous?.conditions as Condition[] | undefined, 'Ready');
  if (refused && wasReady?.reason !== 'InvalidSpec') events.push(invalidSpecEvent(refused));
  const degraded: ConditionInput = refused
    ? { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: refused }
    : { type: 'Degraded', status: 'False', reason: 'SpecValid', message: 'the spec is valid' };
  if (!refused && planProblem && findCondition(previous?.conditions as Condition[] | undefined, 'Ready')?.reason !== 'InsufficientMembers') events.push({ type: 'Warning', reason: 'InsufficientMembers', note: planProblem });
  const rebalancing: ConditionInput =
    remaining > 0
      ? { type: 'Rebalancing', status: 'True', reason: input.killSwitch.engaged ? 'KillSwitchEngaged' : frozen ? 'InvalidSpec' : 'MovesInFlight', message: `${moves.filter(inFlight).length} moves in flight, ${remaining} to go${lastRebalance?.lowerBound === undefined ? '' : ` (lower bound ${lastRebalance.lowerBound})`}` }
      : { type: 'Rebalancing', status: 'False', reason: 'Balanced', message: `every replica where the plan wants it (max load ratio ${Math.max(0, ...loadRatios.values())})` };
  const spread = plan?.spread;
  const spreadCondition: ConditionInput =
    spread?.degraded === true
      ? {
          type: 'SpreadDegraded',
          status: 'True',
          reason: 'TooFewZones',
          message: `spreadBy zone needs ${R} zones, the members span ${spread.domains.length} (${spread.domains.join(', ')}): up to ${spread.perDomainLimit} replicas of a shard share a zone; ${R - spread.domains.length} zone(s) missing`,
        }
      : { type: 'SpreadDegraded', status: 'False', reason: 'Spread', message: `replicas of each shard on distinct ${spec.placement.spreadBy === 'zone' ? 'zones' : 'Cells'}` };
  const progressing: ConditionInput = { ...rebalancing, type: 'Progressing' };
  const conditions = setConditions(previous?.conditions as Condition[] | undefined, [ready, rebalancing, progressing, spreadCondition, enforcing, degraded], at);
  const status: ShardMapStatus = {
    ...previous,
    observedGeneration: input.generation,
    conditions,
    ...(next ? { routingConfigMap: routingConfigMapName(input.name), routingVersion: next.version } : {}),
    ...(publishedOut ? { routingChecksum: publishedOut.checksum } : {}),
    members: memberStatus,
    balance: { maxLoadRatio: Math.max(0, ...loadRatios.values()) },
    migrations: moves,
    ...(lastRebalance ? { lastRebalance } : {}),
  };
  const due = moves.flatMap((m) => (m.retryTime ? [Date.parse(m.retryTime) - now] : m.phase === 'Copying' && m.phaseTime ? [Date.parse(m.phaseTime) + (spec.migration.handoffTimeoutSeconds ?? 300) * 1000 - now] : []));
  const requeueAfterMs = moves.length > 0 || remaining > 0 ? Math.max(100, Math.min(IN_FLIGHT_REQUEUE_MS, ...due)) : undefined;
  return {
    apply: decisionApply,
    delete: [],
    status,
    events,
    requeueAfterMs,
    reason: `${next ? `version ${next.version}` : 'no table'}${publishedOut ? ' (publishing)' : ''}; ${moves.filter(inFlight).length} moves in flight, ${remaining} to go${frozen ? '; kill switch engaged' : ''}`,
    published: publishedOut,
    logs,
    movesStarted,
    inFlight: moves.filter(inFlight).length,
    loadRatios,
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** The message of a refused change of `spec.shards` (names the field, the numbers and what to do). */
function shardsRefusal(published: number, wanted: number, version: number): string {
  return (
    `spec.shards: changed from ${published} to ${wanted} after routing version ${version} was published with ${published} shards; ` +
    `a key's shard depends on the shard count, so ${wanted} shards is a new keyspace. The routing table stays as published and no move starts: ` +
    `set spec.shards back to ${published}, or create a new ShardMap with ${wanted} shards, copy the data, point clients at its routing ConfigMap, then delete this one`
  );
}

function enforcingCondition(killSwitch: KillSwitchState, previous: ShardMapStatus | undefined, events: PlannedEvent[]): ConditionInput {
  const before = findCondition(previous?.conditions as Condition[] | undefined, 'Enforcing');
  if (killSwitch.engaged) {
    const message = `kill switch engaged (${killSwitch.scope ?? 'resource'}): no move starts, moves in flight stop at their checkpoint, the routing table stays as published`;
    if (before?.reason !== 'KillSwitchEngaged') events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: message });
    return { type: 'Enforcing', status: 'False', reason: 'KillSwitchEngaged', message };
  }
  if (before?.reason === 'KillSwitchEngaged') events.push({ type: 'Normal', reason: 'KillSwitchReleased', note: 'kill switch released: rebalancing resumes' });
  return { type: 'Enforcing', status: 'True', reason: 'Enforcing', message: 'placement changes are planned and carried out' };
}
