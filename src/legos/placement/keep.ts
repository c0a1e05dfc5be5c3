/**
 * Phase 0 of the placement planner: keep the valid part of the current assignment.
 * Replicas on gone or Draining members leave (`MemberGone`, `Draining`), duplicates go,
 * and a shard over the domain limit or over `replicas` sheds the replicas on the
 * members that have kept the most for their share so far (they stay as stand-ins,
 * `Assignment.alternates`). Also counts what the lower bound needs (`lower-bound.ts`):
 * replicas keepable in place, slots that must be filled although a valid replica
 * exists, and per domain the slots blocked for it. Pure.
 *
 * Limitations: greedy per shard in shard order; which replica of an over-full shard is
 * kept depends on the shards before it (deterministic, not optimal in every case).
 */
import type { Assignment } from './assignment.ts';
import type { PlacementMember } from './types.ts';

/** What phase 0 measured, for the lower bound. */
export interface KeptCounts {
  /** Replicas that can stay where they are (at most R per shard, L per domain). */
  readonly keep1: number;
  /** Slots to fill although the shard has a valid replica on a blocked domain. */
  readonly forcedSlots: number;
  /** Per domain: forced slots that cannot go to it. */
  readonly blockedSlots: Float64Array;
  /** Valid replicas each member holds before anything is shed. */
  readonly rawHeld: Int32Array;
}

/** Phase 0 over `current` (shard → Cell names), with pass-1 shares `share1`. */
export function keepCurrent(a: Assignment, current: readonly (readonly string[] | undefined)[], share1: readonly number[]): KeptCounts {
  const { S, R, L, M, members, index, domainOf, domainNames } = a.ctx;
  const { slots, held, changed, alternates } = a;
  const rawHeld = new Int32Array(M);
  // Which replica of a shard to keep first: the one on the member that has kept the
  // least for its share so far (so members near their cap shed first; index breaks ties).
  const keptRatio = (i: number): number => ((share1[i] as number) > 0 ? (held[i] as number) / (share1[i] as number) : Infinity);
  const keepFirst = (x: number, y: number): number => keptRatio(x) - keptRatio(y) || x - y;
  let keep1 = 0;
  const domainCount = new Int32Array(domainNames.length);
  const valid: number[] = [];
  let forcedSlots = 0;
  const blockedSlots = new Float64Array(domainNames.length);
  for (let s = 0; s < S; s++) {
    valid.length = 0;
    const names = current[s] ?? [];
    for (const name of names) {
      const i = index.get(name);
      if (i === undefined) a.depart(s, name, 'MemberGone');
      else if (members[i]?.state === 'Draining') a.depart(s, name, 'Draining');
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
      if (domainCount[d] <= L) keepable++;
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
        if (sameDomain > L) a.depart(s, (members[i] as PlacementMember).name, 'Spread');
      }
    }
    for (let k = 0; k < kept.length; k++) {
      const i = kept[k] as number;
      slots[s * R + k] = i;
      held[i] = (held[i] as number) + 1;
    }
    if (kept.length < R) changed[s] = 1;
  }
  return { keep1, forcedSlots, blockedSlots, rawHeld };
}
