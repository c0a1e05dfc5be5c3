/**
 * The RatePolicy no-overshoot protocol, pure: how the operator moves per-replica shares
 * from what is published to what the split wants ({@link ./ratepolicy-shares.ts}) so
 * that the shares the replicas may be enforcing never add up to more than the limit,
 * at any moment of any transition. A state plus a step function:
 * `stepShares(state, input) → { state, publish, … }`.
 *
 * ## The protocol
 *
 * The operator publishes a document (ConfigMap) with a `version` that only increases,
 * each replica's grant, and `expiresAt` (wall time). A client enforces the grant of the
 * newest version it has received, and only until that document's `expiresAt` by its
 * own clock; then it falls back (share 0 unless the limit names a fallback). It never
 * goes back to an older version, and a (re)started client starts from a fresh read. It
 * acknowledges the newest version it has received (its own Lease, see the controller).
 *
 * The operator keeps, per replica, `granted` (in the current version) and a `ceiling`:
 * the most that replica may still enforce from an older version. A replica's share in
 * force is at most `max(granted, ceiling)`; the step keeps
 * `Σ max(granted, ceiling) ≤ limit` for every Global limit:
 *
 * 1. A ceiling clears when the replica acknowledges `ceilingVersion` or later, or when `ceilingExpiresAt + maxClockSkewMs` has passed: every older
 *    document had lapsed by then on the replica's clock (the acknowledgement window).
 * 2. Lowering is immediate: the grant drops in the next version, the old grant
 *    becomes the ceiling until the replica acknowledges that version.
 * 3. Raising (a newcomer's grant, a departed replica's share going to the others) is
 *    granted only from headroom, `limit − Σ max(granted, ceiling)`, counted after the
 *    lowering; when the headroom is short every wanted raise gets the same fraction of
 *    it. A raised grant counts in full from the moment it is published.
 * 4. A departed replica's grant drops to 0 at once, but its ceiling holds its share
 *    until it acknowledges that version (a pod that is terminating gracefully still
 *    does) or its document lapses: only then can the others be raised into it.
 * 5. Every publication sets `expiresAt = now + leaseMs`; the document is re-published
 *    (same version) once a third of the lease has run, so live clients never lapse.
 *
 * ## The bound
 *
 * With clocks that differ by at most `maxClockSkewMs`, clients that obey the rules
 * above, and fallback 0: at every instant, for every Global limit, the sum over
 * replicas of the share each one enforces is ≤ the limit's rate, and the same for
 * burst. A transition takes one acknowledgement round trip (publish, watch, ack,
 * watch, publish), and at most `leaseMs + maxClockSkewMs` when a replica does not
 * acknowledge. A limit lowered in the spec is the exception: until the replicas have
 * acknowledged the lower shares (or their documents lapsed) the old, higher limit is
 * what is in force.
 *
 * Limitations: the bound is only as good as the clock-skew assumption and the
 * clients' obedience (the operator cannot stop a client that ignores the lapse); a
 * non-zero fallback is outside the bound (it adds fallback × replicas without a
 * share); all amounts are integers of 2^-20 request/s (the units of
 * ./ratepolicy-shares.ts) so the sums are exact.
 */
import { SHARE_UNITS_PER_RPS } from './ratepolicy-shares.ts';

/** One replica's grant of one limit, in units (2^-20 request/s, 2^-20 request). */
export interface UnitShare {
  readonly rate: number;
  readonly burst: number;
}

/** Shares per limit name. */
export type ShareVector = Readonly<Record<string, UnitShare>>;

/** What the operator remembers of one replica. */
export interface ReplicaGrant {
  /** The grant in the current version, per Global limit. */
  readonly granted: ShareVector;
  /** What the replica may still enforce from an older version (≥ granted), if anything. */
  readonly ceiling?: ShareVector | undefined;
  /** An acknowledgement of this version (or later) clears the ceiling. */
  readonly ceilingVersion?: number | undefined;
  /** Wall ms at which every document that carried the ceiling lapsed. */
  readonly ceilingExpiresAt?: number | undefined;
}

/** The protocol state, persisted with the published document (it must survive failover). */
export interface ProtocolState {
  readonly version: number;
  /** Wall ms at which the current document lapses on the clients. */
  readonly expiresAt: number;
  /** By replica (pod) name. */
  readonly replicas: Readonly<Record<string, ReplicaGrant>>;
}

/**
 * A replica's acknowledgement: the newest version it has received; it enforces no older
 * one. A client that stops acknowledges too, but a stop is no stronger than an
 * acknowledgement: another process of the same pod (a restarted container) may start
 * from the document that was current then.
 */
export interface Ack {
  readonly version: number;
}

