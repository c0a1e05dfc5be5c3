/**
 * The lower bound a placement plan is measured against: fewer replica placements than
 * this, no assignment with exactly `replicas` replicas per shard within the same bounds
 * (caps, floors, per-domain limit, Cordoned takes nothing new, Draining and removed
 * members hold nothing) can make. Pure; the planner computes its inputs in one pass over
 * the current assignment.
 *
 * With `h[i]` the distinct replicas member `i` validly holds today (a member that can
 * hold, not Draining, not removed):
 * - `keep1 = Σ_shards min(replicas, Σ_domains min(held in domain, perDomainLimit))` and
 *   `keep2 = Σ_members min(h[i], cap[i])` both bound the replicas that can stay, so
 *   `shards × replicas − min(keep1, keep2)` must be placed (this is the issue's
 *   "replicas that must leave removed, draining or constraint-breaking members plus each
 *   member's excess over its cap" when shards are complete);
 * - every Active member below its floor must receive `floor[i] − min(h[i], cap[i])`;
 * - per domain `z`: the `forced = shards × replicas − keep1` empty slots must be
 *   filled, and the arrivals `z` needs for its floors can come from forced slots only
 *   when their shard may enter `z` (holds fewer than the limit there), so at least
 *   `forced + max(0, need(z) − forcedAllowedIn(z))` placements.
 * The bound is the largest of these. Each term counts placements some replica must make
 * whatever the assignment, so the bound never exceeds the optimum; the tests check that
 * against exhaustive search on small instances.
 *
 * Limitations: the terms ignore how caps and the domain rule interact beyond the
 * per-domain floor term, so on tightly constrained instances the bound can sit below the
 * optimum (the planner then looks worse than it is, never better).
 */

/** One member's part in the bound. */
export interface BoundMember {
  /** Failure-domain index. */
  readonly domain: number;
  /** Distinct replicas it validly holds now (0 for Draining or weightless members). */
  readonly held: number;
  /** Most replicas it may keep (0 when Draining). */
  readonly cap: number;
  /** Fewest replicas it must end with (0 unless Active). */
  readonly floor: number;
}

export interface BoundInput {
  /** shards × replicas. */
  readonly total: number;
  /** Replicas that can stay under the per-domain limit and `replicas` (see above). */
  readonly keep1: number;
  /** total − keep1: slots that must be filled whatever happens. */
  readonly forcedSlots: number;
  /** Per domain: forced slots whose shard already holds the domain's limit there. */
  readonly blockedSlots: ArrayLike<number>;
  readonly members: readonly BoundMember[];
}

/** The lower bound of a plan's placements (see the module header). */
export function placementLowerBound(input: BoundInput): number {
  let keep2 = 0;
  let floorNeed = 0;
  const needIn = new Float64Array(input.blockedSlots.length);
  for (const m of input.members) {
    const keep = Math.min(m.held, m.cap);
    keep2 += keep;
    const need = Math.max(0, m.floor - keep);
    floorNeed += need;
    needIn[m.domain] = (needIn[m.domain] as number) + need;
  }
  let domainBound = 0;
  for (let d = 0; d < needIn.length; d++) {
    const allowed = input.forcedSlots - (input.blockedSlots[d] as number);
    domainBound = Math.max(domainBound, input.forcedSlots + Math.max(0, (needIn[d] as number) - allowed));
  }
  return Math.max(input.total - Math.min(input.keep1, keep2), floorNeed, domainBound);
}
