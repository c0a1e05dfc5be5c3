import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withFencedLeaseDefaults, type FencedLeaseSpec, type FencedLeaseStatus } from '../crds/fencedlease.ts';
import { DEFAULT_CLEANUP_GRACE_MS, reconcileFencedLeaseCleanup, type CleanupObservation, type CleanupOutcome } from './fencedlease-cleanup.ts';
import { KUBERNETES_ETCD_PREFIX, resolveLeaseTarget } from './fencedlease-target.ts';

const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const failed: CleanupOutcome = { kind: 'failed', reason: 'EtcdUnavailable', error: 'connect ECONNREFUSED' };
const base = { generation: 2, dir: '/manyfold/leases/ns/l/' };
const planCleanup = ({ now, ...observation }: CleanupObservation & { now: number }) => reconcileFencedLeaseCleanup(observation, now);

describe('reconcileFencedLeaseCleanup', () => {
  it('removes the finalizer after a clean-up that worked, saying what it did', () => {
    const plan = planCleanup({ ...base, status: undefined, outcome: { kind: 'done', revoked: { identity: 'app-1', fencingToken: 5n }, deleted: 3 }, now: NOW });
    expect(plan.removeFinalizer).toBe(true);
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Normal', reason: 'CleanedUp' })]);
    expect(plan.events[0]?.note).toContain('revoked app-1 (token 5), deleted 3 key(s) under /manyfold/leases/ns/l/');
  });

  it('removes it at once with a Warning when the lease was never located', () => {
    const plan = planCleanup({ ...base, dir: undefined, status: undefined, outcome: { kind: 'skipped', message: 'spec.etcd.endpoints: not set' }, now: NOW });
    expect(plan.removeFinalizer).toBe(true);
    expect(plan.events[0]).toMatchObject({ type: 'Warning', reason: 'CleanupSkipped' });
  });

  it('keeps it while etcd is unreachable, reporting CleanedUp=False and Ready=False, then gives up after the grace period', () => {
    const first = planCleanup({ ...base, status: { transitions: 2, holder: 'app-1', epoch: '4' }, outcome: failed, now: NOW });
    expect(first.removeFinalizer).toBe(false);
    const status = first.status as FencedLeaseStatus;
    expect(status.conditions?.find((c) => c.type === 'CleanedUp')).toMatchObject({ status: 'False', reason: 'EtcdUnavailable', lastTransitionTime: '2026-05-01T12:00:00Z' });
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'EtcdUnavailable' });
    expect(status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('retrying until 2026-05-01T12:10:00Z');
    expect(status).toMatchObject({ holder: 'app-1', transitions: 2 });
    expect(status.epoch).toBeUndefined();
    expect(first.events.map((e) => e.reason)).toEqual(['CleanupFailed']);
    const middle = planCleanup({ ...base, status, outcome: failed, now: NOW + 300_000 });
    expect(middle.removeFinalizer).toBe(false);
    expect(middle.events).toEqual([]);
    const end = planCleanup({ ...base, status, outcome: failed, now: NOW + DEFAULT_CLEANUP_GRACE_MS });
    expect(end.removeFinalizer).toBe(true);
    expect(end.events[0]).toMatchObject({ type: 'Warning', reason: 'CleanupAbandoned' });
    expect(end.events[0]?.note).toContain('/manyfold/leases/ns/l/');
  });

  it('gives up exactly when the failures have lasted the grace period, and never sleeps past it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 3_600_000 }), fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 1, maxLength: 60 }), (graceMs, gaps) => {
        let status: FencedLeaseStatus | undefined;
        let now = NOW;
        const start = NOW;
        for (const gap of gaps) {
          const plan = planCleanup({ ...base, status, outcome: failed, now, graceMs });
          expect(plan.removeFinalizer).toBe(now - start >= graceMs);
          if (plan.removeFinalizer) return;
          expect(plan.requeueAfterMs).toBeGreaterThan(0);
          expect(now + (plan.requeueAfterMs ?? 0)).toBeLessThanOrEqual(start + graceMs);
          status = plan.status;
          // The shell comes back no later than asked (it may come earlier, on a watch event).
          now += Math.min(gap, plan.requeueAfterMs ?? gap);
        }
      }),
    );
  });
});

const spec = (extra: Record<string, unknown>): FencedLeaseSpec => withFencedLeaseDefaults({ ttlSeconds: 15, ...extra });

describe('resolveLeaseTarget', () => {
  const at = { namespace: 'team-a', name: 'payments' };

  it('uses the spec endpoints and the default key directory', () => {
    const result = resolveLeaseTarget({ ...at, spec: spec({ etcd: { endpoints: ['http://127.0.0.1:2379'] } }), defaultEndpoints: ['http://other:2379'] });
    expect(result).toEqual({
      ok: true,
      value: { name: 'payments', dir: '/manyfold/fencedleases/team-a/payments/', endpoints: ['http://127.0.0.1:2379'], endpointsFrom: 'spec', tls: undefined, auth: undefined },
    });
  });

  it('falls back to the operator default and honours spec.key and credentials', () => {
    const fromOperator = resolveLeaseTarget({ ...at, spec: spec({ key: '/apps/payments/leader' }), defaultEndpoints: ['http://etcd:2379'] });
    expect(fromOperator.ok && fromOperator.value).toMatchObject({ dir: '/apps/payments/leader/', endpointsFrom: 'operator' });
    const secured = resolveLeaseTarget({
      ...at,
      spec: spec({ etcd: { endpoints: ['https://etcd:2379'], tls: { secretName: 'etcd-tls' }, auth: { secretName: 'etcd-user' } } }),
      defaultEndpoints: [],
    });
    expect(secured.ok && secured.value).toMatchObject({ tls: { secretName: 'etcd-tls' }, auth: { secretName: 'etcd-user', usernameKey: 'username', passwordKey: 'password' } });
  });

  it.each([
    [{}, [], 'spec.etcd.endpoints', 'no default'],
    [{}, ['http://etcd'], 'spec.etcd.endpoints', '--etcd-endpoints'],
    [{ etcd: { endpoints: ['http://etcd'] } }, [], 'spec.etcd.endpoints[0]', 'port'],
    [{ etcd: { endpoints: ['http://a:2379', 'https://b:2379'] } }, [], 'spec.etcd.endpoints', 'mix'],
    [{ etcd: { endpoints: ['http://a:2379'], tls: { secretName: 's' } } }, [], 'spec.etcd.tls', 'https'],
    [{ key: '/', etcd: { endpoints: ['http://a:2379'] } }, [], 'spec.key', 'directory'],
    [{ key: '/registry/pods', etcd: { endpoints: ['http://a:2379'] } }, [], 'spec.key', KUBERNETES_ETCD_PREFIX],
    [{ key: '/registry', etcd: { endpoints: ['http://a:2379'] } }, [], 'spec.key', KUBERNETES_ETCD_PREFIX],
  ] as [Record<string, unknown>, string[], string, string][])('rejects %o (defaults %o), naming %s', (extra, defaults, field, mention) => {
    const result = resolveLeaseTarget({ ...at, spec: spec(extra), defaultEndpoints: defaults });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.field).toBe(field);
    expect(result.message.startsWith(field)).toBe(true);
    expect(result.message).toContain(mention);
  });
});
