/**
 * The FencedLease decider, pure: from the object, what etcd shows of its lease (or why
 * nothing could be seen), the revoke still pending from an earlier reconcile and `now`,
 * the status to write, the revoke to make, the events and when to look again.
 *
 * Status mirrors etcd: `holder` and `fencingToken` (decimal, the holder key's create
 * revision), `acquireTime` (the holder's own wall clock, recorded in its key),
 * `expireTime` = now + the remaining TTL etcd reports, `renewTime` = expireTime − TTL,
 * `transitions` = how many times the observed fencing token changed to a new one.
 * While etcd cannot be seen the last known values stay, flagged by the conditions.
 *
 * Conditions: `Ready` (True when etcd answered and the spec is usable; False with
 * `InvalidSpec`, `NotPermitted` (outside the administrator's policy), `EtcdUnavailable`, `EtcdAccessDenied`,
 * `CredentialsUnavailable` or `InvalidTLSSecret` (the TLS Secret's PEM content is unusable;
 * the message names the Secret and key). Those that depend on something outside the spec
 * (etcd, Secrets) are retried after half the outage so far, 1..30 s, and the Warning
 * event is recorded once per outage, not per retry),
 * `Held` (True `Held`/`Acquiring`, False `Free`, Unknown while etcd is not seen) and
 * `HolderAllowed` (False `HolderNotAllowed` while a holder outside `allowedHolders` holds).
 *
 * Revoke by annotation, once per nonce: when `manyfold.dev/revoke` differs from
 * `status.lastRevokeNonce` and etcd is seen, the nonce is recorded in the status written
 * BEFORE the revoke, and the revoke is aimed at the holder's fencing token, so it can
 * never hit a successor. The shell keeps that aim in memory as the pending revoke and
 * retries it while that same token holds (an etcd error between decision and revoke).
 * A holder outside `allowedHolders` is revoked whenever it is seen (level-triggered).
 *
 * Kill switch (`manyfold.dev/kill-switch: "true"` on the FencedLease, its Namespace or the
 * operator's config): no revoke is made, neither by annotation nor by the allow list;
 * the status still mirrors etcd. A nonce that arrives meanwhile is not recorded, so it
 * acts once the switch is released (if the annotation is still there); a revoke already
 * pending keeps its aim and is made after release only if the same holder still holds.
 * Condition `Enforcing` (True `Enforcing`, False `KillSwitchEngaged`) shows which.
 * Deleting the object still revokes and cleans up: that is an explicit request.
 *
 * Limitations
 * - `renewTime` is derived, not recorded: etcd keeps no keep-alive times, only the
 *   remaining TTL (whole seconds), so renewTime = expireTime − TTL is the last keep-alive
 *   etcd had processed when the operator looked, and an etcd leader change resets the
 *   remaining TTL to the full TTL, which makes renewTime jump to "now" without any
 *   renewal. Between observations the times age; they are refreshed every
 *   `refreshMs` (default clamp(TTL, 30 s, 5 min)) while the lease is held.
 * - `transitions` counts holdings the operator saw: several holders that come and go
 *   between two observations count once.
 * - Only the last nonce is stored: going back to an older nonce (n1, n2, n1) acts again.
 *   Use fresh nonces (a timestamp). A pending revoke lives in memory: if the operator
 *   stops between recording a nonce and revoking, that nonce does nothing (at most once).
 * - `acquireTime` comes from the holder's clock; skew shows up as is.
 */
