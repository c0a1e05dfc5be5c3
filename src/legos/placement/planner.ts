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
 * Algorithm (O(replicas × log members) per placement): drop invalid replicas (gone,
 * Draining, duplicates, over the domain limit, over `replicas`), then Cordoned and
 * Active excess over caps (shards in a fixed hash order), fill every empty slot on the
 * allowed member furthest below its share (so members below their floor first), then
 * move replicas from the members furthest above their share to members still below their floor.
 * A slot no member can take tries one swap (move another shard off a full member).
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
import { IndexHeap } from './heap.ts';
import { placementLowerBound } from './lower-bound.ts';
import { capOf, floorOf, twoLevelShares, type ShareMember } from './shares.ts';
import type { MemberPlan, MoveReason, PlacementInput, PlacementResult, PlannedMove } from './types.ts';

const REASON_ORDER: Record<MoveReason, number> = { MemberGone: 0, Draining: 1, Spread: 2, OverCap: 3, Missing: 4, Balance: 5 };
/** Receivers tied for best among which a slot picks by hash. */
const MAX_TIED = 16;
/** Receivers whose excess after receiving is within this many replicas of the best count as tied. */
const TIE_WINDOW = 1;
/** Upper bound on member/shard checks the swap repair may spend in one plan. */
const REPAIR_BUDGET = 200_000;

