/**
 * RatePolicy share computation, pure: how one limit's budget (rate and burst) is split
 * over the Ready replicas that enforce it.
 *
 * - `PerReplica` limits: every replica gets the whole rate and burst.
 * - `Global` limits, mode `Even` (the default): rate and burst divided by the replicas.
 * - `Global` limits, mode `Demand`: max-min fair shares of the demand each replica
 *   reports, as Doorman's FairShare does, with a floor. Every replica first gets the
 *   floor (`floorFraction` × the even share); the rest of the budget is water-filled
 *   over the demand above the floor (nobody gets more than it asks while another is
 *   short; those who ask little are served in full); capacity nobody asks for is
 *   split evenly, as headroom for growing demand. A replica that has not reported yet
 *   is presumed to want its even share. Bursts follow the rate: each replica's burst
 *   share is `burst × rateShare / rate`, except that when the burst has at least one
 *   token per replica each first gets one token and the rest follows the rate (a
 *   replica granted a small rate would otherwise get less than one token, which the
 *   client must enforce as one, so the bursts in force would add up to more than the
 *   limit's burst).
 *
 * Guarantees (checked by the property tests): the shares of a Global limit add up to
 * at most its rate and at most its burst — exactly, not within rounding: every
 * quantity is an integer number of {@link SHARE_UNITS_PER_RPS}ths, so sums are exact
 * doubles; every replica gets at least the floor; with mode Demand the split is
 * max-min fair.
 *
 * Limitations: shares are quantised to 2^-20 requests per second (below a micro-request
 * per second), always rounded down, so a few units of the budget may stay unassigned;
 * demands are presumed honest up to the clamp ({@link clampDemand}): a replica that
 * over-reports gets more than it needs, but never starves the others below their
 * max-min fair share.
 */

/** Quantum of a share: shares are integer multiples of 1/2^20 request per second. */
export const SHARE_UNITS_PER_RPS = 2 ** 20;

/** How a Global limit is divided. */
export type ShareMode = 'Even' | 'Demand';