export interface ProtocolInput {
  /** The Global limits' budgets, in units. */
  readonly budget: ShareVector;
  /** What the split wants per Ready replica (replicas absent here are departing). */
  readonly target: Readonly<Record<string, ShareVector>>;
  readonly acks: Readonly<Record<string, Ack>>;
  /** Wall ms. */
  readonly now: number;
  /** How long a published document stays valid on the clients, ms. */
  readonly leaseMs: number;
  /** Largest difference between the operator's clock and a client's, ms. */
  readonly maxClockSkewMs: number;
}

export interface ProtocolStep {
  readonly state: ProtocolState;
  /** True when the document must be written (new version or refresh). */
  readonly publish: boolean;
  /** True when a new version was made (grants changed). */
  readonly newVersion: boolean;
  /** True when every replica's grant equals its target. */
  readonly converged: boolean;
  /** Replicas whose acknowledgement (or lapse) the transition waits for, sorted. */
  readonly waitingFor: readonly string[];
  /** Wall ms at which stepping again may change something without new input (refresh or a window ending). */
  readonly nextStepAt: number;
}

/** An empty state: nothing published yet. */
export const initialProtocolState: ProtocolState = { version: 0, expiresAt: 0, replicas: {} };

const rateOf = (v: ShareVector | undefined, limit: string): UnitShare => v?.[limit] ?? { rate: 0, burst: 0 };
const maxShare = (a: UnitShare, b: UnitShare): UnitShare => ({ rate: Math.max(a.rate, b.rate), burst: Math.max(a.burst, b.burst) });
const minShare = (a: UnitShare, b: UnitShare): UnitShare => ({ rate: Math.min(a.rate, b.rate), burst: Math.min(a.burst, b.burst) });
const sameShare = (a: UnitShare, b: UnitShare): boolean => a.rate === b.rate && a.burst === b.burst;

/** The most `grant`'s replica may be enforcing, per limit. */
export function inForce(grant: ReplicaGrant, limit: string): UnitShare {
  return maxShare(rateOf(grant.granted, limit), rateOf(grant.ceiling, limit));
}

/** Σ over replicas of {@link inForce}, per limit of `limits`. */
export function sumInForce(state: ProtocolState, limits: readonly string[]): Record<string, UnitShare> {
  const out: Record<string, UnitShare> = {};
  for (const limit of limits) {
    let rate = 0;
    let burst = 0;
    for (const grant of Object.values(state.replicas)) {
      const s = inForce(grant, limit);
      rate += s.rate;
      burst += s.burst;
    }
    out[limit] = { rate, burst };
  }
  return out;
}

function clearedCeiling(grant: ReplicaGrant, ack: Ack | undefined, now: number, skew: number): ReplicaGrant {
  if (grant.ceiling === undefined) return grant;
  const acked = ack !== undefined && ack.version >= (grant.ceilingVersion ?? Number.POSITIVE_INFINITY);
  const lapsed = now >= (grant.ceilingExpiresAt ?? Number.POSITIVE_INFINITY) + skew;
  return acked || lapsed ? { granted: grant.granted } : grant;
}

/**
 * One step of the protocol. Pure; idempotent in the sense that stepping again with the
 * same input and time changes nothing (no new version, no publish) once a step has.
 */
