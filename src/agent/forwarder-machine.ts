/**
 * The forwarder's decisions as data plus a pure step function (STYLE.md point 5). The
 * shell (`forwarder.ts`) does the I/O each phase asks for: in `idle` it reads the next
 * batch from the spool (or waits for records), in `sending` it hands the batch to the
 * sink, in `backingOff` it sleeps until `retryAtMs`; `stopped` ends the loop.
 *
 * Guarantees (checked by property tests):
 * - an acknowledgement is emitted only for `sent` while `sending`, and it is the lastOffset
 *   of the batch in flight, so the spool is truncated only behind what the sink took;
 *   acknowledged offsets strictly increase;
 * - a failed batch is retried as the same batch (no record is skipped) after a backoff
 *   delay from the `BackoffPolicy` (jittered, capped), for ever unless a drain deadline
 *   passes: accepted data is never given up on;
 * - draining (shutdown) forwards what is there and stops when caught up (`drained`), or
 *   at the deadline (`deadline`), leaving the rest in the spool for the next start;
 * - `stopped` absorbs every input.
 *
 * Times are monotonic ms. The backoff's jitter comes from the policy's injected random
 * function, so a seeded policy makes `step` deterministic.
 *
 * Limitations: one batch in flight at a time (no pipelining): throughput per agent is
 * one batch per sink round trip.
 */
import type { BackoffPolicy } from '../legos/sensor/index.ts';

/** The spool records a batch covers. */
export interface BatchRef {
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly count: number;
  /** Payload bytes. */
  readonly bytes: number;
}

/** Why the forwarder stopped. */
export type StopReason = 'drained' | 'deadline' | 'aborted';

export type ForwarderPhase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'sending'; readonly batch: BatchRef; readonly attempt: number }
  | { readonly kind: 'backingOff'; readonly batch: BatchRef; readonly attempt: number; readonly retryAtMs: number; readonly error: string }
  | { readonly kind: 'stopped'; readonly reason: StopReason };

export interface ForwarderState {
  readonly phase: ForwarderPhase;
  /** Set by `drain`: the monotonic time by which to stop. */
  readonly drainDeadlineMs: number | undefined;
  /** Failed sends since the last success. */
  readonly consecutiveFailures: number;
  /** Highest offset acknowledged by this forwarder (0 before the first). */
  readonly ackedOffset: number;
}

export type ForwarderInput =
  | { readonly type: 'batchRead'; readonly batch: BatchRef }
  | { readonly type: 'caughtUp' }
  | { readonly type: 'sent' }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'timer' }
  | { readonly type: 'drain'; readonly deadlineMs: number }
  | { readonly type: 'abort' };

export interface StepResult {
  readonly state: ForwarderState;
  /** Acknowledge the spool up to this offset (the sink has everything up to it). */
  readonly ack?: number | undefined;
  /** Why the state is what it is, for logs and health. */
  readonly reason: string;
}

/** The state a forwarder starts in. */
export function initialForwarderState(): ForwarderState {
  return { phase: { kind: 'idle' }, drainDeadlineMs: undefined, consecutiveFailures: 0, ackedOffset: 0 };
}

function withPhase(state: ForwarderState, phase: ForwarderPhase, changes: Partial<ForwarderState> = {}): ForwarderState {
  return { ...state, ...changes, phase };
}

/** Applies the drain deadline after a transition: past it, anything but a send in flight stops. */
function checkDeadline(result: StepResult, nowMs: number): StepResult {
  const { state } = result;
  const deadline = state.drainDeadlineMs;
  if (deadline === undefined || state.phase.kind === 'stopped' || state.phase.kind === 'sending') return result;
  const late = nowMs >= deadline || (state.phase.kind === 'backingOff' && state.phase.retryAtMs >= deadline);
  if (!late) return result;
  return { ...result, state: withPhase(state, { kind: 'stopped', reason: 'deadline' }), reason: `${result.reason}; drain deadline reached, the rest stays spooled` };
}

/** The pure transition function; see the module header. */
export function stepForwarder(state: ForwarderState, input: ForwarderInput, nowMs: number, backoff: BackoffPolicy): StepResult {
  const phase = state.phase;
  if (phase.kind === 'stopped') return { state, reason: `stopped (${phase.reason})` };
  const pastDeadline = state.drainDeadlineMs !== undefined && nowMs >= state.drainDeadlineMs;
  if (pastDeadline && phase.kind !== 'sending' && (input.type === 'batchRead' || input.type === 'caughtUp' || input.type === 'timer')) {
    return { state: withPhase(state, { kind: 'stopped', reason: 'deadline' }), reason: 'drain deadline reached, the rest stays spooled' };
  }
  switch (input.type) {
    case 'abort':
      return { state: withPhase(state, { kind: 'stopped', reason: 'aborted' }), reason: 'aborted; an unacknowledged batch stays spooled' };
    case 'drain': {
      const deadline = Math.min(state.drainDeadlineMs ?? Infinity, input.deadlineMs);
      return checkDeadline({ state: { ...state, drainDeadlineMs: deadline }, reason: 'draining' }, nowMs);
    }
    case 'batchRead':
      if (phase.kind !== 'idle') return { state, reason: `ignored batchRead in ${phase.kind}` };
      return { state: withPhase(state, { kind: 'sending', batch: input.batch, attempt: 1 }), reason: `sending offsets ${input.batch.firstOffset}..${input.batch.lastOffset}` };
    case 'caughtUp':
      if (phase.kind !== 'idle') return { state, reason: `ignored caughtUp in ${phase.kind}` };
      if (state.drainDeadlineMs !== undefined) return { state: withPhase(state, { kind: 'stopped', reason: 'drained' }), reason: 'drained: the sink has everything' };
      return checkDeadline({ state, reason: 'caught up' }, nowMs);
    case 'sent': {
      if (phase.kind !== 'sending') return { state, reason: `ignored sent in ${phase.kind}` };
      const next = withPhase(state, { kind: 'idle' }, { consecutiveFailures: 0, ackedOffset: phase.batch.lastOffset });
      return checkDeadline({ state: next, ack: phase.batch.lastOffset, reason: `sink took offsets ${phase.batch.firstOffset}..${phase.batch.lastOffset}` }, nowMs);
    }
    case 'failed': {
      if (phase.kind !== 'sending') return { state, reason: `ignored failed in ${phase.kind}` };
      const failures = state.consecutiveFailures + 1;
      const delay = backoff.delayForAttempt(failures + 1);
      const next = withPhase(state, { kind: 'backingOff', batch: phase.batch, attempt: phase.attempt, retryAtMs: nowMs + delay, error: input.error }, { consecutiveFailures: failures });
      return checkDeadline({ state: next, reason: `send failed (${input.error}); retry in ${Math.round(delay)} ms` }, nowMs);
    }
    case 'timer': {
      if (phase.kind === 'backingOff' && nowMs >= phase.retryAtMs) {
        const next = withPhase(state, { kind: 'sending', batch: phase.batch, attempt: phase.attempt + 1 });
        return checkDeadline({ state: next, reason: `retrying offsets ${phase.batch.firstOffset}..${phase.batch.lastOffset} (attempt ${phase.attempt + 1})` }, nowMs);
      }
      return checkDeadline({ state, reason: phase.kind === 'backingOff' ? 'backing off' : phase.kind }, nowMs);
    }
  }
}