/** One replica's share of one limit: sustained rate (requests/s) and burst (requests). */
export interface Share {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** The limit being split (spec values after defaults). */
export interface LimitBudget {
  readonly requestsPerSecond: number;
  /** Requests allowed at once; the default (one second of the rate) is applied by the caller. */
  readonly burst: number;
  readonly scope: 'Global' | 'PerReplica';
}

/** Input of {@link splitLimit}. */
export interface SplitInput {
  readonly limit: LimitBudget;
  readonly mode: ShareMode;
  /** Replica names (pod names); order does not matter, duplicates are ignored. */
  readonly replicas: readonly string[];
  /** Demand mode: clamped demand per replica in requests/s (see {@link clampDemand}); missing = the even share. */
  readonly demands?: ReadonlyMap<string, number> | undefined;
  /** Demand mode: each replica's floor as a fraction of the even share, in [0, 1]; default {@link DEFAULT_FLOOR_FRACTION}. */
  readonly floorFraction?: number | undefined;
}

/** Default floor of a Demand share: 10 % of the even share. */
export const DEFAULT_FLOOR_FRACTION = 0.1;

const toUnits = (rps: number): number => Math.floor(rps * SHARE_UNITS_PER_RPS);
const fromUnits = (units: number): number => units / SHARE_UNITS_PER_RPS;

/**
 * Splits `limit` over `replicas`. Returns one share per distinct replica (an empty map
 * for no replicas). Shares are multiples of 1/{@link SHARE_UNITS_PER_RPS}.
 */
export function splitLimit(input: SplitInput): Map<string, Share> {
  const names = [...new Set(input.replicas)].sort();
  const out = new Map<string, Share>();
  if (names.length === 0) return out;
  const { limit } = input;
  if (limit.scope === 'PerReplica') {
    for (const name of names) out.set(name, { requestsPerSecond: limit.requestsPerSecond, burst: limit.burst });
    return out;
  }
  const rateUnits = toUnits(limit.requestsPerSecond);
  const burstUnits = toUnits(limit.burst);
  const rates =
    input.mode === 'Demand'
      ? demandSplit(rateUnits, names, input.demands ?? new Map(), clampFraction(input.floorFraction ?? DEFAULT_FLOOR_FRACTION))
      : names.map(() => Math.floor(rateUnits / names.length));
  // Demand: one token each first when there are enough, so no share is below one token
  const oneEach = input.mode === 'Demand' && burstUnits >= names.length * SHARE_UNITS_PER_RPS ? SHARE_UNITS_PER_RPS : 0;
  const burstRest = burstUnits - oneEach * names.length;
  names.forEach((name, i) => {
    const rate = rates[i] ?? 0;
    // burst share ∝ rate share, in exact integer arithmetic (the product can exceed 2^53), rounded down: Σ ≤ burstUnits.
    const burst = rateUnits === 0 ? 0 : oneEach + Number((BigInt(burstRest) * BigInt(rate)) / BigInt(rateUnits));
    out.set(name, { requestsPerSecond: fromUnits(rate), burst: fromUnits(burst) });
  });
  return out;
}

function clampFraction(f: number): number {
  return Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : DEFAULT_FLOOR_FRACTION;
}

/** Max-min fair split (in units) with a floor, in the order of `names`. */
function demandSplit(capacity: number, names: readonly string[], demands: ReadonlyMap<string, number>, floorFraction: number): number[] {
  const n = names.length;
  const even = Math.floor(capacity / n);
  const floor = Math.floor(even * floorFraction);
  const wants = names.map((name) => {
    const d = demands.get(name);
    return d === undefined ? even : toUnits(d);
  });
  const residual = capacity - floor * n;
  const above = waterFill(
    residual,
    wants.map((w) => Math.max(0, w - floor)),
  );
  const used = above.reduce((a, b) => a + b, 0);
  const spare = Math.floor((residual - used) / n);
  return above.map((a) => floor + a + spare);
}

/**
 * Max-min fair allocation of integer `capacity` over integer `demands` (water-filling):
 * demands below the water level are served in full, the rest get the level. Returns
 * allocations in the order of `demands`; their sum is at most `capacity`.
 */
export function waterFill(capacity: number, demands: readonly number[]): number[] {
  const order = demands.map((d, i) => ({ d, i })).sort((a, b) => a.d - b.d || a.i - b.i);
  const out = demands.map(() => 0);
  let left = capacity;
  let remaining = order.length;
  for (const { d, i } of order) {
    const level = Math.floor(left / remaining);
    const give = Math.min(d, level);
    out[i] = give;
    left -= give;
    remaining -= 1;
  }
  return out;
}

/** Demands above this many times the limit are absurd: clamped to the limit and reported. */
export const ABSURD_DEMAND_FACTOR = 1;

/** Result of {@link clampDemand}: the value used, and why it differs from the report, if it does. */
export interface ClampedDemand {
  readonly requestsPerSecond: number;
  readonly clamped?: 'NotANumber' | 'Negative' | 'AboveLimit';
}

/**
 * Sanitises a demand report (requests/s) for a limit of `limitRps`: not a finite number
 * → 0, negative → 0, above the limit → the limit. A report is never trusted to take
 * more than the whole limit, and max-min fairness keeps an over-reporting replica from
 * starving the others below their fair share.
 */
export function clampDemand(raw: unknown, limitRps: number): ClampedDemand {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return { requestsPerSecond: 0, clamped: 'NotANumber' };
  if (raw < 0) return { requestsPerSecond: 0, clamped: 'Negative' };
  if (raw > limitRps * ABSURD_DEMAND_FACTOR) return { requestsPerSecond: limitRps, clamped: 'AboveLimit' };
  return { requestsPerSecond: raw };
}
