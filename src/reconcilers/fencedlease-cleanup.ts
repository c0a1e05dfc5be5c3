/**
 * What deleting a FencedLease does, pure: given how the clean-up went (revoke the holder,
 * delete every key of the lease), whether to remove the finalizer now, the status to
 * report while it waits, the events, and when to try again.
 *
 * Policy: a clean-up that worked removes the finalizer at once. One that could not run
 * (etcd unreachable, credentials refused or missing) is retried — every 1..30 s, see
 * `retryAfterMs` — and reported as `CleanedUp=False` plus `Ready=False` with the reason;
 * the condition's `lastTransitionTime` marks when the failures began (so the wait
 * survives operator restarts). Once they have lasted `graceMs` (default 10 minutes) the
 * finalizer goes anyway, with a Warning event `CleanupAbandoned` naming the keys left
 * behind: a deletion must not hang forever on an etcd that may never come back. A spec
 * that never said where the lease lives (InvalidSpec) has nothing to clean: the
 * finalizer goes at once, with a Warning.
 *
 * Limitations: keys left behind by an abandoned clean-up stay in etcd until someone
 * deletes them (their holders' etcd leases still expire with their TTL unless renewed).
 */
import type { FencedLeaseStatus } from '../crds/fencedlease.ts';
import { rfc3339 } from '../legos/clock.ts';
import { findCondition, setConditions, type Condition } from '../legos/conditions.ts';
import type { Decision } from './decision.ts';
import { retryAfterMs } from './fencedlease.ts';

/** Default time a deletion waits for etcd before the finalizer is removed anyway, ms (10 minutes). */
export const DEFAULT_CLEANUP_GRACE_MS = 600_000;

/** How the clean-up attempt went. */
export type CleanupOutcome =
  /** The holder (if any) was revoked and `deleted` keys were removed. */
  | { readonly kind: 'done'; readonly revoked: { readonly identity: string; readonly fencingToken: bigint } | undefined; readonly deleted: number }
  /** Nothing to clean: the spec never located the lease (`message` says why). */
  | { readonly kind: 'skipped'; readonly message: string }
  /** The clean-up could not run; `reason` is a Ready reason (`EtcdUnavailable`, `EtcdAccessDenied`, `CredentialsUnavailable`). */
  | { readonly kind: 'failed'; readonly reason: string; readonly error: string };

/** The clean-up decision: `status` (undefined: leave it) is written while the finalizer stays. */
export interface CleanupPlan extends Decision<FencedLeaseStatus> {
  readonly removeFinalizer: boolean;
}

/** What the clean-up decider looks at (besides `now`). */
export interface CleanupObservation {
  readonly generation: number;
  readonly status: FencedLeaseStatus | undefined;
  /** Where the keys live, for messages. */
  readonly dir: string | undefined;
  readonly outcome: CleanupOutcome;
  /** @default {@link DEFAULT_CLEANUP_GRACE_MS} */
  readonly graceMs?: number | undefined;
}

/** Decides what to do after one clean-up attempt of a FencedLease being deleted, at wall time `now` (ms). */
export function reconcileFencedLeaseCleanup(input: CleanupObservation, now: number): CleanupPlan {
  const { outcome } = input;
  return { apply: [], delete: [], reason: `clean-up ${outcome.kind}`, ...cleanupDecision(input, outcome, now) };
}

function cleanupDecision(input: CleanupObservation, outcome: CleanupOutcome, now: number): Omit<CleanupPlan, 'apply' | 'delete' | 'reason'> {
  const graceMs = input.graceMs ?? DEFAULT_CLEANUP_GRACE_MS;
  const where = input.dir ?? '(unknown key)';
  switch (outcome.kind) {
    case 'done': {
      const who = outcome.revoked ? `revoked ${outcome.revoked.identity} (token ${outcome.revoked.fencingToken.toString()}), ` : '';
      return { removeFinalizer: true, status: undefined, events: [{ type: 'Normal', reason: 'CleanedUp', note: `${who}deleted ${outcome.deleted} key(s) under ${where}` }], requeueAfterMs: undefined };
    }
    case 'skipped':
      return {
        removeFinalizer: true,
        status: undefined,
        events: [{ type: 'Warning', reason: 'CleanupSkipped', note: `the lease was never located, nothing cleaned: ${outcome.message}`.slice(0, 1024) }],
        requeueAfterMs: undefined,
      };
    case 'failed': {
      const previous = findCondition(input.status?.conditions as Condition[] | undefined, 'CleanedUp');
      const parsed = previous?.status === 'False' ? Date.parse(previous.lastTransitionTime) : Number.NaN;
      const since = Number.isFinite(parsed) && parsed <= now ? parsed : now;
      const waited = now - since;
      if (waited >= graceMs) {
        return {
          removeFinalizer: true,
          status: undefined,
          events: [
            {
              type: 'Warning',
              reason: 'CleanupAbandoned',
              note: `clean-up failed for ${Math.round(waited / 1000)} s (${outcome.reason}: ${outcome.error}); finalizer removed, keys under ${where} may remain`.slice(0, 1024),
            },
          ],
          requeueAfterMs: undefined,
        };
      }
      const giveUpAt = rfc3339(since + graceMs);
      const message = `cannot revoke the holder and delete the keys under ${where}, retrying until ${giveUpAt}: ${outcome.error}`.slice(0, 4096);
      const conditions = setConditions(input.status?.conditions as Condition[] | undefined, [
        { type: 'Ready', status: 'False', reason: outcome.reason, message },
        { type: 'CleanedUp', status: 'False', reason: outcome.reason, message },
      ], { now: rfc3339(since), generation: input.generation });
      const { epoch: _epoch, ...kept } = input.status ?? {};
      return {
        removeFinalizer: false,
        status: { ...kept, observedGeneration: input.generation, conditions },
        events: previous?.status === 'False' ? [] : [{ type: 'Warning', reason: 'CleanupFailed', note: message.slice(0, 1024) }],
        // Never sleep past the moment the grace period ends.
        requeueAfterMs: Math.max(1, Math.min(retryAfterMs(waited), graceMs - waited)),
      };
    }
  }
}
