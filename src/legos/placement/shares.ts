/**
 * Fair shares for placement: how many of the `shards × replicas` replicas each member
 * should hold, weighted by capacity and water-filled under the two hard limits of a
 * placement (a member holds at most one replica of a shard, so at most `shards`; a
 * failure domain holds at most `perDomainLimit` replicas of a shard, so at most
 * `shards × perDomainLimit`). A member's bounds are `cap = ceil(maxLoadFactor × share)`
 * (never above `shards`) and, for Active members, `floor = floor(share / maxLoadFactor)`.
 *
 * Water-filling: every member gets `λ × weight` except those whose limit is lower,
 * which get their limit, with `λ` chosen so the shares sum to the total. Domains are
 * filled first by their summed weight, then the members inside each domain.
 *
 * Limitations: shares are real numbers; when the limits sum to less than the total
 * (too few members or domains) every share is at its limit and the sum falls short
 * (the planner reports that as insufficient members).
 */

/**
 * Water-fills `total` over items with `weights` (≥ 0) and upper `limits`:
 * `x[k] = min(limits[k], λ·weights[k])`, Σx = total when Σ limits ≥ total.
 */
export function waterFill(total: number, weights: readonly number[], limits: readonly number[]): number[] {
  const n = weights.length;
  const out = new Array<number>(n).fill(0);
  const order: number[] = [];
  let remainingWeight = 0;
  for (let k = 0; k < n; k++) {
    const w = weights[k] ?? 0;
    if (w > 0 && (limits[k] ?? 0) > 0) {
      order.push(k);
      remainingWeight += w;
    }
  }
  // Items whose limit binds first are those with the smallest limit per unit weight.
  order.sort((a, b) => (limits[a] as number) / (weights[a] as number) - (limits[b] as number) / (weights[b] as number) || a - b);
  let remaining = total;
  let i = 0;
  for (; i < order.length; i++) {
    const k = order[i] as number;
    const w = weights[k] as number;
    const limit = limits[k] as number;
    if (limit * remainingWeight > remaining * w) break; // unconstrained from here on
    out[k] = limit;
    remaining -= limit;
    remainingWeight -= w;
  }
  for (; i < order.length; i++) {
    const k = order[i] as number;
    out[k] = (remaining * (weights[k] as number)) / remainingWeight;
  }
  return out;
}

/** A member as the share computation sees it. */
export interface ShareMember {
  /** Capacity weight (≥ 0). */
  readonly weight: number;
  /** Failure-domain index (zone or cell). */
  readonly domain: number;
}

/**
 * Shares of `total` replicas over `members` with at most `perMember` per member and
 * `perDomain[d]` per domain `d` (already reduced by what fixed members hold there).
 */
export function twoLevelShares(total: number, members: readonly ShareMember[], perMember: number, perDomain: readonly number[]): number[] {
  const domains = perDomain.length;
  const domainWeight = new Array<number>(domains).fill(0);
  const domainRoom = new Array<number>(domains).fill(0);
  for (const m of members) {
    if (m.weight <= 0) continue;
    domainWeight[m.domain] = (domainWeight[m.domain] ?? 0) + m.weight;
    domainRoom[m.domain] = (domainRoom[m.domain] ?? 0) + perMember;
  }
  const domainLimit = domainRoom.map((room, d) => Math.max(0, Math.min(room, perDomain[d] ?? 0)));
  const domainShare = waterFill(total, domainWeight, domainLimit);
  const shares = new Array<number>(members.length).fill(0);
  const byDomain: number[][] = Array.from({ length: domains }, () => []);
  members.forEach((m, i) => {
    if (m.weight > 0) byDomain[m.domain]?.push(i);
  });
  byDomain.forEach((indices, d) => {
    if (indices.length === 0) return;
    const inner = waterFill(
      domainShare[d] ?? 0,
      indices.map((i) => (members[i] as ShareMember).weight),
      indices.map(() => perMember),
    );
    indices.forEach((i, k) => (shares[i] = inner[k] ?? 0));
  });
  return shares;
}

/** Upper bound of a member: `ceil(maxLoadFactor × share)`, at most `shards`. */
export function capOf(share: number, maxLoadFactor: number, shards: number): number {
  // Round away float noise (1.05 × 100 = 105.00000000000001) before the ceiling.
  return Math.min(shards, Math.ceil(Math.round(maxLoadFactor * share * 1e9) / 1e9));
}

/** Lower bound of an Active member: `floor(share / maxLoadFactor)`. */
export function floorOf(share: number, maxLoadFactor: number): number {
  return Math.floor(Math.round((share / maxLoadFactor) * 1e9) / 1e9);
}