import type { FencedLeaseSpec, FencedLeaseStatus } from '../crds/fencedlease.ts';
import { rfc3339 } from '../legos/clock.ts';
import { findCondition, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import type { LeaseHolder } from '../legos/lease/types.ts';
import type { Decision, PlannedEvent } from './decision.ts';
import type { KillSwitchState } from './kill-switch.ts';

export type { PlannedEvent } from './decision.ts';

/** Annotation whose distinct values each revoke the current holder once. */
export const RevokeAnnotation = 'manyfold.dev/revoke';
/** Finalizer that makes deletion revoke the holder and delete the lease's keys first. */
export const CleanupFinalizer = 'manyfold.dev/fencedlease-cleanup';
/** Longest nonce `status.lastRevokeNonce` can hold. */
export const MAX_NONCE_LENGTH = 253;
/** Longest holder identity `status.holder` can hold (longer ones are cut). */
export const MAX_HOLDER_LENGTH = 253;

/** What the holder looks like in etcd (the client library's `LeaseHolder`, as much as the decider needs). */
export type ObservedHolder = Pick<LeaseHolder, 'identity' | 'fencingToken' | 'ttlSeconds' | 'remainingSeconds' | 'acquireTime' | 'waiters'>;

/** What the shell could see of the lease in etcd. */
export type EtcdView =
  /** etcd answered; `holder` is undefined when nobody holds the lease. */
  | { readonly state: 'observed'; readonly holder: ObservedHolder | undefined }
  /** etcd did not answer (or timed out); `error` says how. */
  | { readonly state: 'unreachable'; readonly error: string }
  /** etcd refused the credentials or the permission. */
  | { readonly state: 'denied'; readonly error: string }
  /** The credentials could not be read (Secret or key missing). */
  | { readonly state: 'credentials'; readonly error: string }
  /** The TLS Secret's content is unusable (malformed PEM, key not matching, half a pair); `error` names Secret and key. */
  | { readonly state: 'tlsSecret'; readonly error: string }
  /** Not looked at: the spec is unusable (`invalid` carries the field and message). */
  | { readonly state: 'invalid'; readonly message: string }
  /** Not looked at: the spec reaches outside what the administrator allows (field named). */
  | { readonly state: 'forbidden'; readonly message: string };

/** A revoke by annotation whose effect is not confirmed yet (kept in memory by the shell). */
export interface PendingRevoke {
  readonly nonce: string;
  readonly fencingToken: bigint;
}

/** A revoke to make: `fencingToken` guards it (it does nothing if another holder took over). */
export interface RevokeAction {
  readonly fencingToken: bigint;
  readonly holder: string;
  /** `annotation`: a `manyfold.dev/revoke` nonce; `notAllowed`: the holder is not in `allowedHolders`. */
  readonly cause: 'annotation' | 'notAllowed';
  readonly nonce: string | undefined;
}

/** Everything the decider looks at (besides `now`). */
export interface FencedLeaseObservation {
  readonly generation: number;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  /** The spec parsed at the boundary; unusable specs come in through `etcd.state === 'invalid'`. */
  readonly spec: FencedLeaseSpec | undefined;
  readonly status: FencedLeaseStatus | undefined;
  readonly etcd: EtcdView;
  readonly pendingRevoke: PendingRevoke | undefined;
  /** Refresh interval of renew/expire times while held, ms; 0 disables. @default clamp(TTL, 30 s, 5 min) */
  readonly refreshMs?: number | undefined;
  /** Kill switch on the object, its namespace or globally; absent means not engaged. */
  readonly killSwitch?: KillSwitchState | undefined;
}

/** The FencedLease decision: no children; the status, then the revoke to make after it is written. */
export interface FencedLeasePlan extends Decision<FencedLeaseStatus> {
  /** The complete status to apply (the writer skips it when unchanged). */
  readonly status: FencedLeaseStatus;
  /** Revoke to make after the status is written. */
  readonly revoke: RevokeAction | undefined;
  /** The pending revoke to keep in memory from now on (undefined clears it). */
  readonly pendingRevoke: PendingRevoke | undefined;
}

/** Retry interval while something outside the operator is failing: half the outage so far, 1..30 s. */
export function retryAfterMs(outageMs: number): number {
  return Math.min(30_000, Math.max(1000, Math.round(outageMs / 2)));
}

/** Default refresh of renew/expire times while held: the TTL, clamped to 30 s..5 min. */
export function defaultRefreshMs(ttlSeconds: number): number {
  return Math.min(300_000, Math.max(30_000, ttlSeconds * 1000));
}

/** expireTime and renewTime from etcd's remaining and granted TTL, as RFC 3339 (whole seconds). */
export function leaseTimes(now: number, remainingSeconds: number, ttlSeconds: number): { expireTime: string; renewTime: string } | undefined {
  if (remainingSeconds < 0 || ttlSeconds <= 0) return undefined;
  const expireMs = Math.floor((now + remainingSeconds * 1000) / 1000) * 1000;
  return { expireTime: rfc3339(expireMs), renewTime: rfc3339(expireMs - ttlSeconds * 1000) };
}

/** True when `identity` may hold the lease under `allowedHolders` (empty or absent allows anyone). */
export function holderAllowed(identity: string, allowedHolders: readonly string[] | undefined): boolean {
  return !allowedHolders || allowedHolders.length === 0 || allowedHolders.includes(identity);
}

const notSeen: Record<Exclude<EtcdView['state'], 'observed'>, string> = {
  unreachable: 'EtcdUnavailable',
  denied: 'EtcdAccessDenied',
  credentials: 'CredentialsUnavailable',
  tlsSecret: 'InvalidTLSSecret',
  invalid: 'InvalidSpec',
  forbidden: 'NotPermitted',
};

/** Ready reasons of an etcd that could not be seen for reasons outside the spec (the ones that recover). */
const recoverable = new Set(['EtcdUnavailable', 'EtcdAccessDenied', 'CredentialsUnavailable', 'InvalidTLSSecret']);

function readyCondition(etcd: EtcdView): ConditionInput {
  switch (etcd.state) {
    case 'observed':
      return { type: 'Ready', status: 'True', reason: 'Observed', message: 'etcd answers; the status mirrors the lease' };
    case 'unreachable':
      return { type: 'Ready', status: 'False', reason: 'EtcdUnavailable', message: `etcd unreachable, retrying: ${etcd.error}`.slice(0, 4096) };
    case 'denied':
      return { type: 'Ready', status: 'False', reason: 'EtcdAccessDenied', message: `etcd refused the credentials or permission: ${etcd.error}`.slice(0, 4096) };
    case 'credentials':
      return { type: 'Ready', status: 'False', reason: 'CredentialsUnavailable', message: etcd.error.slice(0, 4096) };
    case 'tlsSecret':
      return { type: 'Ready', status: 'False', reason: 'InvalidTLSSecret', message: etcd.error.slice(0, 4096) };
    case 'invalid':
      return { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: etcd.message.slice(0, 4096) };
    case 'forbidden':
      return { type: 'Ready', status: 'False', reason: 'NotPermitted', message: etcd.message.slice(0, 4096) };
  }
}

/**
 * The `Enforcing` condition (False while the kill switch holds revokes back, with what
 * waits) and, when it flips, the event that says so (pushed onto `events`).
 */
function enforcingCondition(killSwitch: KillSwitchState | undefined, waits: readonly string[], previous: FencedLeaseStatus | undefined, events: PlannedEvent[]): ConditionInput {
  const halted = killSwitch?.engaged === true;
  const condition: ConditionInput = halted
    ? {
        type: 'Enforcing',
        status: 'False',
        reason: 'KillSwitchEngaged',
        message: `kill switch engaged (${killSwitch.scope ?? 'resource'}): no holder is revoked until it is released${waits.length > 0 ? `; waiting: ${waits.join(', ')}` : ''}`,
      }
    : { type: 'Enforcing', status: 'True', reason: 'Enforcing', message: `${RevokeAnnotation} nonces and spec.allowedHolders are acted on` };
  const before = findCondition(previous?.conditions as Condition[] | undefined, 'Enforcing');
  if (halted && before?.reason !== 'KillSwitchEngaged') events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: condition.message });
  if (!halted && before?.reason === 'KillSwitchEngaged') events.push({ type: 'Normal', reason: 'KillSwitchReleased', note: 'kill switch released: revokes are acted on again' });
  return condition;
}

