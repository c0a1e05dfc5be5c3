import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type Decision, type LeaseSpec } from './decide.ts';

const base = { leaseDurationMs: 4000, wallNow: '2026-01-01T00:00:00.000000Z' };

describe('decide (leader election on a Lease)', () => {
  it('never takes a Lease another holder renewed within the lease duration (on our own clock)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3999 }), fc.nat({ max: 50 }), fc.nat({ max: 50 }), (elapsed, transitions, minEpoch) => {
        const d = decide({
          ...base,
          identity: 'b',
          leading: false,
          observed: { spec: { holderIdentity: 'a', leaseDurationSeconds: 4, leaseTransitions: transitions }, observedAt: 1000 },
          now: 1000 + elapsed,
          minEpoch,
        });
        expect(d.action).toBe('wait');
      }),
    );
  });

  it('takes an expired or released Lease with an epoch above every earlier one', () => {
    fc.assert(
      fc.property(fc.constantFrom('a', '', 'b'), fc.integer({ min: 4000, max: 100_000 }), fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), (holder, elapsed, transitions, minEpoch) => {
        const d = decide({
          ...base,
          identity: 'b',
          leading: false,
          observed: { spec: { holderIdentity: holder, leaseDurationSeconds: 4, leaseTransitions: transitions }, observedAt: 0 },
          now: elapsed,
          minEpoch,
        });
        expect(d.action).toBe('update');
        const update = d as Extract<Decision, { action: 'update' }>;
        expect(update.renewal).toBe(false);
        expect(update.epoch).toBeGreaterThan(transitions);
        expect(update.epoch).toBeGreaterThan(minEpoch);
        expect(update.spec.holderIdentity).toBe('b');
        expect(update.spec.leaseTransitions).toBe(update.epoch);
      }),
    );
  });

  it('renews without changing the epoch while leading', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 100_000 }), (transitions, now) => {
        const spec: LeaseSpec = { holderIdentity: 'a', leaseDurationSeconds: 4, leaseTransitions: transitions, acquireTime: 't0' };
        const d = decide({ ...base, identity: 'a', leading: true, observed: { spec, observedAt: 0 }, now, minEpoch: 0 });
        expect(d).toMatchObject({ action: 'update', renewal: true, epoch: transitions });
        expect((d as Extract<Decision, { action: 'update' }>).spec.acquireTime).toBe('t0');
      }),
    );
  });

  it('creates a missing Lease above the published epoch (a deleted Lease cannot reuse an epoch)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), (minEpoch) => {
        const d = decide({ ...base, identity: 'a', leading: false, observed: { spec: undefined, observedAt: 0 }, now: 0, minEpoch });
        expect(d).toMatchObject({ action: 'create', epoch: Math.max(1, minEpoch + 1) });
      }),
    );
  });

  it('gives every term of a sequence of takeovers a strictly larger epoch', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 30 }), (winners) => {
        let spec: LeaseSpec | undefined;
        let last = 0;
        let now = 0;
        for (const winner of winners) {
          now += 10_000; // every previous term has expired
          const d = decide({ ...base, identity: winner, leading: false, observed: { spec, observedAt: now - 10_000 }, now, minEpoch: last });
          if (d.action === 'wait') throw new Error('an expired Lease must be taken');
          expect(d.epoch).toBeGreaterThan(last);
          last = d.epoch;
          spec = d.spec;
        }
      }),
    );
  });
});
