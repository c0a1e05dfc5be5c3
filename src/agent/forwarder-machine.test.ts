import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackoffPolicy } from '../legos/sensor/index.ts';
import { type BatchRef, type ForwarderInput, type ForwarderState, initialForwarderState, stepForwarder } from './forwarder-machine.ts';

const MAX_DELAY = 30_000;
const backoffArb = fc.double({ min: 0, max: 0.999999, noNaN: true }).map((r) => new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: MAX_DELAY, jitter: 'equal', random: () => r }));

/** What the world does next; the model decides which input that becomes in the current phase. */
type Event = { kind: 'outcome'; ok: boolean } | { kind: 'tick'; ms: number } | { kind: 'append'; count: number } | { kind: 'drain'; inMs: number } | { kind: 'abort' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.boolean().map((ok) => ({ kind: 'outcome' as const, ok })) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40_000 }).map((ms) => ({ kind: 'tick' as const, ms })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 7 }).map((count) => ({ kind: 'append' as const, count })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 60_000 }).map((inMs) => ({ kind: 'drain' as const, inMs })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
);

/**
 * A model of the shell: a spool holding offsets 1..appended, a reader position, a sink
 * that succeeds or fails on command. Records which offsets the sink took and what was acked.
 */
function simulate(events: readonly Event[], backoff: BackoffPolicy, batchSize: number) {
  let state: ForwarderState = initialForwarderState();
  let now = 0;
  let appended = 0;
  let readThrough = 0;
  const delivered = new Set<number>();
  const acks: number[] = [];
  const sentBatches: BatchRef[] = [];
  let failedBatch: BatchRef | undefined;
  const apply = (input: ForwarderInput) => {
    const before = state;
    const result = stepForwarder(state, input, now, backoff);
    expect(result.reason.length).toBeGreaterThan(0);
    if (result.ack !== undefined) {
      expect(input.type).toBe('sent');
      expect(before.phase.kind).toBe('sending');
      if (before.phase.kind === 'sending') expect(result.ack).toBe(before.phase.batch.lastOffset);
      acks.push(result.ack);
    }
    if (before.phase.kind === 'stopped') expect(result.state).toBe(before);
    if (result.state.phase.kind === 'backingOff') {
      expect(result.state.phase.retryAtMs - now).toBeGreaterThanOrEqual(0);
      expect(result.state.phase.retryAtMs - now).toBeLessThanOrEqual(MAX_DELAY);
    }
    if (result.state.phase.kind === 'sending' && failedBatch !== undefined) {
      expect(result.state.phase.batch).toEqual(failedBatch); // a failed batch is retried as is
      failedBatch = undefined;
    }
    state = result.state;
  };
  const current = (): ForwarderState => state;
  /** What the shell does in `idle`: read a batch or report caught up. */
  const idle = () => {
    if (state.phase.kind !== 'idle') return;
    if (readThrough < appended) {
      const last = Math.min(appended, readThrough + batchSize);
      apply({ type: 'batchRead', batch: { firstOffset: readThrough + 1, lastOffset: last, count: last - readThrough, bytes: 10 * (last - readThrough) } });
      readThrough = last;
    } else {
      apply({ type: 'caughtUp' });
    }
  };
  for (const event of events) {
    idle();
    switch (event.kind) {
      case 'append':
        appended += event.count;
        break;
      case 'tick':
        now += event.ms;
        if (state.phase.kind === 'backingOff' || state.drainDeadlineMs !== undefined) apply({ type: 'timer' });
        break;
      case 'drain':
        apply({ type: 'drain', deadlineMs: now + event.inMs });
        break;
      case 'abort':
        if (events.length > 40) apply({ type: 'abort' }); // rare: most runs exercise the rest
        break;
      case 'outcome':
        if (state.phase.kind === 'sending') {
          const batch = state.phase.batch;
          if (event.ok) {
            for (let o = batch.firstOffset; o <= batch.lastOffset; o++) delivered.add(o);
            sentBatches.push(batch);
            apply({ type: 'sent' });
          } else {
            failedBatch = batch;
            apply({ type: 'failed', error: 'http5xx: HTTP 503' });
            if (current().phase.kind !== 'backingOff') failedBatch = undefined; // stopped by a drain deadline
          }
        }
        break;
    }
  }
  return { state, acks, delivered, appended, sentBatches, now };
}

