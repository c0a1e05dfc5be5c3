/**
 * The placement planner, pure: from the current assignment of `shards × replicas`
 * replicas to member Cells, the members (zone, capacity weight, state) and the policy,
 * a target assignment, the ordered moves to reach it, and the lower bound the number
 * of moves is measured against.
 *
 * Guarantees (each property-tested in `planner.test.ts`):
 * - the replicas of a shard sit on distinct Cells, at most `perDomainLimit` per domain
 *   (1 when there are at least `replicas` domains: distinct zones under spreadBy zone;
 *   otherwise ceil(replicas / domains), the least any placement can do for the
 *   worst-case loss of one domain);
 * - no member holds more than its cap `ceil(maxLoadFactor × share)` (shares in
 *   `shares.ts`); Cordoned members receive nothing new; Draining and removed members
 *   end with nothing; Active members end with at least `floor(share / maxLoadFactor)`
 *   whenever a donor shard fits (so a new Cell takes load);
 * - deterministic (no clock, no randomness, ties broken by member name and a hash of
 *   the slot) and stable: an assignment already within the bounds plans 0 moves, so
 *   applying a plan and planning again gives 0; weight changes smaller than the slack
 *   of `maxLoadFactor` settle (alternating two such weightings stops moving anything);
 * - moves are replica placements (a removed replica that is not replaced, when
 *   `replicas` shrinks, is not a move).
 *
 * Lower bound: see `lower-bound.ts`; the plan reports it beside its moves.
 *
 * Algorithm (O(replicas × log members) per placement), one module per phase over the
 * working state in `assignment.ts`: drop invalid replicas (gone, Draining, duplicates,
 * over the domain limit, over `replicas`; `keep.ts`), then Cordoned and Active excess
 * over caps (`shed.ts`), fill every empty slot on the allowed member furthest below its
 * share (so members below their floor first), then move replicas from the members
 * furthest above their share to members still below their floor (`fill.ts`). A slot no
 * member can take tries one swap (move another shard off a full member). This module
 * computes the shares, caps and floors between the phases and assembles the plan.
 *
 * Limitations: weight swings larger than the `maxLoadFactor` slack can move one
 * replica back and forth between two members on every swing (their bounds then barely
 * overlap and the planner does not aim for the overlap); greedy, so on small tightly
 * constrained instances it can exceed the optimum (about 1 in 1,000 random instances
 * against exhaustive search, by one move) or, rarely, fail to place
 * a replica a cleverer chain of swaps would place (`unplaced`); the lower bound ignores
 * interactions between the domain rule and caps, so it can be below the optimum; the
 * moves are not ordered for hand-off (see the migration state machine).
 */
import { Assignment, planContext, type PlanContext } from './assignment.ts';
import { fillEmptySlots, raiseFloors, type Bounds } from './fill.ts';
import { keepCurrent } from './keep.ts';
import { placementLowerBound } from './lower-bound.ts';
import { capOf, floorOf, twoLevelShares, type ShareMember } from './shares.ts';
import { shedExcess } from './shed.ts';
import type { MemberPlan, MoveReason, PlacementInput, PlacementPlan, PlacementResult, PlannedMove } from './types.ts';

const REASON_ORDER: Record<MoveReason, number> = { MemberGone: 0, Draining: 1, Spread: 2, OverCap: 3, Missing: 4, Balance: 5 };