export function stepShares(state: ProtocolState, input: ProtocolInput): ProtocolStep {
  const { now, budget, target } = input;
  const limits = Object.keys(budget).sort();
  const names = [...new Set([...Object.keys(state.replicas), ...Object.keys(target)])].sort();

  // 1. clear ceilings that are acknowledged or lapsed
  const cleared: Record<string, ReplicaGrant> = {};
  for (const name of names) {
    const grant = state.replicas[name] ?? { granted: {} };
    cleared[name] = clearedCeiling(grant, input.acks[name], now, input.maxClockSkewMs);
  }

  // 2. lower at once (old grant → ceiling), collect wanted raises
  const lowered: Record<string, Record<string, UnitShare>> = {};
  const ceilings: Record<string, Record<string, UnitShare>> = {};
  const raises: Record<string, { name: string; rate: number; burst: number }[]> = {};
  for (const name of names) {
    const grant = cleared[name]!;
    const want = target[name];
    const next: Record<string, UnitShare> = {};
    const ceiling: Record<string, UnitShare> = {};
    for (const limit of limits) {
      const have = rateOf(grant.granted, limit);
      const goal = rateOf(want, limit);
      const low = minShare(have, goal);
      next[limit] = low;
      const force = inForce(grant, limit);
      if (!sameShare(force, low)) ceiling[limit] = force;
      if (goal.rate > low.rate || goal.burst > low.burst) {
        (raises[limit] ??= []).push({ name, rate: goal.rate - low.rate, burst: goal.burst - low.burst });
      }
    }
    lowered[name] = next;
    ceilings[name] = ceiling;
  }

  // 3. raise from headroom, counted after lowering (ceilings included)
  for (const limit of limits) {
    const wanted = raises[limit];
    if (!wanted) continue;
    let usedRate = 0;
    let usedBurst = 0;
    for (const name of names) {
      const s = maxShare(rateOf(lowered[name], limit), rateOf(ceilings[name], limit));
      usedRate += s.rate;
      usedBurst += s.burst;
    }
    const roomRate = Math.max(0, (budget[limit]?.rate ?? 0) - usedRate);
    const roomBurst = Math.max(0, (budget[limit]?.burst ?? 0) - usedBurst);
    const rates = share(wanted.map((w) => w.rate), roomRate);
    const bursts = share(wanted.map((w) => w.burst), roomBurst);
    wanted.forEach((w, i) => {
      const base = rateOf(lowered[w.name], limit);
      const raised = { rate: base.rate + (rates[i] ?? 0), burst: base.burst + (bursts[i] ?? 0) };
      lowered[w.name]![limit] = raised;
      // a raise counts in full at once; the ceiling only matters where it is still higher
      const c = ceilings[w.name]![limit];
      if (c !== undefined && c.rate <= raised.rate && c.burst <= raised.burst) delete ceilings[w.name]![limit];
    });
  }

  // 4. assemble: new version when any grant changed
  let changed = false;
  const replicas: Record<string, ReplicaGrant> = {};
  const waiting: string[] = [];
  let converged = true;
  for (const name of names) {
    const before = cleared[name]!;
    const granted = lowered[name]!;
    const grantChanged = limits.some((l) => !sameShare(rateOf(before.granted, l), rateOf(granted, l)));
    if (grantChanged) changed = true;
    if (limits.some((l) => !sameShare(rateOf(granted, l), rateOf(target[name], l)))) converged = false;
    const ceiling = ceilings[name]!;
    const hasCeiling = Object.keys(ceiling).length > 0;
    if (!hasCeiling && !(name in target) && limits.every((l) => rateOf(granted, l).rate === 0 && rateOf(granted, l).burst === 0)) continue; // gone
    if (!hasCeiling) {
      replicas[name] = { granted };
      continue;
    }
    waiting.push(name);
    // a lowering in this step starts a new window (this version, the superseded document's expiry);
    // otherwise the ceiling is carried over with its own terms (raises since then count in full)
    const lowers = limits.some((l) => rateOf(granted, l).rate < rateOf(before.granted, l).rate || rateOf(granted, l).burst < rateOf(before.granted, l).burst);
    replicas[name] = {
      granted,
      ceiling,
      ceilingVersion: lowers || before.ceilingVersion === undefined ? state.version + 1 : before.ceilingVersion,
      ceilingExpiresAt: lowers || before.ceilingExpiresAt === undefined ? state.expiresAt : before.ceilingExpiresAt,
    };
  }
  if (names.some((n) => !(n in replicas) && n in state.replicas)) changed = true; // a departed replica left the document

  const refreshDue = now >= state.expiresAt - (2 * input.leaseMs) / 3;
  const publish = changed || refreshDue;
  const version = changed ? state.version + 1 : state.version;
  const expiresAt = publish ? now + input.leaseMs : state.expiresAt;
  const next: ProtocolState = { version, expiresAt, replicas };
  const windows = Object.values(replicas).flatMap((g) => (g.ceilingExpiresAt === undefined ? [] : [g.ceilingExpiresAt + input.maxClockSkewMs]));
  const nextStepAt = Math.min(expiresAt - (2 * input.leaseMs) / 3, ...windows);
  return { state: next, publish, newVersion: changed, converged, waitingFor: waiting, nextStepAt };
}

/**
 * Splits `room` over `wants` in proportion, rounded down, then hands the leftover units
 * out one each in order, so a second step finds no room left (no churn of tiny raises).
 * Takes everything each wants when `room` suffices. Exact for integers up to 2^53.
 */
function share(wants: readonly number[], room: number): number[] {
  const whole = wants.reduce((a, b) => a + b, 0);
  if (whole <= room) return [...wants];
  const out = wants.map((w) => Number((BigInt(w) * BigInt(room)) / BigInt(whole)));
  let left = room - out.reduce((a, b) => a + b, 0);
  for (let i = 0; i < out.length && left > 0; i++) {
    if (out[i]! < wants[i]!) {
      out[i] = out[i]! + 1;
      left -= 1;
    }
  }
  return out;
}

/** Requests per second → units, rounded down (as the split does). */
export const toShareUnits = (rps: number): number => Math.floor(rps * SHARE_UNITS_PER_RPS);
/** Units → requests per second. */
export const fromShareUnits = (units: number): number => units / SHARE_UNITS_PER_RPS;