const describeHolder = (identity: string, token: bigint | string) => `${identity === '' ? '(unnamed)' : identity} (token ${token.toString()})`;

/** The whole decision for one reconcile of a live (not deleting) FencedLease at wall time `now` (ms). */
export function reconcileFencedLease(input: FencedLeaseObservation, now: number): FencedLeasePlan {
  const { etcd, spec } = input;
  const previous = input.status;
  const at = { now: rfc3339(now), generation: input.generation };
  const events: PlannedEvent[] = [];
  const ready = readyCondition(etcd);
  const previousReady = findCondition(previous?.conditions as Condition[] | undefined, 'Ready');
  const nonce = input.annotations?.[RevokeAnnotation]?.trim() || undefined;

  if (etcd.state !== 'observed') {
    const reason = notSeen[etcd.state];
    const ongoing = previousReady?.status === 'False' && previousReady.reason === reason;
    if (!ongoing) events.push({ type: 'Warning', reason, note: ready.message });
    const since = ongoing ? Date.parse(previousReady.lastTransitionTime) : now;
    const conditions = setConditions(previous?.conditions as Condition[] | undefined, [
      ready,
      { type: 'Held', status: 'Unknown', reason, message: 'etcd is not observed; holder fields show the last known state' },
      { type: 'HolderAllowed', status: 'Unknown', reason, message: 'etcd is not observed' },
      enforcingCondition(input.killSwitch, [], previous, events),
    ], at);
    // Keep the last known holder fields; only observedGeneration and conditions move.
    const { epoch: _epoch, ...kept } = previous ?? {};
    const status: FencedLeaseStatus = { ...kept, observedGeneration: input.generation, transitions: kept.transitions ?? 0, conditions };
    return {
      apply: [],
      delete: [],
      status,
      revoke: undefined,
      // Keep the aim of an unconfirmed revoke: it is retried once etcd is seen again.
      pendingRevoke: input.pendingRevoke,
      events,
      requeueAfterMs: etcd.state === 'invalid' || etcd.state === 'forbidden' ? undefined : retryAfterMs(Number.isFinite(since) ? now - since : 0),
      reason: `${reason}: ${ready.message}`,
    };
  }

  const holder = etcd.holder;
  const previousToken = previous?.fencingToken;
  const token = holder?.fencingToken;
  const newHolding = token !== undefined && (previousToken === undefined || BigInt(previousToken) !== token);
  const transitions = (previous?.transitions ?? 0) + (newHolding ? 1 : 0);
  const identity = holder ? holder.identity.slice(0, MAX_HOLDER_LENGTH) : undefined;

  if (holder && newHolding) {
    const before = previous?.holder !== undefined && previousToken !== undefined ? `; previous ${describeHolder(previous.holder, previousToken)}` : '';
    events.push({ type: 'Normal', reason: 'Acquired', note: `${describeHolder(holder.identity, holder.fencingToken)} holds the lease${before}` });
  } else if (!holder && previousToken !== undefined && previous?.holder !== undefined) {
    events.push({ type: 'Normal', reason: 'LeaseFree', note: `nobody holds the lease (last holder ${describeHolder(previous.holder, previousToken)})` });
  }
  if (previousReady?.status === 'False' && recoverable.has(previousReady.reason)) {
    events.push({ type: 'Normal', reason: 'EtcdAvailable', note: 'etcd answers again' });
  }

  // Revokes: a pending one first (same aim), then a new nonce, then the allow list.
  // Under the kill switch none is made: a pending one keeps its aim, a new nonce waits.
  const halted = input.killSwitch?.engaged === true;
  let revoke: RevokeAction | undefined;
  let pending = input.pendingRevoke;
  let lastRevokeNonce = previous?.lastRevokeNonce;
  if (pending) {
    if (holder && holder.fencingToken === pending.fencingToken) {
      if (!halted) revoke = { fencingToken: pending.fencingToken, holder: holder.identity, cause: 'annotation', nonce: pending.nonce };
    } else {
      pending = undefined;
    }
  }
  const waitingNonce = halted && nonce !== undefined && nonce !== lastRevokeNonce && nonce !== pending?.nonce ? nonce : undefined;
  if (!halted && nonce !== undefined && nonce !== lastRevokeNonce && nonce !== pending?.nonce) {
    if (nonce.length > MAX_NONCE_LENGTH) {
      events.push({ type: 'Warning', reason: 'InvalidRevokeNonce', note: `${RevokeAnnotation} is ${nonce.length} characters; at most ${MAX_NONCE_LENGTH} are allowed, so it is ignored` });
    } else {
      lastRevokeNonce = nonce;
      if (holder) {
        revoke = { fencingToken: holder.fencingToken, holder: holder.identity, cause: 'annotation', nonce };
        pending = { nonce, fencingToken: holder.fencingToken };
      } else {
        events.push({ type: 'Normal', reason: 'RevokeSkipped', note: `${RevokeAnnotation}: ${nonce}: nobody holds the lease` });
      }
    }
  }
  const allowed = holder ? holderAllowed(holder.identity, spec?.allowedHolders) : true;
  if (holder && !allowed && !revoke && !halted) revoke = { fencingToken: holder.fencingToken, holder: holder.identity, cause: 'notAllowed', nonce: undefined };

  const times = holder ? leaseTimes(now, holder.remainingSeconds, holder.ttlSeconds) : undefined;
  const ttlNote = holder && spec && holder.ttlSeconds > 0 && holder.ttlSeconds !== spec.ttlSeconds ? `; granted TTL ${holder.ttlSeconds} s differs from spec.ttlSeconds ${spec.ttlSeconds}` : '';
  const held: ConditionInput = !holder
    ? { type: 'Held', status: 'False', reason: 'Free', message: 'nobody holds the lease' }
    : {
        type: 'Held',
        status: 'True',
        reason: holder.acquireTime === undefined ? 'Acquiring' : 'Held',
        message: `${holder.acquireTime === undefined ? 'being taken by' : 'held by'} ${describeHolder(holder.identity, holder.fencingToken)}, ${holder.waiters} waiting${times ? '' : '; no TTL (the key has no live etcd lease)'}${ttlNote}`,
      };
  const holderAllowedCondition: ConditionInput = !holder
    ? { type: 'HolderAllowed', status: 'True', reason: 'NoHolder', message: 'nobody holds the lease' }
    : allowed
      ? { type: 'HolderAllowed', status: 'True', reason: spec?.allowedHolders?.length ? 'Allowed' : 'AnyHolderAllowed', message: `${describeHolder(holder.identity, holder.fencingToken)} may hold the lease` }
      : {
          type: 'HolderAllowed',
          status: 'False',
          reason: 'HolderNotAllowed',
          message: `${describeHolder(holder.identity, holder.fencingToken)} is not in spec.allowedHolders; ${halted ? 'not revoked while the kill switch is engaged' : 'revoking it'}`,
        };
  const waits = [
    ...(pending && halted ? [`the revoke for ${RevokeAnnotation}=${pending.nonce}`] : []),
    ...(waitingNonce === undefined ? [] : [`${RevokeAnnotation}=${waitingNonce.slice(0, MAX_NONCE_LENGTH)}`]),
    ...(holder && !allowed && halted ? ['revoking the holder outside spec.allowedHolders'] : []),
  ];
  const enforcing = enforcingCondition(input.killSwitch, waits, previous, events);
  const conditions = setConditions(previous?.conditions as Condition[] | undefined, [ready, held, holderAllowedCondition, enforcing], at);

  const status: FencedLeaseStatus = {
    observedGeneration: input.generation,
    ...(identity === undefined ? {} : { holder: identity }),
    ...(token === undefined ? {} : { fencingToken: token.toString() }),
    ...(holder?.acquireTime === undefined ? {} : { acquireTime: rfc3339(holder.acquireTime) }),
    ...(times ?? {}),
    transitions,
    ...(lastRevokeNonce === undefined ? {} : { lastRevokeNonce }),
    conditions,
  };
  const refresh = input.refreshMs ?? defaultRefreshMs(holder?.ttlSeconds || spec?.ttlSeconds || 0);
  const requeueAfterMs = holder && times && refresh > 0 ? refresh : undefined;
  const reason = revoke
    ? `revoke ${describeHolder(revoke.holder, revoke.fencingToken)}: ${revoke.cause === 'annotation' ? `${RevokeAnnotation}=${revoke.nonce ?? ''}` : 'not in allowedHolders'}`
    : (holder ? `held by ${describeHolder(holder.identity, holder.fencingToken)}` : 'free') + (halted ? ` (kill switch: ${input.killSwitch?.scope ?? 'resource'})` : '');
  return { apply: [], delete: [], status, revoke, pendingRevoke: pending, events, requeueAfterMs, reason };
}

/** What happened to a revoke the shell made. */
export type RevokeOutcome =
  | { readonly kind: 'revoked' }
  /** The guard did not match: the holder had already changed. */
  | { readonly kind: 'gone' }
  | { readonly kind: 'failed'; readonly error: string };

/** The event that reports a revoke's outcome. */
export function revokeEvent(action: RevokeAction, outcome: RevokeOutcome): PlannedEvent {
  const who = describeHolder(action.holder, action.fencingToken);
  const why = action.cause === 'annotation' ? `${RevokeAnnotation}: ${action.nonce ?? ''}` : 'not in spec.allowedHolders';
  switch (outcome.kind) {
    case 'revoked':
      return action.cause === 'annotation'
        ? { type: 'Normal', reason: 'Revoked', note: `revoked ${who} (${why})` }
        : { type: 'Warning', reason: 'HolderNotAllowed', note: `revoked ${who}: ${why}` };
    case 'gone':
      return { type: 'Normal', reason: 'RevokeSkipped', note: `${who} no longer held the lease (${why})` };
    case 'failed':
      return { type: 'Warning', reason: 'RevokeFailed', note: `could not revoke ${who} (${why}), retrying: ${outcome.error}` };
  }
}
