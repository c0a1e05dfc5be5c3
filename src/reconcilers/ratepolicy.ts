/**
 * The RatePolicy decider, pure: from a policy, the pods of its namespace, the
 * clients' reports and the published shares, it decides the next shares to publish,
 * the report Leases to delete, the status with its conditions, the events, and when to
 * look again, each with a reason.
 *
 * - Replicas: pods the selector picks that are Ready and not being deleted (the
 *   observation holds only pods labelled `ratepolicy.manyfold.dev/enforcer`).
 * - Targets: each Global limit split over them (ratepolicy-shares.ts: Even, or Demand
 *   from the reports, clamped); PerReplica limits are published as they are. A Demand
 *   split that moves no replica's share by more than {@link DEMAND_HYSTERESIS} of it
 *   keeps the grants as they are ({@link holdSmallMoves}): demand noise starts no
 *   lower-then-raise transition.
 * - Moves: one step of the no-overshoot protocol (ratepolicy-protocol.ts) from the
 *   published state, with the clients' acknowledgements; a new version whenever a
 *   grant or a limit changed, a refresh (same version, later expiry) every third of
 *   `leaseSeconds`.
 * - Status: `replicas`, `shares[]` (even share, min/max granted, clamped demands),
 *   `version`, `configMap`, `converged`, `waitingFor`; conditions `Ready`
 *   (`SharesPublished`, `NoReplicas`, `InvalidSpec`), `Converging` (`WaitingForAcks`,
 *   `Converged`), `Progressing` (mirrors Converging) and `Degraded`.
 * - Kill switch, and an invalid spec: shares stay as published — the same version is
 *   re-published so it does not lapse (`frozen: true`), nothing moves.
 * - Reports of pods that no longer exist and hold nothing are deleted.
 *
 * Limitations: a selector that matches no pod publishes nothing until one is Ready
 * (Ready=False, NoReplicas); shares already published then move towards 0 as usual.
 */
