/**
 * The pure decision of leader election on a `coordination.k8s.io/v1` Lease, with
 * client-go's semantics: a candidate may take the Lease only when it is free (no
 * holder) or when its record has not changed for a whole lease duration *as observed
 * on the candidate's own monotonic clock* (never by comparing the wall-clock
 * `renewTime` written by another machine, so clock skew cannot cause a takeover).
 *
 * Fencing epochs: every acquisition (not a renewal) increments `leaseTransitions`,
 * also when the same identity re-acquires, and never to a value at or below the last
 * published fencing epoch (`minEpoch`), so a deleted and re-created Lease cannot
 * reuse an old epoch. The epoch of a term is the `leaseTransitions` it wrote.
 */

export interface LeaseSpec {
  holderIdentity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  acquireTime?: string | undefined;
  renewTime?: string | undefined;
  leaseTransitions?: number | undefined;
}

/** What the candidate knows about the Lease it last read. */
export interface Observed {
  /** The Lease's spec, or undefined when the Lease does not exist. */
  readonly spec: LeaseSpec | undefined;
  /** Monotonic ms at which this candidate first saw the current record (holder + renewTime). */
  readonly observedAt: number;
}

export interface DecideInput {
  readonly identity: string;
  readonly observed: Observed;
  /** True when this candidate currently leads (its last write succeeded). */
  readonly leading: boolean;
  /** Monotonic now, ms. */
  readonly now: number;
  /** Wall-clock now as an RFC 3339 string with microseconds, for the record. */
  readonly wallNow: string;
  readonly leaseDurationMs: number;
  /** The last published fencing epoch (0 when none). */
  readonly minEpoch: number;
}

export type Decision =
  | { readonly action: 'create'; readonly spec: LeaseSpec; readonly epoch: number; readonly reason: string }
  | { readonly action: 'update'; readonly spec: LeaseSpec; readonly epoch: number; readonly renewal: boolean; readonly reason: string }
  | { readonly action: 'wait'; readonly holder: string; readonly retryInMs: number; readonly reason: string };

/** Decides whether to create, take over, renew, or wait. Pure. */
export function decide(input: DecideInput): Decision {
  const durationSeconds = Math.max(1, Math.ceil(input.leaseDurationMs / 1000));
  const spec = input.observed.spec;
  if (spec === undefined) {
    const epoch = Math.max(1, input.minEpoch + 1);
    return {
      action: 'create',
      epoch,
      reason: 'the Lease does not exist',
      spec: acquiredSpec(input, durationSeconds, epoch),
    };
  }
  const holder = spec.holderIdentity ?? '';
  const transitions = spec.leaseTransitions ?? 0;
  if (holder === input.identity && input.leading) {
    return {
      action: 'update',
      renewal: true,
      epoch: transitions,
      reason: 'renewing our own Lease',
      spec: { ...spec, leaseDurationSeconds: durationSeconds, renewTime: input.wallNow },
    };
  }
  const expiresAt = input.observed.observedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
  if (holder !== '' && holder !== input.identity && input.now < expiresAt) {
    return { action: 'wait', holder, retryInMs: expiresAt - input.now, reason: `held by ${holder}` };
  }
  const epoch = Math.max(transitions + 1, input.minEpoch + 1);
  return {
    action: 'update',
    renewal: false,
    epoch,
    reason: holder === '' ? 'the Lease was released' : holder === input.identity ? 're-acquiring our expired Lease' : `the Lease of ${holder} expired`,
    spec: acquiredSpec(input, durationSeconds, epoch),
  };
}

/** The Lease spec of a fresh term: held by this candidate from now, numbered `epoch`. */
function acquiredSpec(input: DecideInput, durationSeconds: number, epoch: number): LeaseSpec {
  return {
    holderIdentity: input.identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: input.wallNow,
    renewTime: input.wallNow,
    leaseTransitions: epoch,
  };
}

/** The record as a candidate compares it to notice change: holder and renew time. */
export function recordFingerprint(spec: LeaseSpec | undefined): string {
  return spec === undefined ? '' : `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${spec.leaseTransitions ?? 0}`;
}
