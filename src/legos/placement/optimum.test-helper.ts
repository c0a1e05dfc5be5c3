/**
 * The true optimum of a small placement problem, by exhaustive search (tests only):
 * the fewest replica placements over every assignment that gives each shard
 * `replicas` distinct members, at most `perDomainLimit` per domain, nothing new on
 * Cordoned members, nothing on Draining or weightless ones, and keeps every member
 * within `[floor, cap]` (bounds taken from the plan, so planner and search are held to
 * the same rules). Independent of the planner's algorithm: it enumerates.
 */
import type { PlacementInput, PlacementPlan } from './types.ts';

export interface Optimum {
  /** Fewest placements, or undefined when no assignment meets the rules. */
  readonly moves: number | undefined;
}

function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, acc: number[]): void => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i < n; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}

/** Exhaustive optimum; `requireFloors` false drops the floor constraint. */
export function exhaustiveOptimum(input: PlacementInput, plan: PlacementPlan, options: { requireFloors: boolean }): Optimum {
  const { shards: S, replicas: R, members } = input;
  const M = members.length;
  const L = plan.spread.perDomainLimit;
  const domain = plan.members.map((m) => m.domain);
  const cap = plan.members.map((m) => m.cap);
  const floor = plan.members.map((m) => (options.requireFloors ? m.floor : 0));
  // Candidate replica sets per shard, with their placement cost.
  const options2: { set: number[]; cost: number }[][] = [];
  for (let s = 0; s < S; s++) {
    const current = new Set(input.current[s] ?? []);
    const list: { set: number[]; cost: number }[] = [];
    for (const set of subsets(M, R)) {
      let ok = true;
      const perDomain = new Map<string, number>();
      let cost = 0;
      for (const i of set) {
        const m = members[i];
        if (!m || m.weight <= 0 || m.state === 'Draining') ok = false;
        else if (m.state === 'Cordoned' && !current.has(m.name)) ok = false;
        const d = domain[i] as string;
        perDomain.set(d, (perDomain.get(d) ?? 0) + 1);
        if ((perDomain.get(d) as number) > L) ok = false;
        if (m && !current.has(m.name)) cost++;
      }
      if (ok) list.push({ set, cost });
    }
    list.sort((a, b) => a.cost - b.cost);
    options2.push(list);
  }
  const load = new Array<number>(M).fill(0);
  let best: number | undefined;
  const minRest: number[] = new Array<number>(S + 1).fill(0);
  for (let s = S - 1; s >= 0; s--) minRest[s] = (minRest[s + 1] as number) + (options2[s]?.[0]?.cost ?? 0);
  const search = (s: number, cost: number): void => {
    if (best !== undefined && cost + (minRest[s] as number) >= best) return;
    if (s === S) {
      for (let i = 0; i < M; i++) if ((load[i] as number) < (floor[i] as number)) return;
      best = cost;
      return;
    }
    // Prune: members can no longer reach their floor.
    const remaining = S - s;
    for (let i = 0; i < M; i++) if ((load[i] as number) + remaining < (floor[i] as number)) return;
    for (const option of options2[s] ?? []) {
      let fits = true;
      for (const i of option.set) if ((load[i] as number) + 1 > (cap[i] as number)) fits = false;
      if (!fits) continue;
      for (const i of option.set) load[i] = (load[i] as number) + 1;
      search(s + 1, cost + option.cost);
      for (const i of option.set) load[i] = (load[i] as number) - 1;
    }
  };
  search(0, 0);
  return { moves: best };
}