/** Plans a placement; see the module header for the guarantees. */
export function planPlacement(input: PlacementInput): PlacementResult {
  const checked = planContext(input);
  if (!checked.ok) return checked;
  const ctx = checked.ctx;
  const { S, T, L, f, M, members, domainOf, domainNames, isHolder } = ctx;

  // Pass 1 shares: every holder (Cordoned ones keep up to their pass-1 cap).
  const shareMembers: ShareMember[] = members.map((m, i) => ({ weight: isHolder(i) ? m.weight : 0, domain: domainOf[i] as number }));
  const share1 = twoLevelShares(T, shareMembers, S, domainNames.map(() => S * L));

  // Phase 0: the valid part of the current assignment.
  const a = new Assignment(ctx);
  const kept = keepCurrent(a, input.current, share1);
  a.indexLists();
  const { held } = a;

  // Phase 1: Cordoned members keep up to their pass-1 cap; the rest is shared over Active members.
  const cap = new Int32Array(M);
  const floor = new Int32Array(M);
  const share = new Float64Array(M);
  /** Replicas the Active members of each domain lack to reach their floors (set before shedding). */
  const needIn = new Float64Array(domainNames.length);
  const fixedInDomain = domainNames.map(() => 0);
  let fixedTotal = 0;
  for (let i = 0; i < M; i++) {
    if (members[i]?.state !== 'Cordoned') continue;
    cap[i] = isHolder(i) ? capOf(share1[i] as number, f, S) : 0;
    share[i] = share1[i] as number;
    shedExcess(a, i, Math.min(held[i] as number, cap[i] as number), 'OverCap', (j) => (isHolder(j) && (share1[j] as number) > 0 ? capOf(share1[j] as number, f, S) : 0), needIn);
  }
  for (let i = 0; i < M; i++) {
    if (members[i]?.state !== 'Cordoned') continue;
    fixedInDomain[domainOf[i] as number] = (fixedInDomain[domainOf[i] as number] as number) + (held[i] as number);
    fixedTotal += held[i] as number;
  }
  const activeShareMembers = members.map((m, i) => ({ weight: m.state === 'Active' && isHolder(i) ? m.weight : 0, domain: domainOf[i] as number }));
  const share2 = twoLevelShares(T - fixedTotal, activeShareMembers, S, fixedInDomain.map((x) => S * L - x));
  for (let i = 0; i < M; i++) {
    if (members[i]?.state !== 'Active') continue;
    share[i] = share2[i] as number;
    cap[i] = capOf(share[i] as number, f, S);
    floor[i] = Math.min(cap[i] as number, floorOf(share[i] as number, f));
  }
  for (let i = 0; i < M; i++) {
    if (members[i]?.state === 'Active') needIn[domainOf[i] as number] = (needIn[domainOf[i] as number] as number) + Math.max(0, (floor[i] as number) - (held[i] as number));
  }
  for (let i = 0; i < M; i++) {
    if (members[i]?.state === 'Active') shedExcess(a, i, Math.min(held[i] as number, cap[i] as number), 'OverCap', (j) => (members[j]?.state === 'Active' ? (cap[j] as number) : 0), needIn);
  }

  const lowerBound = placementLowerBound({
    total: T,
    keep1: kept.keep1,
    forcedSlots: kept.forcedSlots,
    blockedSlots: kept.blockedSlots,
    members: members.map((m, i) => ({ domain: domainOf[i] as number, held: isHolder(i) ? (kept.rawHeld[i] as number) : 0, cap: m.state === 'Draining' ? 0 : (cap[i] as number), floor: floor[i] as number })),
  });

  // Phases 2 and 3: fill empty slots, then raise members to their floors.
  const bounds: Bounds = { share, cap, floor };
  const unplaced = fillEmptySlots(a, bounds);
  const floorShortfall = raiseFloors(a, bounds);
  return { ok: true, plan: buildPlan(input, a, bounds, { lowerBound, unplaced, floorShortfall }) };
}

/** The plan from the final assignment: targets (kept replicas in their order, then added ones), moves, members. */
function buildPlan(input: PlacementInput, a: Assignment, { share, cap, floor }: Bounds, counts: { lowerBound: number; unplaced: number; floorShortfall: number }): PlacementPlan {
  const ctx: PlanContext = a.ctx;
  const { S, R, L, members, domainNameOf, holderDomains, index } = ctx;
  const { slots, held, changed, departed } = a;
  const target: string[][] = new Array<string[]>(S);
  const moves: PlannedMove[] = [];
  for (let s = 0; s < S; s++) {
    const before = input.current[s] ?? [];
    if (changed[s] === 0) {
      target[s] = [...before];
      continue;
    }
    const keptNames: string[] = [];
    const added: string[] = [];
    for (let k = 0; k < R; k++) {
      const i = slots[s * R + k] as number;
      if (i < 0) continue;
      const name = (members[i] as (typeof members)[number]).name;
      (before.includes(name) ? keptNames : added).push(name);
    }
    keptNames.sort((x, y) => before.indexOf(x) - before.indexOf(y));
    target[s] = keptNames.concat(added);
    if (added.length === 0) continue;
    const gone = [...(departed.get(s) ?? new Map<string, MoveReason>())].filter(([name]) => !keptNames.includes(name) && !added.includes(name));
    gone.sort((x, y) => REASON_ORDER[x[1]] - REASON_ORDER[y[1]]);
    added.forEach((to, k) => {
      const from = gone[k];
      moves.push(from ? { shard: s, from: from[0], to, reason: from[1] } : { shard: s, to, reason: 'Missing' });
    });
  }
  moves.sort((x, y) => REASON_ORDER[x.reason] - REASON_ORDER[y.reason] || x.shard - y.shard);
  const memberPlans: MemberPlan[] = members.map((m, i) => ({
    name: m.name,
    state: m.state,
    domain: domainNameOf[i] as string,
    share: share[i] as number,
    cap: cap[i] as number,
    floor: floor[i] as number,
    replicas: held[i] as number,
    loadRatio: (share[i] as number) > 0 ? (held[i] as number) / (share[i] as number) : 0,
  }));
  const D = holderDomains.size;
  return {
    target,
    moves,
    lowerBound: counts.lowerBound,
    members: input.members.map((m) => memberPlans[index.get(m.name) as number] as MemberPlan),
    spread: { domains: [...holderDomains].sort(), perDomainLimit: L, degraded: input.policy.spreadBy === 'zone' && D < R },
    unplaced: counts.unplaced,
    floorShortfall: counts.floorShortfall,
  };
}