import type { RatePolicySpec, RatePolicyStatus } from '../crds/ratepolicy.ts';
import { RatePolicyDefaults } from '../crds/ratepolicy.ts';
import { rfc3339 } from '../legos/clock.ts';
import { jsonEqual, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { ENFORCER_LABEL, sharesConfigMapName, type LimitEntry } from '../legos/ratelimit/document.ts';
import { invalidSpecConditions, invalidSpecEvent, type Decision, type PlannedEvent, type SpecResult } from './decision.ts';
import type { KillSwitchState } from './kill-switch.ts';
import { labelSelectorMatches } from './label-selector.ts';
import { stepShares, toShareUnits, type Ack, type ProtocolState } from './ratepolicy-protocol.ts';
import { contentDiffers, readPublished, renderDocument, rpsOf, sharesConfigMap, type PublishedObject } from './ratepolicy-publish.ts';
import { clampDemand, splitLimit, type ClampedDemand } from './ratepolicy-shares.ts';

export interface ObservedPod {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly ready: boolean;
  readonly deleting: boolean;
}

/** A client's report Lease, raw (the decider parses and clamps). */
export interface ObservedReport {
  readonly lease: string;
  readonly pod: string;
  readonly ackVersion: string | undefined;
  readonly demand: string | undefined;
}

export interface PolicyObservation {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly spec: SpecResult<RatePolicySpec>;
  readonly status: RatePolicyStatus | undefined;
  readonly killSwitch: KillSwitchState;
  /** Every pod of the namespace labelled {@link ENFORCER_LABEL} (the decider applies the selector). */
  readonly pods: readonly ObservedPod[];
  readonly reports: readonly ObservedReport[];
  /** The shares ConfigMap: the freshest of the cache and this process's last write. */
  readonly published: PublishedObject | undefined;
}

/** A clamped demand report, for the log. */
export interface ClampedReport {
  readonly pod: string;
  readonly limit: string;
  readonly raw: unknown;
  readonly clamped: NonNullable<ClampedDemand['clamped']>;
}

export interface PolicyDecision extends Decision<RatePolicyStatus, { readonly lease: string }> {
  /** Set when this decision publishes (new version or refresh). */
  readonly published: { readonly version: number; readonly newVersion: boolean; readonly replicas: number; readonly state: ProtocolState } | undefined;
  readonly clamped: readonly ClampedReport[];
  /** Per-limit even share (requests/s), for the metrics. */
  readonly shareRps: Readonly<Record<string, number>>;
  readonly replicas: number;
}

const MAX_WAITING_LISTED = 16;

/**
 * A Demand-mode split replaces the grants only when some replica's target differs from
 * its grant by more than this fraction (0.1: 10 %) of the larger of the two; smaller
 * moves keep the grants (they are within 10 % of max-min fair). Every move costs a
 * transition (lower, wait for the acknowledgements, raise), so moving for noise in the
 * reports would keep the replicas in transitions.
 */
export const DEMAND_HYSTERESIS = 0.1;

type Targets = Record<string, Record<string, { rate: number; burst: number }>>;

/**
 * Keeps the published grants as the targets of each limit of `limits` when the same
 * replicas hold them, they fit the budget, and no replica's target moved by more than
 * {@link DEMAND_HYSTERESIS}. Mutates `target`.
 */
export function holdSmallMoves(target: Targets, budget: Readonly<Record<string, { rate: number; burst: number }>>, state: ProtocolState | undefined, limits: readonly string[]): void {
  if (state === undefined) return;
  const names = Object.keys(target);
  if (names.length === 0 || Object.keys(state.replicas).length !== names.length || !names.every((n) => n in state.replicas)) return;
  for (const limit of limits) {
    const grants = names.map((n) => state.replicas[n]?.granted[limit]);
    const held = grants.flatMap((g) => (g === undefined ? [] : [g]));
    if (held.length !== names.length) continue;
    const room = budget[limit];
    if (room === undefined || held.reduce((a, g) => a + g.rate, 0) > room.rate || held.reduce((a, g) => a + g.burst, 0) > room.burst) continue;
    const small = names.every((n, i) => {
      const t = target[n]?.[limit];
      const g = held[i]!;
      return t !== undefined && Math.abs(t.rate - g.rate) <= DEMAND_HYSTERESIS * Math.max(t.rate, g.rate);
    });
    if (small) names.forEach((n, i) => (target[n]![limit] = { ...held[i]! }));
  }
}

function limitEntries(spec: RatePolicySpec): LimitEntry[] {
  return spec.limits.map((l) => ({
    name: l.name,
    key: l.key,
    scope: l.scope,
    shareMode: l.shareMode,
    requestsPerSecond: l.requestsPerSecond,
    burst: l.burst ?? Math.max(1, Math.ceil(l.requestsPerSecond)),
    fallbackRequestsPerSecond: l.fallbackRequestsPerSecond ?? RatePolicyDefaults.fallbackRequestsPerSecond,
  }));
}

function parseDemands(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Targets (units) per Ready replica for the Global limits, and the demand reports that were clamped. */
function targetsOf(spec: RatePolicySpec, entries: readonly LimitEntry[], replicas: readonly string[], reports: ReadonlyMap<string, ObservedReport>) {
  const target: Record<string, Record<string, { rate: number; burst: number }>> = Object.fromEntries(replicas.map((r) => [r, {}]));
  const budget: Record<string, { rate: number; burst: number }> = {};
  const clamped: ClampedReport[] = [];
  spec.limits.forEach((limit, i) => {
    const entry = entries[i]!;
    if (entry.scope !== 'Global') return;
    budget[entry.name] = { rate: toShareUnits(entry.requestsPerSecond), burst: toShareUnits(entry.burst) };
    const demands = new Map<string, number>();
    if (entry.shareMode === 'Demand') {
      for (const pod of replicas) {
        const reported = parseDemands(reports.get(pod)?.demand);
        if (reported === undefined || !(entry.name in reported)) continue;
        const value = clampDemand(reported[entry.name], entry.requestsPerSecond);
        if (value.clamped !== undefined) clamped.push({ pod, limit: entry.name, raw: reported[entry.name], clamped: value.clamped });
        demands.set(pod, value.requestsPerSecond);
      }
    }
    const split = splitLimit({
      limit: { requestsPerSecond: entry.requestsPerSecond, burst: entry.burst, scope: 'Global' },
      mode: entry.shareMode,
      replicas,
      demands,
      floorFraction: (limit.floorPercent ?? RatePolicyDefaults.floorPercent) / 100,
    });
    for (const [pod, s] of split) target[pod]![entry.name] = { rate: toShareUnits(s.requestsPerSecond), burst: toShareUnits(s.burst) };
  });
  return { target, budget, clamped };
}

/** Decides the next step for one RatePolicy at wall time `now` (ms). */
export function reconcileRatePolicy(policy: PolicyObservation, now: number): PolicyDecision {
  const before = policy.status;
  const published = readPublished(policy.published);
  const configMap = sharesConfigMapName(policy.name);
  const events: PlannedEvent[] = [];
  const at = { now: rfc3339(now), generation: policy.generation };

  if (!policy.spec.ok) {
    const conditions = setConditions(before?.conditions as Condition[] | undefined, [...invalidSpecConditions(policy.spec.message, 'shares stay as published'), { type: 'Converging', status: 'False', reason: 'InvalidSpec', message: 'shares stay as published' }], at);
    if (before?.conditions?.find((c) => c.type === 'Ready')?.reason !== 'InvalidSpec') events.push(invalidSpecEvent(policy.spec.message));
    const status: RatePolicyStatus = { ...(before ?? {}), observedGeneration: policy.generation, conditions };
    // shares stay as published: the same document, re-published before it lapses
    const refresh = published?.document === undefined ? undefined : refreshFrozen(published.state, now, published.document.leaseMs);
    const document = refresh && published?.document ? { ...published.document, expiresAtMs: refresh.state.expiresAt, frozen: true } : undefined;
    return {
      apply: refresh?.publish && document ? [sharesConfigMap({ policy, document, state: refresh.state, basisResourceVersion: policy.published?.resourceVersion })] : [],
      delete: [],
      status: jsonEqual(status, before) ? undefined : status,
      events,
      requeueAfterMs: refresh === undefined ? undefined : Math.max(50, Math.ceil(refresh.nextStepAt - now)),
      reason: `invalid spec: ${policy.spec.message}`,
      published: refresh?.publish ? { version: refresh.state.version, newVersion: false, replicas: before?.replicas ?? 0, state: refresh.state } : undefined,
      clamped: [],
      shareRps: {},
      replicas: before?.replicas ?? 0,
    };
  }

  const spec = policy.spec.value;
  const entries = limitEntries(spec);
  const leaseMs = (spec.leaseSeconds ?? RatePolicyDefaults.leaseSeconds) * 1000;
  const refreshIntervalMs = spec.refreshIntervalMilliseconds ?? RatePolicyDefaults.refreshIntervalMilliseconds;
  const skew = spec.maxClockSkewMilliseconds ?? RatePolicyDefaults.maxClockSkewMilliseconds;
  const selected = policy.pods.filter((p) => labelSelectorMatches(spec.selector, p.labels));
  const replicas = selected.filter((p) => p.ready && !p.deleting).map((p) => p.name).sort();
  const reports = new Map(policy.reports.map((r) => [r.pod, r]));
  const { target, budget, clamped } = targetsOf(spec, entries, replicas, reports);
  const demandLimits = entries.filter((e) => e.scope === 'Global' && e.shareMode === 'Demand').map((e) => e.name);
  holdSmallMoves(target, budget, published?.state, demandLimits);
  const acks: Record<string, Ack> = {};
  for (const r of policy.reports) {
    const v = Number(r.ackVersion);
    if (r.ackVersion !== undefined && Number.isSafeInteger(v) && v >= 0) acks[r.pod] = { version: v };
  }

  // the step (or, under the kill switch, a refresh of what is published)
  let state = published?.state;
  let publish = false;
  let newVersion = false;
  let converged = true;
  let waitingFor: readonly string[] = [];
  let nextStepAt: number | undefined;
  const frozen = policy.killSwitch.engaged;
  if (frozen) {
    if (published !== undefined) {
      const r = refreshFrozen(published.state, now, leaseMs);
      state = r.state;
      publish = r.publish;
      nextStepAt = r.nextStepAt;
    }
  } else if (published !== undefined || replicas.length > 0) {
    const step = stepShares(published?.state ?? { version: 0, expiresAt: 0, replicas: {} }, { budget, target, acks, now, leaseMs, maxClockSkewMs: skew });
    state = step.state;
    publish = step.publish;
    newVersion = step.newVersion;
    converged = step.converged;
    waitingFor = step.waitingFor;
    nextStepAt = step.nextStepAt;
  }
  let document = state === undefined ? undefined : renderDocument({ policy: policy.name, state, limits: entries, refreshIntervalMs, leaseMs, frozen });
  if (state !== undefined && document !== undefined && !newVersion && !frozen && contentDiffers(published?.document, document)) {
    // limits or timings changed without moving a grant: still a new version, so clients take it
    state = { ...state, version: state.version + 1, expiresAt: now + leaseMs };
    document = { ...document, version: state.version, expiresAtMs: state.expiresAt };
    publish = true;
    newVersion = true;
  }

  // status
  const shares = entries.map((e) => {
    const granted = replicas.map((r) => rpsOf(state?.replicas[r]?.granted, e.name));
    const global = e.scope === 'Global';
    const n = Math.max(1, replicas.length);
    return {
      name: e.name,
      scope: e.scope,
      shareMode: e.shareMode,
      requestsPerSecond: global ? e.requestsPerSecond / n : e.requestsPerSecond,
      burst: global ? e.burst / n : e.burst,
      ...(global && granted.length > 0 ? { minRequestsPerSecond: Math.min(...granted), maxRequestsPerSecond: Math.max(...granted) } : {}),
      ...(e.shareMode === 'Demand' ? { clampedDemands: clamped.filter((c) => c.limit === e.name).length } : {}),
    };
  });
  const version = state?.version ?? before?.version;
  const conditions: ConditionInput[] = [];
  if (replicas.length === 0) {
    const message = `the selector matches ${selected.length} pod(s), none Ready: ${published === undefined ? 'no shares published' : 'published shares move to 0'} (only pods labelled ${ENFORCER_LABEL} count)`;
    conditions.push({ type: 'Ready', status: 'False', reason: 'NoReplicas', message });
  } else if (state === undefined) {
    conditions.push({ type: 'Ready', status: 'False', reason: 'NotPublished', message: 'no shares published yet (kill switch engaged)' });
  } else {
    conditions.push({ type: 'Ready', status: 'True', reason: 'SharesPublished', message: `version ${state.version} for ${replicas.length} Ready replica(s)` });
  }
  const listed = waitingFor.slice(0, MAX_WAITING_LISTED);
  if (frozen) {
    const message = `kill switch engaged (${policy.killSwitch.scope ?? 'resource'}): shares stay as published${version === undefined ? '' : ` at version ${version}`}`;
    conditions.push({ type: 'Converging', status: 'False', reason: 'KillSwitchEngaged', message }, { type: 'Progressing', status: 'False', reason: 'KillSwitchEngaged', message });
  } else if (!converged) {
    const message = `waiting for ${waitingFor.length} replica(s) to acknowledge a lower share or let it lapse (${listed.join(', ')}${waitingFor.length > listed.length ? ', …' : ''})`;
    conditions.push({ type: 'Converging', status: 'True', reason: 'WaitingForAcks', message }, { type: 'Progressing', status: 'True', reason: 'WaitingForAcks', message });
  } else {
    conditions.push({ type: 'Converging', status: 'False', reason: 'Converged', message: 'every Ready replica holds its share' }, { type: 'Progressing', status: 'False', reason: 'Converged', message: 'every Ready replica holds its share' });
  }
  conditions.push({ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' });
  const beforeReason = (type: string) => before?.conditions?.find((c) => c.type === type)?.reason;
  if (replicas.length === 0 && beforeReason('Ready') !== 'NoReplicas') events.push({ type: 'Warning', reason: 'NoReplicas', note: conditions[0]!.message });
  if (frozen && beforeReason('Converging') !== 'KillSwitchEngaged') events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: conditions[1]!.message });
  if (newVersion && state !== undefined) events.push({ type: 'Normal', reason: 'SharesPublished', note: `version ${state.version} for ${replicas.length} Ready replica(s)` });
  const clampedBefore = before?.shares?.reduce((a, s) => a + (s.clampedDemands ?? 0), 0) ?? 0;
  if (clamped.length > clampedBefore) events.push({ type: 'Warning', reason: 'DemandClamped', note: clamped.map((c) => `${c.pod}/${c.limit}: ${c.clamped}`).join(', ').slice(0, 900) });

  const status: RatePolicyStatus = {
    observedGeneration: policy.generation,
    conditions: setConditions(before?.conditions as Condition[] | undefined, conditions, at),
    ...(before?.epoch === undefined ? {} : { epoch: before.epoch }),
    replicas: replicas.length,
    shares,
    ...(state === undefined ? {} : { configMap, version: state.version }),
    converged,
    ...(listed.length > 0 ? { waitingFor: [...listed] } : {}),
  };
  const apply =
    publish && state !== undefined && document !== undefined
      ? [sharesConfigMap({ policy, document, state, basisResourceVersion: policy.published?.resourceVersion })]
      : [];
  const present = new Set(policy.pods.map((p) => p.name));
  const remove = policy.reports.filter((r) => !present.has(r.pod) && state?.replicas[r.pod] === undefined).map((r) => ({ lease: r.lease }));
  const n = Math.max(1, replicas.length);
  return {
    apply,
    delete: remove,
    status: jsonEqual(status, before) ? undefined : status,
    events,
    requeueAfterMs: nextStepAt === undefined ? undefined : Math.max(50, Math.ceil(nextStepAt - now)),
    reason:
      `${replicas.length} Ready replica(s)` +
      (publish && state !== undefined ? (newVersion ? `, publish version ${state.version}` : `, refresh version ${state.version}`) : '') +
      (converged ? '' : `, waiting for ${waitingFor.length}`) +
      (frozen ? ' (kill switch)' : ''),
    published: publish && state !== undefined ? { version: state.version, newVersion, replicas: replicas.length, state } : undefined,
    clamped,
    shareRps: Object.fromEntries(entries.map((e) => [e.name, e.scope === 'Global' ? e.requestsPerSecond / n : e.requestsPerSecond])),
    replicas: replicas.length,
  };
}

/** Re-publishes `state` unchanged but for a later expiry, once a third of the lease has run. */
function refreshFrozen(state: ProtocolState, now: number, leaseMs: number) {
  const due = now >= state.expiresAt - (2 * leaseMs) / 3;
  const next = due ? { ...state, expiresAt: now + leaseMs } : state;
  return { state: next, publish: due, nextStepAt: next.expiresAt - (2 * leaseMs) / 3 };
}

/** Ready shares of every published replica, for tests and logs (requests/s by limit). */
export function grantsOf(state: ProtocolState | undefined, limit: string): Record<string, number> {
  return Object.fromEntries(Object.entries(state?.replicas ?? {}).map(([pod, g]) => [pod, rpsOf(g.granted, limit)]));
}
