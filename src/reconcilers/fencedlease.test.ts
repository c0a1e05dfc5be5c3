import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withFencedLeaseDefaults, type FencedLeaseSpec, type FencedLeaseStatus } from '../crds/fencedlease.ts';
import {
  RevokeAnnotation,
  holderAllowed,
  leaseTimes,
  reconcileFencedLease,
  retryAfterMs,
  revokeEvent,
  type EtcdView,
  type FencedLeaseObservation,
  type FencedLeasePlan,
  type ObservedHolder,
  type PendingRevoke,
} from './fencedlease.ts';

const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const spec = (extra: Partial<FencedLeaseSpec> = {}): FencedLeaseSpec => withFencedLeaseDefaults({ ttlSeconds: 15, ...extra });
const holder = (identity: string, token: bigint, extra: Partial<ObservedHolder> = {}): ObservedHolder => ({
  identity,
  fencingToken: token,
  ttlSeconds: 15,
  remainingSeconds: 12,
  acquireTime: NOW - 3000,
  waiters: 0,
  ...extra,
});
const observed = (h: ObservedHolder | undefined): EtcdView => ({ state: 'observed', holder: h });
type FencedLeaseInput = FencedLeaseObservation & { readonly now: number };
const planFencedLease = ({ now, ...observation }: FencedLeaseInput) => reconcileFencedLease(observation, now);
const input = (over: Partial<FencedLeaseInput> = {}): FencedLeaseInput => ({
  generation: 1,
  annotations: undefined,
  spec: spec(),
  status: undefined,
  etcd: observed(undefined),
  pendingRevoke: undefined,
  now: NOW,
  ...over,
});
const cond = (status: FencedLeaseStatus, type: string) => status.conditions?.find((c) => c.type === type);

