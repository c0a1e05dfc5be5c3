/**
 * Phases 2 and 3 of the placement planner. Phase 2 fills every empty slot on the
 * allowed Active member that would be least above its share after receiving (members
 * below their floor first; among receivers tied within one replica, one picked by a
 * hash of the slot, so shards do not all get the same combination of domains); a slot
 * no member can take tries one swap (a full member that accepts the shard gives
 * another shard to a member with room). Phase 3 moves replicas from the members
 * furthest above their share to members still below their floor. Pure; mutates the
 * {@link Assignment}.
 *
 * Limitations: the swap repair is one level deep and spends at most
 * {@link REPAIR_BUDGET} checks per plan, so a slot a longer chain of swaps would fill
 * stays `unplaced`; phase 3 stops for a member when no donor shard fits it
 * (`floorShortfall`).
 */
import type { Assignment } from './assignment.ts';
import { mix } from './assignment.ts';
import { IndexHeap } from './heap.ts';

/** Receivers tied for best among which a slot picks by hash. */
const MAX_TIED = 16;
/** Receivers whose excess after receiving is within this many replicas of the best count as tied. */
const TIE_WINDOW = 1;
/** Upper bound on member/shard checks the swap repair may spend in one plan. */
export const REPAIR_BUDGET = 200_000;

/** Per-member shares (replicas, fractional), caps and floors (replicas) of the plan. */
export interface Bounds {
  readonly share: Float64Array;
  readonly cap: Int32Array;
  readonly floor: Int32Array;
}

/** Phase 2: fills empty slots; returns how many slots stayed empty. */
export function fillEmptySlots(a: Assignment, { share, cap, floor }: Bounds): number {
  const { S, R, M, members } = a.ctx;
  const { slots, held, lists } = a;
  // Receivers by how far above their share they would be after receiving (largest
  // remainder first): unlike the ratio, this picks the same member whichever side of a
  // small weight change the plan runs on, so alternating weights settle instead of
  // moving one replica back and forth.
  const receiverBefore = (x: number, y: number): boolean => {
    const ex = (held[x] as number) + 1 - (share[x] as number);
    const ey = (held[y] as number) + 1 - (share[y] as number);
    return ex < ey || (ex === ey && x < y);
  };
  const receivers = new IndexHeap(receiverBefore);
  const hasRoom = (i: number): boolean => members[i]?.state === 'Active' && (share[i] as number) > 0 && (held[i] as number) < (cap[i] as number);
  for (let i = 0; i < M; i++) if (hasRoom(i)) receivers.push(i);
  let unplaced = 0;
  let budget = REPAIR_BUDGET;
  const skipped: number[] = [];
  const tied: number[] = [];
  const belowFloor = (i: number): boolean => (held[i] as number) < (floor[i] as number);

  /** One swap: a full Active member `j` that accepts `s` gives another shard to a member with room. */
  const repair = (s: number): boolean => {
    for (let j = 0; j < M && budget > 0; j++) {
      if (members[j]?.state !== 'Active' || !a.accepts(s, j, -1)) continue;
      for (const t of lists[j] as number[]) {
        for (let k2 = 0; k2 < M && budget > 0; k2++, budget--) {
          if (k2 === j || members[k2]?.state !== 'Active' || (held[k2] as number) >= (cap[k2] as number)) continue;
          if (!a.accepts(t, k2, j)) continue;
          const wasFull = (held[k2] as number) + 1 >= (cap[k2] as number);
          a.relocate(t, j, k2, 'Balance');
          a.place(s, j);
          if (wasFull) {
            skipped.length = 0; // every member with room goes back in, once
            while (receivers.size > 0) receivers.pop();
            for (let i = 0; i < M; i++) if (hasRoom(i)) receivers.push(i);
          }
          return true;
        }
      }
    }
    return false;
  };

  for (let s = 0; s < S; s++) {
    for (let k = 0; k < R; k++) {
      if (slots[s * R + k] !== -1) continue;
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
        if (a.accepts(s, i, -1)) {
          tied.push(i);
          best = Math.min(best, e);
        } else skipped.push(i);
      }
      const chosen = tied.length === 0 ? -1 : (tied[mix(s * R + k) % tied.length] as number);
      for (const i of tied) if (i !== chosen) skipped.push(i);
      if (chosen >= 0) {
        a.place(s, chosen);
        if ((held[chosen] as number) < (cap[chosen] as number)) receivers.push(chosen);
      } else if (!repair(s)) {
        unplaced++;
      }
      for (const i of skipped) receivers.push(i);
      skipped.length = 0;
    }
  }
  return unplaced;
}

/** Phase 3: members below their floor take replicas from the most loaded members; returns the replicas still missing from floors. */
export function raiseFloors(a: Assignment, { share, floor }: Bounds): number {
  const { M, members } = a.ctx;
  const { held, lists } = a;
  const excess = (i: number): number => (held[i] as number) - (share[i] as number);
  const needy = new IndexHeap((x, y) => excess(x) < excess(y) || (excess(x) === excess(y) && x < y));
  const donors = new IndexHeap((x, y) => excess(x) > excess(y) || (excess(x) === excess(y) && x < y));
  for (let i = 0; i < M; i++) {
    if (members[i]?.state === 'Active' && (held[i] as number) < (floor[i] as number)) needy.push(i);
    if ((held[i] as number) > (floor[i] as number)) donors.push(i);
  }
  const skipped: number[] = [];
  let floorShortfall = 0;
  while (needy.size > 0) {
    const r = needy.pop() as number;
    let moved = false;
    while (donors.size > 0 && !moved) {
      const d = donors.pop() as number;
      const list = lists[d] as number[];
      for (let p = 0; p < list.length; p++) {
        const s = list[p] as number;
        if (!a.accepts(s, r, d)) continue;
        a.relocate(s, d, r, 'Balance');
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
  return floorShortfall;
}