/** A fixed 32-bit mix, so excess is shed from shards spread over the keyspace. */
function mix(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Plans a placement; see the module header for the guarantees. */
export function planPlacement(input: PlacementInput): PlacementResult {
  const { shards: S, replicas: R, policy } = input;
  // Work in name order so that ties (broken by index) do not depend on how members are listed.
  const members = [...input.members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const M = members.length;
  const f = policy.maxLoadFactor;
  if (!Number.isInteger(S) || S < 1 || !Number.isInteger(R) || R < 1) return { ok: false, reason: 'InvalidInput', message: `shards (${S}) and replicas (${R}) must be positive integers` };
  if (!(f >= 1)) return { ok: false, reason: 'InvalidInput', message: `maxLoadFactor ${f} is below 1` };
  const index = new Map<string, number>();
  for (let i = 0; i < M; i++) {
    const m = members[i] as (typeof members)[number];
    if (index.has(m.name)) return { ok: false, reason: 'InvalidInput', message: `member ${m.name} is listed twice` };
    if (!(m.weight >= 0)) return { ok: false, reason: 'InvalidInput', message: `member ${m.name} has weight ${m.weight}` };
    index.set(m.name, i);
  }
  // Failure domains, numbered in sorted order so the plan does not depend on member order.
  const domainNameOf = members.map((m) => (policy.spreadBy === 'zone' ? (m.zone ?? '') : m.name));
  const domainNames = [...new Set(domainNameOf)].sort();
  const domainIndex = new Map(domainNames.map((d, k) => [d, k]));
  const domainOf = Int32Array.from(domainNameOf, (d) => domainIndex.get(d) as number);
  const isHolder = (i: number): boolean => members[i]?.state !== 'Draining' && (members[i]?.weight ?? 0) > 0;
  const holderDomains = new Set<string>();
  let holders = 0;
  for (let i = 0; i < M; i++) {
    if (isHolder(i)) {
      holders++;
      holderDomains.add(domainNameOf[i] as string);
    }
  }
  if (holders < R) return { ok: false, reason: 'InsufficientMembers', message: `${R} replicas need ${R} members that can hold them, found ${holders}` };
  const D = holderDomains.size;
  const L = D >= R ? 1 : Math.ceil(R / D);
  const T = S * R;

  // Pass 1 shares: every holder (Cordoned ones keep up to their pass-1 cap).
  const shareMembers: ShareMember[] = members.map((m, i) => ({ weight: isHolder(i) ? m.weight : 0, domain: domainOf[i] as number }));
  const share1 = twoLevelShares(T, shareMembers, S, domainNames.map(() => S * L));

  // Phase 0: the valid part of the current assignment.
  const slots = new Int32Array(T).fill(-1);
  const held = new Int32Array(M);
  const departed = new Map<number, Map<string, MoveReason>>(); // shard → cell → why it left
  const depart = (s: number, name: string, reason: MoveReason): void => {
    let m = departed.get(s);
    if (!m) departed.set(s, (m = new Map<string, MoveReason>()));
    if (!m.has(name)) m.set(name, reason);
  };
  const rawHeld = new Int32Array(M);
  /** Shards whose replica set the plan changes (the rest keep their current list as is). */
  const changed = new Uint8Array(S);
  // Which replica of a shard to keep first: the one on the member that has kept the
  // least for its share so far (so members near their cap shed first; index breaks ties).
  const keptRatio = (i: number): number => ((share1[i] as number) > 0 ? (held[i] as number) / (share1[i] as number) : Infinity);
  const keepFirst = (a: number, b: number): number => keptRatio(a) - keptRatio(b) || a - b;
  let keep1 = 0;
  /** Valid replicas a shard did not keep (spread or surplus): free stand-ins when a kept one is shed. */
  const alternates = new Map<number, number[]>();
  const domainCount = new Int32Array(domainNames.length);
  const valid: number[] = [];
  let forcedSlots = 0;
  const blockedSlots = new Float64Array(domainNames.length);
  for (let s = 0; s < S; s++) {
    valid.length = 0;
    const names = input.current[s] ?? [];
    for (const name of names) {
      const i = index.get(name);
      if (i === undefined) depart(s, name, 'MemberGone');
      else if (members[i]?.state === 'Draining') depart(s, name, 'Draining');
      else if (!valid.includes(i)) valid.push(i);
    }
    if (valid.length !== names.length) changed[s] = 1;
    for (const i of valid) {
      rawHeld[i] = (rawHeld[i] as number) + 1;
      domainCount[domainOf[i] as number] = 0;
    }
    let keepable = 0;
    for (const i of valid) {
      const d = domainOf[i] as number;
      domainCount[d] = (domainCount[d] as number) + 1;
      if ((domainCount[d]) <= L) keepable++;
    }
    keep1 += Math.min(R, keepable);
    const forced = R - Math.min(R, keepable);
    if (forced > 0) {
      forcedSlots += forced;
      // Domains this shard cannot enter without moving a replica it keeps there.
      for (const i of valid) {
        const d = domainOf[i] as number;
        if ((domainCount[d] as number) >= L) {
          blockedSlots[d] = (blockedSlots[d] as number) + forced;
          domainCount[d] = -R; // count each domain once
        }
      }
      for (const i of valid) if ((domainCount[domainOf[i] as number] as number) < 0) domainCount[domainOf[i] as number] = L;
    }
    let kept: readonly number[] = valid;
    if (keepable !== valid.length || valid.length > R) {
      // Shed over the domain limit, then over `replicas`, keeping the least loaded first.
      changed[s] = 1;
      const order = [...valid].sort(keepFirst);
      for (const i of valid) domainCount[domainOf[i] as number] = 0;
      const keepSet = new Set<number>();
      for (const i of order) {
        const d = domainOf[i] as number;
        if ((domainCount[d] as number) >= L || keepSet.size >= R) continue;
        domainCount[d] = (domainCount[d] as number) + 1;
        keepSet.add(i);
      }
      kept = valid.filter((i) => keepSet.has(i));
      const alt = valid.filter((i) => !keepSet.has(i));
      alternates.set(s, alt);
      for (const i of alt) {
        // Over the domain limit is a spread move; over `replicas` a plain removal.
        const sameDomain = valid.filter((j) => domainOf[j] === domainOf[i]).length;
        if (sameDomain > L) depart(s, (members[i] as (typeof members)[number]).name, 'Spread');
      }
    }
    for (let k = 0; k < kept.length; k++) {
      const i = kept[k] as number;
      slots[s * R + k] = i;
      held[i] = (held[i] as number) + 1;
    }
    if (kept.length < R) changed[s] = 1;
  }

  // Member → shards held (kept in sync by the helpers below).
  const lists: number[][] = Array.from({ length: M }, () => []);
  for (let s = 0; s < S; s++) {
    for (let k = 0; k < R; k++) {
      const i = slots[s * R + k] as number;
      if (i >= 0) lists[i]?.push(s);
    }
  }
  const slotOf = (s: number, i: number): number => {
    for (let k = 0; k < R; k++) if (slots[s * R + k] === i) return s * R + k;
    return -1;
  };
  /** Can member `i` take a replica of shard `s` (ignoring the replica on `leaving`)? */
  const accepts = (s: number, i: number, leaving: number): boolean => {
    const d = domainOf[i] as number;
    let inDomain = 0;
    for (let k = 0; k < R; k++) {
      const j = slots[s * R + k] as number;
      if (j < 0 || j === leaving) continue;
      if (j === i) return false;
      if (domainOf[j] === d) inDomain++;
    }
    return inDomain < L;
  };
  /** Replicas the Active members of each domain lack to reach their floors (set before shedding). */
  const needIn = new Float64Array(domainNames.length);
  /** A replica of `s` not kept in phase 0 that can stand in for the one on `i` (within `limit`). */
  const standIn = (s: number, i: number, limit: (j: number) => number): number => {
    for (const j of alternates.get(s) ?? []) {
      if ((held[j] as number) < limit(j) && members[j]?.state !== 'Draining' && accepts(s, j, i)) return j;
    }
    return -1;
  };
  /** Sheds `i` down to `keep` replicas: shards with a stand-in first, then in a fixed hash order. */
  const shedExcess = (i: number, keep: number, reason: MoveReason, limit: (j: number) => number): void => {
    const list = lists[i] as number[];
    if (list.length <= keep) return;
    // Shards with a stand-in cost nothing; shards already missing a replica last, so no
    // shard loses two at once (its replacements would compete for the same domains).
    // Among the rest, shards free to enter the domains whose members are below their
    // floor go first, so the replacements can fill those floors instead of costing more moves.
    const rank = (s: number): number => {
      if (alternates.has(s)) return 0;
      let blocked = 0;
      for (let k = 0; k < R; k++) {
        const j = slots[s * R + k] as number;
        if (j === -1) return Infinity;
        if (j === i) continue;
        const d = domainOf[j] as number;
        let inDomain = 0;
        for (let k2 = 0; k2 < R; k2++) {
          const j2 = slots[s * R + k2] as number;
          if (j2 >= 0 && j2 !== i && domainOf[j2] === d) inDomain++;
        }
        if (inDomain >= L) blocked += needIn[d] as number;
      }
      return 1 + blocked;
    };
    const ranks = new Map(list.map((s) => [s, rank(s)]));
    list.sort((a, b) => (ranks.get(a) as number) - (ranks.get(b) as number) || mix(a) - mix(b) || a - b);
    const shed = list.splice(0, list.length - keep);
    for (const s of shed) {
      changed[s] = 1;
      const at = slotOf(s, i);
      const j = standIn(s, i, limit);
      slots[at] = j;
      if (j >= 0) {
        held[j] = (held[j] as number) + 1;
        lists[j]?.push(s);
        const alt = alternates.get(s) as number[];
        alt.splice(alt.indexOf(j), 1);
      }
      depart(s, (members[i] as (typeof members)[number]).name, reason);
    }
    held[i] = keep;
  };

  // Cordoned members keep up to their pass-1 cap; the rest is shared over Active members.
  const cap = new Int32Array(M);
  const floor = new Int32Array(M);
  const share = new Float64Array(M);
  const fixedInDomain = domainNames.map(() => 0);
  let fixedTotal = 0;
  for (let i = 0; i < M; i++) {
    if (members[i]?.state !== 'Cordoned') continue;
    cap[i] = isHolder(i) ? capOf(share1[i] as number, f, S) : 0;
    share[i] = share1[i] as number;
    shedExcess(i, Math.min(held[i] as number, cap[i] as number), 'OverCap', (j) => (isHolder(j) && (share1[j] as number) > 0 ? capOf(share1[j] as number, f, S) : 0));
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
    if (members[i]?.state === 'Active') shedExcess(i, Math.min(held[i] as number, cap[i] as number), 'OverCap', (j) => (members[j]?.state === 'Active' ? (cap[j] as number) : 0));
  }

  const lowerBound = placementLowerBound({
    total: T,
    keep1,
    forcedSlots,
    blockedSlots,
    members: members.map((m, i) => ({ domain: domainOf[i] as number, held: isHolder(i) ? (rawHeld[i] as number) : 0, cap: m.state === 'Draining' ? 0 : (cap[i] as number), floor: floor[i] as number })),
  });

  const place = (s: number, i: number): void => {
    changed[s] = 1;
    const base = s * R;
    for (let k = 0; k < R; k++) {
      if (slots[base + k] === -1) {
        slots[base + k] = i;
        break;
      }
    }
    held[i] = (held[i] as number) + 1;
    lists[i]?.push(s);
  };
  const relocate = (s: number, from: number, to: number, reason: MoveReason): void => {
    slots[slotOf(s, from)] = -1;
    const list = lists[from] as number[];
    const at = list.indexOf(s);
    if (at >= 0) {
      list[at] = list[list.length - 1] as number;
      list.pop();
    }
    held[from] = (held[from] as number) - 1;
    depart(s, (members[from] as (typeof members)[number]).name, reason);
    place(s, to);
  };

  // Phase 2: fill empty slots on the allowed Active member with the lowest ratio after receiving.
  // Receivers by how far above their share they would be after receiving (largest
  // remainder first): unlike the ratio, this picks the same member whichever side of a
  // small weight change the plan runs on, so alternating weights settle instead of
  // moving one replica back and forth.
  const receiverBefore = (a: number, b: number): boolean => {
    const ea = (held[a] as number) + 1 - (share[a] as number);
    const eb = (held[b] as number) + 1 - (share[b] as number);
    return ea < eb || (ea === eb && a < b);
  };
  const receivers = new IndexHeap(receiverBefore);
  for (let i = 0; i < M; i++) if (members[i]?.state === 'Active' && (share[i] as number) > 0 && (held[i] as number) < (cap[i] as number)) receivers.push(i);
  let unplaced = 0;
  let budget = REPAIR_BUDGET;
  const skipped: number[] = [];
  const tied: number[] = [];
  const belowFloor = (i: number): boolean => (held[i] as number) < (floor[i] as number);
  for (let s = 0; s < S; s++) {
    for (let k = 0; k < R; k++) {
      if (slots[s * R + k] !== -1) continue;
      // Among receivers tied for best, pick one by a hash of the slot, so shards do not
      // all get the same combination of domains (which would leave a shed shard's
      // replacements nowhere to go but a few domains).
      tied.length = 0;
      let best = Infinity;
      while (receivers.size > 0 && tied.length < MAX_TIED) {
        const i = receivers.pop() as number;
        if ((held[i] as number) >= (cap[i] as number)) continue; // filled by a repair since it was pushed
        const e = (held[i] as number) + 1 - (share[i] as number);
        if (e > best + TIE_WINDOW || (tied.length > 0 && belowFloor(i) !== belowFloor(tied[0] as number))) {
          skipped.push(i);
          break;
        }
        if (accepts(s, i, -1)) {
          tied.push(i);
          best = Math.min(best, e);
        } else skipped.push(i);
      }
      const chosen = tied.length === 0 ? -1 : (tied[mix(s * R + k) % tied.length] as number);
      for (const i of tied) if (i !== chosen) skipped.push(i);
      if (chosen >= 0) {
        place(s, chosen);
        if ((held[chosen] as number) < (cap[chosen] as number)) receivers.push(chosen);
      } else if (!repair(s)) {
        unplaced++;
      }
      for (const i of skipped) receivers.push(i);
      skipped.length = 0;
    }
  }

  /** One swap: a full Active member `j` that accepts `s` gives another shard to a member with room. */
  function repair(s: number): boolean {
    for (let j = 0; j < M && budget > 0; j++) {
      if (members[j]?.state !== 'Active' || !accepts(s, j, -1)) continue;
      for (const t of lists[j] as number[]) {
        for (let k2 = 0; k2 < M && budget > 0; k2++, budget--) {
          if (k2 === j || members[k2]?.state !== 'Active' || (held[k2] as number) >= (cap[k2] as number)) continue;
          if (!accepts(t, k2, j)) continue;
          const wasFull = (held[k2] as number) + 1 >= (cap[k2] as number);
          relocate(t, j, k2, 'Balance');
          place(s, j);
          if (wasFull) rebuildReceivers();
          return true;
        }
      }
    }
    return false;
  }
  function rebuildReceivers(): void {
    skipped.length = 0; // every member with room goes back in below, once
    while (receivers.size > 0) receivers.pop();
    for (let i = 0; i < M; i++) if (members[i]?.state === 'Active' && (share[i] as number) > 0 && (held[i] as number) < (cap[i] as number)) receivers.push(i);
  }

  // Phase 3: members below their floor take replicas from the most loaded members.
  const excess = (i: number): number => (held[i] as number) - (share[i] as number);
  const needy = new IndexHeap((a, b) => excess(a) < excess(b) || (excess(a) === excess(b) && a < b));
  const donors = new IndexHeap((a, b) => excess(a) > excess(b) || (excess(a) === excess(b) && a < b));
  for (let i = 0; i < M; i++) {
    if (members[i]?.state === 'Active' && (held[i] as number) < (floor[i] as number)) needy.push(i);
    if ((held[i] as number) > (floor[i] as number)) donors.push(i);
  }
  let floorShortfall = 0;
  while (needy.size > 0) {
    const r = needy.pop() as number;
    let moved = false;
    while (donors.size > 0 && !moved) {
      const d = donors.pop() as number;
      const list = lists[d] as number[];
      for (let p = 0; p < list.length; p++) {
        const s = list[p] as number;
        if (!accepts(s, r, d)) continue;
        relocate(s, d, r, 'Balance');
        moved = true;
        break;
      }
      if (moved) {
        if ((held[d] as number) > (floor[d] as number)) donors.push(d);
      } else skipped.push(d);
    }
    for (const i of skipped) donors.push(i);
    skipped.length = 0;
    if (moved) {
      if ((held[r] as number) < (floor[r] as number)) needy.push(r);
    } else floorShortfall += (floor[r] as number) - (held[r] as number);
  }

  return { ok: true, plan: buildPlan() };

  function buildPlan() {
    const target: string[][] = new Array<string[]>(S);
    const moves: PlannedMove[] = [];
    for (let s = 0; s < S; s++) {
      const before = input.current[s] ?? [];
      if (changed[s] === 0) {
        target[s] = [...before];
        continue;
      }
      const kept: string[] = [];
      const added: string[] = [];
      for (let k = 0; k < R; k++) {
        const i = slots[s * R + k] as number;
        if (i < 0) continue;
        const name = (members[i] as (typeof members)[number]).name;
        (before.includes(name) ? kept : added).push(name);
      }
      kept.sort((a, b) => before.indexOf(a) - before.indexOf(b));
      target[s] = kept.concat(added);
      if (added.length === 0) continue;
      const gone = [...(departed.get(s) ?? new Map<string, MoveReason>())].filter(([name]) => !kept.includes(name) && !added.includes(name));
      gone.sort((a, b) => REASON_ORDER[a[1]] - REASON_ORDER[b[1]]);
      added.forEach((to, k) => {
        const from = gone[k];
        moves.push(from ? { shard: s, from: from[0], to, reason: from[1] } : { shard: s, to, reason: 'Missing' });
      });
    }
    moves.sort((a, b) => REASON_ORDER[a.reason] - REASON_ORDER[b.reason] || a.shard - b.shard);
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
    return {
      target,
      moves,
      lowerBound,
      members: input.members.map((m) => memberPlans[index.get(m.name) as number] as MemberPlan),
      spread: { domains: [...holderDomains].sort(), perDomainLimit: L, degraded: policy.spreadBy === 'zone' && D < R },
      unplaced,
      floorShortfall,
    };
  }
}