describe('reconcileFencedLease: status and conditions', () => {
  it('mirrors a holder: identity, decimal token, times, Ready/Held/HolderAllowed True', () => {
    const plan = planFencedLease(input({ etcd: observed(holder('app-1', 9_007_199_254_740_993n)) }));
    expect(plan.status).toMatchObject({
      holder: 'app-1',
      fencingToken: '9007199254740993',
      acquireTime: '2026-05-01T11:59:57Z',
      expireTime: '2026-05-01T12:00:12Z',
      renewTime: '2026-05-01T11:59:57Z',
      transitions: 1,
      observedGeneration: 1,
    });
    expect(cond(plan.status, 'Ready')).toMatchObject({ status: 'True', reason: 'Observed' });
    expect(cond(plan.status, 'Held')).toMatchObject({ status: 'True', reason: 'Held' });
    expect(cond(plan.status, 'HolderAllowed')).toMatchObject({ status: 'True', reason: 'AnyHolderAllowed' });
    expect(plan.revoke).toBeUndefined();
    expect(plan.events.map((e) => e.reason)).toEqual(['Acquired']);
    expect(plan.requeueAfterMs).toBe(30_000);
  });

  it('reports a free lease with Held=False and no holder fields, and wakes only on change', () => {
    const plan = planFencedLease(input());
    expect(plan.status.holder).toBeUndefined();
    expect(plan.status.fencingToken).toBeUndefined();
    expect(plan.status.expireTime).toBeUndefined();
    expect(cond(plan.status, 'Held')).toMatchObject({ status: 'False', reason: 'Free' });
    expect(cond(plan.status, 'HolderAllowed')).toMatchObject({ status: 'True', reason: 'NoHolder' });
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it('says Acquiring while the first key in line has not confirmed, and notes a TTL differing from the spec', () => {
    const plan = planFencedLease(input({ etcd: observed(holder('app-1', 5n, { acquireTime: undefined, ttlSeconds: 30 })) }));
    expect(cond(plan.status, 'Held')).toMatchObject({ status: 'True', reason: 'Acquiring' });
    expect(cond(plan.status, 'Held')?.message).toContain('differs from spec.ttlSeconds 15');
    expect(plan.status.acquireTime).toBeUndefined();
  });

  it.each([
    [{ state: 'unreachable', error: 'connect ECONNREFUSED' }, 'EtcdUnavailable'],
    [{ state: 'denied', error: 'permission denied' }, 'EtcdAccessDenied'],
    [{ state: 'credentials', error: 'Secret ns/etcd-user (spec.etcd.auth.secretName) not found' }, 'CredentialsUnavailable'],
    [{ state: 'tlsSecret', error: 'Secret ns/etcd-tls (spec.etcd.tls.secretName): key tls.key is encrypted with a passphrase' }, 'InvalidTLSSecret'],
    [{ state: 'invalid', message: 'spec.etcd.endpoints: not set' }, 'InvalidSpec'],
  ] as [EtcdView, string][])('keeps the last known holder and reports %o as Ready=False %s', (etcd, reason) => {
    const before = planFencedLease(input({ etcd: observed(holder('app-1', 7n)) })).status;
    const plan = planFencedLease(input({ etcd, status: { ...before, epoch: '3' }, now: NOW + 5000 }));
    expect(cond(plan.status, 'Ready')).toMatchObject({ status: 'False', reason });
    expect(cond(plan.status, 'Held')).toMatchObject({ status: 'Unknown', reason });
    expect(plan.status).toMatchObject({ holder: 'app-1', fencingToken: '7', transitions: 1 });
    expect(plan.status.epoch).toBeUndefined();
    expect(plan.revoke).toBeUndefined();
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Warning', reason })]);
    if (reason === 'InvalidSpec') expect(plan.requeueAfterMs).toBeUndefined();
    else expect(plan.requeueAfterMs).toBe(1000);
    if (reason === 'InvalidSpec') expect(cond(plan.status, 'Ready')?.message).toContain('spec.etcd.endpoints');
  });

  it('backs off while etcd stays unreachable (1..30 s, from the condition transition) and announces recovery', () => {
    const first = planFencedLease(input({ etcd: { state: 'unreachable', error: 'down' } }));
    const later = planFencedLease(input({ etcd: { state: 'unreachable', error: 'down' }, status: first.status, now: NOW + 20_000 }));
    expect(later.requeueAfterMs).toBe(10_000);
    expect(later.events).toEqual([]);
    const much = planFencedLease(input({ etcd: { state: 'unreachable', error: 'down' }, status: first.status, now: NOW + 3_600_000 }));
    expect(much.requeueAfterMs).toBe(30_000);
    const back = planFencedLease(input({ status: much.status, now: NOW + 3_601_000 }));
    expect(cond(back.status, 'Ready')).toMatchObject({ status: 'True', reason: 'Observed' });
    expect(back.events.map((e) => e.reason)).toContain('EtcdAvailable');
  });

  it('reports a broken TLS Secret once, looks again with backoff (not hot), and recovers when it is fixed', () => {
    const bad: EtcdView = { state: 'tlsSecret', error: 'Secret ns/etcd-tls (spec.etcd.tls.secretName): key ca.crt holds no PEM block' };
    const first = planFencedLease(input({ etcd: bad }));
    expect(cond(first.status, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidTLSSecret', message: bad.error });
    expect(first.events.map((e) => e.reason)).toEqual(['InvalidTLSSecret']);
    expect(first.requeueAfterMs).toBe(1000);
    // Still broken a minute later: the same status (no write), no new event, a 30 s wait.
    const again = planFencedLease(input({ etcd: bad, status: first.status, now: NOW + 60_000 }));
    expect(again.status).toEqual(first.status);
    expect(again.events).toEqual([]);
    expect(again.requeueAfterMs).toBe(30_000);
    // Another problem in the same Secret: the message follows, still no new event.
    const other = planFencedLease(input({ etcd: { state: 'tlsSecret', error: 'key tls.key does not match' }, status: again.status, now: NOW + 90_000 }));
    expect(cond(other.status, 'Ready')?.message).toBe('key tls.key does not match');
    expect(other.events).toEqual([]);
    const fixed = planFencedLease(input({ status: other.status, now: NOW + 91_000 }));
    expect(cond(fixed.status, 'Ready')).toMatchObject({ status: 'True', reason: 'Observed' });
    expect(fixed.events.map((e) => e.reason)).toContain('EtcdAvailable');
  });

  it('cuts identities longer than status.holder allows', () => {
    const plan = planFencedLease(input({ etcd: observed(holder('x'.repeat(256), 3n)) }));
    expect(plan.status.holder).toHaveLength(253);
  });
});

describe('reconcileFencedLease: revokes', () => {
  it('revokes the holder once for a new nonce, recording the nonce and aiming at its token', () => {
    const h = holder('app-1', 11n);
    const plan = planFencedLease(input({ etcd: observed(h), annotations: { [RevokeAnnotation]: 'n1' } }));
    expect(plan.revoke).toEqual({ fencingToken: 11n, holder: 'app-1', cause: 'annotation', nonce: 'n1' });
    expect(plan.pendingRevoke).toEqual({ nonce: 'n1', fencingToken: 11n });
    expect(plan.status.lastRevokeNonce).toBe('n1');
    // The same nonce again, with the status written and the pending revoke lost (a restart): nothing.
    const again = planFencedLease(input({ etcd: observed(h), annotations: { [RevokeAnnotation]: 'n1' }, status: plan.status }));
    expect(again.revoke).toBeUndefined();
    // A pending revoke is retried only while its target still holds.
    const retried = planFencedLease(input({ etcd: observed(h), annotations: { [RevokeAnnotation]: 'n1' }, status: plan.status, pendingRevoke: plan.pendingRevoke }));
    expect(retried.revoke?.fencingToken).toBe(11n);
    const successor = planFencedLease(input({ etcd: observed(holder('app-2', 12n)), annotations: { [RevokeAnnotation]: 'n1' }, status: plan.status, pendingRevoke: plan.pendingRevoke }));
    expect(successor.revoke).toBeUndefined();
    expect(successor.pendingRevoke).toBeUndefined();
  });

  it('records a nonce that finds nobody holding, without revoking later holders for it', () => {
    const plan = planFencedLease(input({ annotations: { [RevokeAnnotation]: 'n1' } }));
    expect(plan.revoke).toBeUndefined();
    expect(plan.status.lastRevokeNonce).toBe('n1');
    expect(plan.events.map((e) => e.reason)).toContain('RevokeSkipped');
    const later = planFencedLease(input({ etcd: observed(holder('app-1', 4n)), annotations: { [RevokeAnnotation]: 'n1' }, status: plan.status }));
    expect(later.revoke).toBeUndefined();
  });

  it('waits with a nonce while etcd is not seen, and ignores nonces too long for the status', () => {
    const plan = planFencedLease(input({ etcd: { state: 'unreachable', error: 'down' }, annotations: { [RevokeAnnotation]: 'n1' } }));
    expect(plan.status.lastRevokeNonce).toBeUndefined();
    expect(plan.revoke).toBeUndefined();
    const long = planFencedLease(input({ etcd: observed(holder('app-1', 4n)), annotations: { [RevokeAnnotation]: 'n'.repeat(254) } }));
    expect(long.revoke).toBeUndefined();
    expect(long.status.lastRevokeNonce).toBeUndefined();
    expect(long.events.map((e) => e.reason)).toContain('InvalidRevokeNonce');
  });

  it('revokes a holder outside allowedHolders every time it is seen, and reports HolderNotAllowed', () => {
    const s = spec({ allowedHolders: ['app-1'] });
    const plan = planFencedLease(input({ spec: s, etcd: observed(holder('intruder', 8n)) }));
    expect(plan.revoke).toEqual({ fencingToken: 8n, holder: 'intruder', cause: 'notAllowed', nonce: undefined });
    expect(cond(plan.status, 'HolderAllowed')).toMatchObject({ status: 'False', reason: 'HolderNotAllowed' });
    expect(planFencedLease(input({ spec: s, etcd: observed(holder('intruder', 8n)), status: plan.status })).revoke?.cause).toBe('notAllowed');
    const ok = planFencedLease(input({ spec: s, etcd: observed(holder('app-1', 9n)), status: plan.status }));
    expect(ok.revoke).toBeUndefined();
    expect(cond(ok.status, 'HolderAllowed')).toMatchObject({ status: 'True', reason: 'Allowed' });
    expect(holderAllowed('anyone', [])).toBe(true);
  });

  it('holds every revoke back under the kill switch, says what waits, and acts once it is released', () => {
    const engaged = { engaged: true, scope: 'namespace team-a' };
    const h = holder('intruder', 9n);
    const annotations = { [RevokeAnnotation]: 'n1' };
    const halted = planFencedLease(input({ spec: spec({ allowedHolders: ['app'] }), etcd: observed(h), annotations, killSwitch: engaged }));
    expect(halted.revoke).toBeUndefined();
    expect(halted.pendingRevoke).toBeUndefined();
    expect(halted.status.lastRevokeNonce).toBeUndefined();
    expect(cond(halted.status, 'Enforcing')).toMatchObject({ status: 'False', reason: 'KillSwitchEngaged' });
    expect(cond(halted.status, 'Enforcing')?.message).toContain('namespace team-a');
    expect(cond(halted.status, 'Enforcing')?.message).toContain(`${RevokeAnnotation}=n1`);
    expect(cond(halted.status, 'HolderAllowed')?.message).toContain('not revoked while the kill switch is engaged');
    expect(halted.events.map((e) => e.reason)).toContain('KillSwitchEngaged');
    // Still engaged: no second KillSwitchEngaged event.
    const again = planFencedLease(input({ spec: spec({ allowedHolders: ['app'] }), etcd: observed(h), annotations, status: halted.status, killSwitch: engaged }));
    expect(again.events.map((e) => e.reason)).not.toContain('KillSwitchEngaged');
    const released = planFencedLease(input({ spec: spec({ allowedHolders: ['app'] }), etcd: observed(h), annotations, status: again.status, killSwitch: { engaged: false } }));
    expect(released.revoke).toMatchObject({ fencingToken: 9n, cause: 'annotation', nonce: 'n1' });
    expect(released.status.lastRevokeNonce).toBe('n1');
    expect(cond(released.status, 'Enforcing')).toMatchObject({ status: 'True', reason: 'Enforcing' });
    expect(released.events.map((e) => e.reason)).toContain('KillSwitchReleased');
  });

  it('keeps a pending revoke aimed at its holder under the kill switch, and drops it if the holder changed meanwhile', () => {
    const pendingRevoke = { nonce: 'n1', fencingToken: 4n };
    const status = { lastRevokeNonce: 'n1', transitions: 1, fencingToken: '4', holder: 'a' };
    const annotations = { [RevokeAnnotation]: 'n1' };
    const halted = planFencedLease(input({ etcd: observed(holder('a', 4n)), annotations, status, pendingRevoke, killSwitch: { engaged: true, scope: 'global' } }));
    expect(halted.revoke).toBeUndefined();
    expect(halted.pendingRevoke).toEqual(pendingRevoke);
    expect(cond(halted.status, 'Enforcing')?.message).toContain('the revoke for manyfold.dev/revoke=n1');
    const same = planFencedLease(input({ etcd: observed(holder('a', 4n)), annotations, status: halted.status, pendingRevoke: halted.pendingRevoke }));
    expect(same.revoke).toMatchObject({ fencingToken: 4n, nonce: 'n1' });
    const moved = planFencedLease(input({ etcd: observed(holder('b', 5n)), annotations, status: halted.status, pendingRevoke: halted.pendingRevoke }));
    expect(moved.revoke).toBeUndefined();
  });

  it('shows the kill switch while etcd is not seen too', () => {
    const plan = planFencedLease(input({ etcd: { state: 'unreachable', error: 'down' }, killSwitch: { engaged: true, scope: 'resource' } }));
    expect(cond(plan.status, 'Enforcing')).toMatchObject({ status: 'False', reason: 'KillSwitchEngaged' });
  });

  it('reports each revoke outcome as an event', () => {
    const byAnnotation = { fencingToken: 3n, holder: 'a', cause: 'annotation', nonce: 'n1' } as const;
    expect(revokeEvent(byAnnotation, { kind: 'revoked' })).toMatchObject({ type: 'Normal', reason: 'Revoked' });
    expect(revokeEvent({ ...byAnnotation, cause: 'notAllowed', nonce: undefined }, { kind: 'revoked' })).toMatchObject({ type: 'Warning', reason: 'HolderNotAllowed' });
    expect(revokeEvent(byAnnotation, { kind: 'gone' }).reason).toBe('RevokeSkipped');
    expect(revokeEvent(byAnnotation, { kind: 'failed', error: 'x' })).toMatchObject({ type: 'Warning', reason: 'RevokeFailed' });
  });
});

// A small world for properties: each step etcd shows a holder (or not, or is unreachable),
// the annotation may change, the revoke the shell makes may fail, and the operator may
// restart (losing the in-memory pending revoke). The status written feeds the next step.
type Step = { etcd: EtcdView; nonce: string | undefined; revokeFails: boolean; restart: boolean; dt: number; killSwitch?: boolean };
const holderArb = fc.record({
  identity: fc.constantFrom('a', 'b', 'c'),
  fencingToken: fc.bigInt({ min: 1n, max: 6n }),
  ttlSeconds: fc.integer({ min: 2, max: 3600 }),
  remainingSeconds: fc.integer({ min: -1, max: 3600 }),
  acquireTime: fc.option(fc.integer({ min: NOW - 10_000_000, max: NOW }), { nil: undefined }),
  waiters: fc.nat({ max: 3 }),
});
const etcdArb: fc.Arbitrary<EtcdView> = fc.oneof(
  { weight: 6, arbitrary: fc.option(holderArb, { nil: undefined, freq: 3 }).map((h) => observed(h)) },
  { weight: 1, arbitrary: fc.constant<EtcdView>({ state: 'unreachable', error: 'down' }) },
);
const stepsArb = fc.array(
  fc.record({
    etcd: etcdArb,
    nonce: fc.constantFrom(undefined, 'n1', 'n2', 'n3'),
    revokeFails: fc.boolean(),
    restart: fc.boolean(),
    dt: fc.integer({ min: 0, max: 120_000 }),
    killSwitch: fc.nat({ max: 3 }).map((n) => n === 0), // engaged a quarter of the time
  }),
  { maxLength: 30 },
);

function run(steps: readonly Step[], initial: { status?: FencedLeaseStatus } = {}): { plans: FencedLeasePlan[]; inputs: FencedLeaseInput[] } {
  let status = initial.status;
  let pending: PendingRevoke | undefined;
  let now = NOW;
  const plans: FencedLeasePlan[] = [];
  const inputs: FencedLeaseInput[] = [];
  for (const step of steps) {
    now += step.dt;
    if (step.restart) pending = undefined;
    const i = input({
      etcd: step.etcd,
      annotations: step.nonce === undefined ? undefined : { [RevokeAnnotation]: step.nonce },
      status,
      pendingRevoke: pending,
      now,
      killSwitch: step.killSwitch ? { engaged: true, scope: 'resource' } : { engaged: false },
    });
    const plan = planFencedLease(i);
    plans.push(plan);
    inputs.push(i);
    status = plan.status;
    pending = plan.pendingRevoke;
    if (plan.revoke && !step.revokeFails) pending = undefined;
  }
  return { plans, inputs };
}

describe('reconcileFencedLease: properties', () => {
  it('a nonce revokes at most one holding each time it is recorded, always the one observed, and is the nonce in status', () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { plans, inputs } = run(steps);
        const tokens = new Map<string, Set<bigint>>();
        plans.forEach((plan, i) => {
          const recorded = plan.status.lastRevokeNonce;
          // A nonce newly recorded (another one came in between) may act again: start afresh.
          if (recorded !== undefined && recorded !== inputs[i]?.status?.lastRevokeNonce) tokens.set(recorded, new Set());
          const revoke = plan.revoke;
          if (!revoke) return;
          const etcd = inputs[i]?.etcd;
          expect(etcd?.state === 'observed' && etcd.holder?.fencingToken === revoke.fencingToken).toBe(true);
          if (revoke.cause !== 'annotation') return;
          expect(revoke.nonce).toBe(recorded);
          const set = tokens.get(revoke.nonce ?? '') ?? new Set<bigint>();
          set.add(revoke.fencingToken);
          tokens.set(revoke.nonce ?? '', set);
          expect(set.size).toBe(1);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('a nonce already recorded in status never revokes (restart with the annotation still set)', () => {
    fc.assert(
      fc.property(stepsArb, fc.constantFrom('n1', 'n2'), (steps, recorded) => {
        const kept = steps.map((s) => ({ ...s, nonce: recorded }));
        const { plans } = run(kept, { status: { lastRevokeNonce: recorded, transitions: 0 } });
        expect(plans.every((p) => p.revoke?.cause !== 'annotation')).toBe(true);
      }),
    );
  });

  it('the kill switch: no revoke while engaged, no nonce recorded while engaged, and a nonce still set acts once released', () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { plans, inputs } = run(steps);
        plans.forEach((plan, i) => {
          const step = steps[i]!;
          const before = inputs[i]?.status?.lastRevokeNonce;
          if (step.killSwitch) {
            expect(plan.revoke).toBeUndefined();
            expect(plan.status.lastRevokeNonce).toBe(before);
          } else if (step.etcd.state === 'observed' && step.nonce !== undefined && step.nonce !== before && inputs[i]?.pendingRevoke?.nonce !== step.nonce) {
            // Released (or never engaged), etcd seen, a nonce not acted on yet: it is recorded now.
            expect(plan.status.lastRevokeNonce).toBe(step.nonce);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('transitions grow by one exactly when the observed token differs from the status token', () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { plans, inputs } = run(steps);
        let before = 0;
        let token: string | undefined;
        plans.forEach((plan, i) => {
          const etcd = inputs[i]?.etcd;
          const seen = etcd?.state === 'observed' ? etcd.holder?.fencingToken.toString() : undefined;
          const changed = seen !== undefined && seen !== token;
          expect(plan.status.transitions).toBe(before + (changed ? 1 : 0));
          before = plan.status.transitions ?? 0;
          token = plan.status.fencingToken;
        });
      }),
    );
  });

  it('counts every distinct holding when each is observed', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.bigInt({ min: 1n, max: 10_000n }), { maxLength: 20 }), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }), (tokens, gaps) => {
        const sorted = [...tokens].sort((a, b) => (a < b ? -1 : 1));
        const steps: Step[] = sorted.flatMap((t, i) => [
          { etcd: observed(holder('a', t)), nonce: undefined, revokeFails: false, restart: false, dt: 1000 },
          // Renewals (remaining TTL changes) and free periods in between count nothing.
          { etcd: observed(gaps[i] ? undefined : holder('a', t, { remainingSeconds: 3 })), nonce: undefined, revokeFails: false, restart: false, dt: 1000 },
        ]);
        const { plans } = run(steps);
        expect(plans.at(-1)?.status.transitions ?? 0).toBe(sorted.length);
      }),
    );
  });

  it('renewTime = expireTime − TTL, renewTime <= now <= expireTime, expireTime = now + remaining (whole seconds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 2, max: 3600 }), fc.integer({ min: 0, max: 3600 }), (now, ttl, rawRemaining) => {
        const remaining = Math.min(ttl, rawRemaining);
        const times = leaseTimes(now, remaining, ttl);
        expect(times).toBeDefined();
        const expire = Date.parse(times?.expireTime ?? '');
        const renew = Date.parse(times?.renewTime ?? '');
        const nowSeconds = Math.floor(now / 1000) * 1000;
        expect(expire - renew).toBe(ttl * 1000);
        expect(renew).toBeLessThanOrEqual(nowSeconds);
        expect(expire - nowSeconds).toBe(remaining * 1000);
      }),
    );
    expect(leaseTimes(NOW, -1, 15)).toBeUndefined();
  });

  it('retries an outage every 1..30 s, growing with its length', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000_000 }), fc.nat({ max: 10_000_000 }), (a, b) => {
        const [short, long] = a <= b ? [a, b] : [b, a];
        expect(retryAfterMs(short)).toBeLessThanOrEqual(retryAfterMs(long));
        expect(retryAfterMs(long)).toBeGreaterThanOrEqual(1000);
        expect(retryAfterMs(long)).toBeLessThanOrEqual(30_000);
      }),
    );
  });
});
