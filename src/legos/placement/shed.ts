/**
 * Shedding a member's excess (phase 1 of the placement planner): a Cordoned member down
 * to its pass-1 cap, an Active member down to its cap. Which shards it gives up, in
 * order: shards with a stand-in (a valid replica phase 0 did not keep, which takes the
 * slot for free), then shards free to enter the domains whose members are below their
 * floor (their replacements can fill those floors instead of costing more moves),
 * shards already missing a replica last (so no shard loses two at once); ties in a
 * fixed hash order of the shard. Pure; mutates the {@link Assignment}.
 *
 * Limitations: one member at a time, in index order; the ranking is a heuristic for
 * the later fill, not an exact minimisation.
 */
import { mix, type Assignment } from './assignment.ts';
import type { MoveReason, PlacementMember } from './types.ts';

/** A replica of `s` not kept in phase 0 that can stand in for the one on `i` (within `limit`), or −1. */
function standIn(a: Assignment, s: number, i: number, limit: (j: number) => number): number {
  for (const j of a.alternates.get(s) ?? []) {
    if ((a.held[j] as number) < limit(j) && a.ctx.members[j]?.state !== 'Draining' && a.accepts(s, j, i)) return j;
  }
  return -1;
}

/**
 * Sheds member `i` down to `keep` replicas. `limit(j)` caps what a stand-in may hold;
 * `needIn[d]` is what the Active members of domain d lack to reach their floors.
 */
export function shedExcess(a: Assignment, i: number, keep: number, reason: MoveReason, limit: (j: number) => number, needIn: Float64Array): void {
  const { R, L, domainOf, members } = a.ctx;
  const { slots, held, lists, alternates } = a;
  const list = lists[i] as number[];
  if (list.length <= keep) return;
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
  list.sort((x, y) => (ranks.get(x) as number) - (ranks.get(y) as number) || mix(x) - mix(y) || x - y);
  const shed = list.splice(0, list.length - keep);
  for (const s of shed) {
    a.changed[s] = 1;
    const at = a.slotOf(s, i);
    const j = standIn(a, s, i, limit);
    slots[at] = j;
    if (j >= 0) {
      held[j] = (held[j] as number) + 1;
      lists[j]?.push(s);
      const alt = alternates.get(s) as number[];
      alt.splice(alt.indexOf(j), 1);
    }
    a.depart(s, (members[i] as PlacementMember).name, reason);
  }
  held[i] = keep;
}