describe('stepForwarder', () => {
  it('acknowledges only what the sink took, in increasing order, with no gaps', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 120 }), backoffArb, fc.integer({ min: 1, max: 5 }), (events, backoff, batchSize) => {
        const { acks, delivered, sentBatches } = simulate(events, backoff, batchSize);
        for (let i = 1; i < acks.length; i++) expect(acks[i]).toBeGreaterThan(acks[i - 1] as number);
        const highest = acks.at(-1) ?? 0;
        for (let o = 1; o <= highest; o++) expect(delivered.has(o)).toBe(true); // nothing acked that the sink lacks
        // Batches went out back to back: no record was skipped after a failure.
        for (let i = 1; i < sentBatches.length; i++) expect(sentBatches[i]?.firstOffset).toBe((sentBatches[i - 1]?.lastOffset ?? 0) + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('with a sink that recovers, eventually acknowledges everything appended', () => {
    fc.assert(
      fc.property(fc.array(eventArb.filter((e) => e.kind !== 'drain' && e.kind !== 'abort'), { maxLength: 80 }), backoffArb, (events, backoff) => {
        // Then the sink works and time passes: everything must be delivered and acknowledged.
        const tail: Event[] = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? { kind: 'tick', ms: MAX_DELAY } : { kind: 'outcome', ok: true }));
        const { acks, appended } = simulate([...events, ...tail], backoff, 3);
        expect(acks.at(-1) ?? 0).toBe(appended);
      }),
      { numRuns: 200 },
    );
  });

  it('draining stops when caught up, or at the deadline, never later, and stopped absorbs everything', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 120 }), backoffArb, (events, backoff) => {
        const { state, now } = simulate([...events, { kind: 'drain', inMs: 5000 }, { kind: 'tick', ms: 5000 }, { kind: 'tick', ms: 1 }], backoff, 4);
        // Only a send in flight may outlive the deadline; the shell aborts it then.
        if (state.phase.kind !== 'stopped') expect(state.phase.kind).toBe('sending');
        else expect(['drained', 'deadline', 'aborted']).toContain(state.phase.reason);
        const after = stepForwarder(state, { type: 'failed', error: 'aborted at deadline' }, now, backoff);
        expect(after.state.phase.kind).toBe('stopped');
        for (const input of [{ type: 'sent' }, { type: 'timer' }, { type: 'caughtUp' }, { type: 'drain', deadlineMs: now + 1e6 }] as const) {
          expect(stepForwarder(after.state, input, now + 1, backoff).state).toBe(after.state);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a drain on an idle, caught-up forwarder stops at once as drained; a backoff past the deadline stops it', () => {
    const backoff = new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: 30_000 });
    const drained = stepForwarder(stepForwarder(initialForwarderState(), { type: 'drain', deadlineMs: 100 }, 0, backoff).state, { type: 'caughtUp' }, 0, backoff);
    expect(drained.state.phase).toEqual({ kind: 'stopped', reason: 'drained' });
    const batch: BatchRef = { firstOffset: 1, lastOffset: 2, count: 2, bytes: 20 };
    let state = stepForwarder(initialForwarderState(), { type: 'batchRead', batch }, 0, backoff).state;
    state = stepForwarder(state, { type: 'drain', deadlineMs: 500 }, 0, backoff).state;
    const failed = stepForwarder(state, { type: 'failed', error: 'network: ECONNREFUSED' }, 10, backoff);
    expect(failed.state.phase).toEqual({ kind: 'stopped', reason: 'deadline' });
    expect(failed.reason).toContain('retry in 1000 ms');
  });
});
