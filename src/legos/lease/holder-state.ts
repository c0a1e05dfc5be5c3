/**
 * The lease holder's state machine and deadline arithmetic, as data plus a pure step
 * function: `stepHolder(state, input, now, timing)`. The I/O shell (`holder.ts`) feeds it
 * keep-alive results, watch events and clock ticks and fires the handle's signal when
 * the state becomes `ended`.
 *
 * Deadline rule: a keep-alive that etcd confirmed, SENT at monotonic time `s`, proves the
 * lease lives on the server until at least `s + TTL` (the server restarts the lease timer
 * when it processes the request, which is after `s`). So the holder may act until
 * `s + min(TTL asked, TTL answered) - margin`. Only the send time of the holder's own
 * confirmed requests counts: a server-side TTL reset (etcd leader change, restart) makes
 * the server keep the lease longer, never the holder act longer.
 *
 * Guarantees (checked by property tests): the deadline never moves backwards while the
 * lease lives and never exceeds `max(confirmed send) + TTL - margin`; a state that is not
 * `ended` always has `now < validUntil`; `ended` is final.
 *
 * Limitations: assumes the holder's monotonic clock runs at most `margin / TTL` slower
 * than etcd's lease timer; the margin is the only allowance for drift.
 */
import type { LeaseEndReason } from './errors.ts';

/** TTL and safety margin of one lease, ms. */
export interface HolderTiming {
  readonly ttlMs: number;
  readonly marginMs: number;
}

/** Where a holder is: queued behind others, holding, or done. */
export type HolderState =
  | { readonly phase: 'waiting'; readonly validUntil: number }
  | { readonly phase: 'holding'; readonly validUntil: number; readonly since: number }
  | {
      readonly phase: 'ended';
      readonly reason: LeaseEndReason;
      /** Monotonic ms when the end was noticed. */
      readonly at: number;
      /** The last deadline the holder had (for non-overlap checks). */
      readonly validUntil: number;
    };

/** What the shell observed. */
export type HolderInput =
  /** etcd answered a keep-alive sent at `sentAt` with TTL `serverTtlSeconds` > 0. */
  | { readonly type: 'keepAliveConfirmed'; readonly sentAt: number; readonly serverTtlSeconds: number }
  /** etcd answered that the lease does not exist (TTL 0 or "lease not found"). */
  | { readonly type: 'leaseGone' }
  /** The holder's key was deleted (or re-created by someone else). */
  | { readonly type: 'keyGone' }
  /** etcd rejected a fenced write. */
  | { readonly type: 'fenceRejected' }
  /** Every key before ours is gone and ours is confirmed: we hold the lease. */
  | { readonly type: 'acquired' }
  /** Time passed; re-check the deadline. */
  | { readonly type: 'tick' }
  /** The owner ends the lease. */
  | { readonly type: 'end'; readonly reason: 'released' | 'closed' };

/** The deadline a confirmed keep-alive sent at `sentAt` justifies. */
export function deadlineFrom(sentAt: number, serverTtlSeconds: number, timing: HolderTiming): number {
  return sentAt + Math.min(timing.ttlMs, serverTtlSeconds * 1000) - timing.marginMs;
}

/** The state right after the lease grant was SENT at `grantSentAt` (a grant is a confirmed keep-alive). */
export function initialHolderState(grantSentAt: number, timing: HolderTiming): HolderState {
  return { phase: 'waiting', validUntil: deadlineFrom(grantSentAt, timing.ttlMs / 1000, timing) };
}

function ended(state: { readonly validUntil: number }, reason: LeaseEndReason, now: number): HolderState {
  return { phase: 'ended', reason, at: now, validUntil: state.validUntil };
}

/** True while the holder may act on the lease at `now`. */
export function isHeld(state: HolderState, now: number): boolean {
  return state.phase === 'holding' && now < state.validUntil;
}

/** The pure transition function. */
export function stepHolder(state: HolderState, input: HolderInput, now: number, timing: HolderTiming): HolderState {
  if (state.phase === 'ended') return state;
  if (now >= state.validUntil) return ended(state, 'expired', now);
  switch (input.type) {
    case 'tick':
      return state;
    case 'keepAliveConfirmed': {
      if (input.serverTtlSeconds <= 0) return ended(state, 'revoked', now);
      // A confirmation of a request sent in the future is impossible; never trust one.
      const sentAt = Math.min(input.sentAt, now);
      const validUntil = Math.max(state.validUntil, deadlineFrom(sentAt, input.serverTtlSeconds, timing));
      return { ...state, validUntil };
    }
    case 'leaseGone':
      return ended(state, 'revoked', now);
    case 'keyGone':
      return ended(state, 'deleted', now);
    case 'fenceRejected':
      return ended(state, 'fenced', now);
    case 'acquired':
      return state.phase === 'waiting' ? { phase: 'holding', validUntil: state.validUntil, since: now } : state;
    case 'end':
      return ended(state, input.reason, now);
  }
}
