import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deadlineFrom, type HolderInput, type HolderState, initialHolderState, isHeld, stepHolder } from './holder-state.ts';

const timing = { ttlMs: 6000, marginMs: 600 };

/** A step of a run: time passes by `dt`, then `input` arrives. */
const stepArb: fc.Arbitrary<{ dt: number; input: HolderInput }> = fc.record({
  dt: fc.integer({ min: 0, max: 3000 }),
  input: fc.oneof(
    { weight: 6, arbitrary: fc.record({ type: fc.constant('keepAliveConfirmed' as const), sentAt: fc.integer({ min: -4000, max: 0 }), serverTtlSeconds: fc.integer({ min: 0, max: 100 }) }) },
    { weight: 4, arbitrary: fc.constant({ type: 'tick' as const }) },
    { weight: 2, arbitrary: fc.constant({ type: 'acquired' as const }) },
    { weight: 1, arbitrary: fc.constantFrom<HolderInput>({ type: 'leaseGone' }, { type: 'keyGone' }, { type: 'fenceRejected' }, { type: 'end', reason: 'released' }) },
  ),
});

describe('stepHolder', () => {
  it('keeps the deadline within what confirmed sends justify, monotone, and ahead of now while alive', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
        let now = 0;
        let state: HolderState = initialHolderState(0, timing);
        let justified = deadlineFrom(0, timing.ttlMs / 1000, timing);
        let acquiredSeen = false;
        for (const { dt, input: raw } of steps) {
          now += dt;
          // keep-alive send times are relative to now: always in the past
          const input: HolderInput = raw.type === 'keepAliveConfirmed' ? { ...raw, sentAt: now + raw.sentAt } : raw;
          const before = state;
          state = stepHolder(state, input, now, timing);
          if (before.phase === 'ended') {
            expect(state).toBe(before); // ended is final
            continue;
          }
          if (input.type === 'keepAliveConfirmed' && input.serverTtlSeconds > 0 && state.phase !== 'ended') {
            justified = Math.max(justified, deadlineFrom(input.sentAt, input.serverTtlSeconds, timing));
          }
          if (input.type === 'acquired') acquiredSeen = true;
          expect(state.validUntil).toBeGreaterThanOrEqual(before.validUntil);
          expect(state.validUntil).toBeLessThanOrEqual(justified);
          if (state.phase !== 'ended') expect(now).toBeLessThan(state.validUntil);
          if (state.phase === 'holding') expect(acquiredSeen).toBe(true);
          expect(isHeld(state, now)).toBe(state.phase === 'holding');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ignores a server-side TTL reset: a leader change answering a longer TTL never extends the deadline', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1999 }), fc.integer({ min: 7, max: 3600 }), (sentAt, serverTtlSeconds) => {
        const start = stepHolder(initialHolderState(0, timing), { type: 'acquired' }, 0, timing);
        const next = stepHolder(start, { type: 'keepAliveConfirmed', sentAt, serverTtlSeconds }, 2000, timing);
        expect(next.validUntil).toBe(sentAt + timing.ttlMs - timing.marginMs);
      }),
    );
  });

  it('uses the send time, not the answer time, and a shorter server TTL when etcd grants less', () => {
    const holding = stepHolder(initialHolderState(0, timing), { type: 'acquired' }, 10, timing);
    const late = stepHolder(holding, { type: 'keepAliveConfirmed', sentAt: 1000, serverTtlSeconds: 6 }, 4000, timing);
    expect(late.validUntil).toBe(1000 + 6000 - 600);
    const shorter = stepHolder(holding, { type: 'keepAliveConfirmed', sentAt: 1000, serverTtlSeconds: 3 }, 1500, timing);
    expect(shorter.validUntil).toBe(initialHolderState(0, timing).validUntil); // 5400 > 1000 + 3000 - 600
  });

  it('expires at the deadline even when a late confirmation arrives after it', () => {
    const holding = stepHolder(initialHolderState(0, timing), { type: 'acquired' }, 0, timing);
    const deadline = holding.validUntil;
    expect(stepHolder(holding, { type: 'tick' }, deadline - 1, timing).phase).toBe('holding');
    const late = stepHolder(holding, { type: 'keepAliveConfirmed', sentAt: deadline - 100, serverTtlSeconds: 6 }, deadline, timing);
    expect(late).toMatchObject({ phase: 'ended', reason: 'expired', validUntil: deadline });
  });

  it('names the cause of each loss', () => {
    const holding = stepHolder(initialHolderState(0, timing), { type: 'acquired' }, 0, timing);
    const reasonOf = (input: HolderInput) => {
      const s = stepHolder(holding, input, 100, timing);
      return s.phase === 'ended' ? s.reason : s.phase;
    };
    expect(reasonOf({ type: 'leaseGone' })).toBe('revoked');
    expect(reasonOf({ type: 'keepAliveConfirmed', sentAt: 50, serverTtlSeconds: 0 })).toBe('revoked');
    expect(reasonOf({ type: 'keyGone' })).toBe('deleted');
    expect(reasonOf({ type: 'fenceRejected' })).toBe('fenced');
    expect(reasonOf({ type: 'end', reason: 'closed' })).toBe('closed');
  });
});
