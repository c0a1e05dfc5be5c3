import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withRatePolicyDefaults, type RatePolicySpecInput, type RatePolicyStatus } from '../crds/ratepolicy.ts';
import { PROTOCOL_KEY, SHARES_KEY, parseSharesDocument, type SharesDocument } from '../legos/ratelimit/document.ts';
import { sumInForce, toShareUnits } from './ratepolicy-protocol.ts';
import { readPublished, type PublishedObject } from './ratepolicy-publish.ts';
import { reconcileRatePolicy, type ObservedPod, type ObservedReport, type PolicyDecision, type PolicyObservation } from './ratepolicy.ts';

const T0 = Date.UTC(2026, 0, 1);
const baseSpec: RatePolicySpecInput = {
  selector: { matchLabels: { app: 'api' } },
  limits: [
    { name: 'calls', key: 'customer', requestsPerSecond: 1000, burst: 100 },
    { name: 'local', key: 'path', requestsPerSecond: 50, scope: 'PerReplica' },
  ],
  leaseSeconds: 15,
};

const pod = (name: string, ready = true, labels: Record<string, string> = { app: 'api' }): ObservedPod => ({ name, labels, ready, deleting: false });

function observe(over: Partial<PolicyObservation> & { specInput?: RatePolicySpecInput } = {}): PolicyObservation {
  const { specInput = baseSpec, ...rest } = over;
  return {
    name: 'partner',
    namespace: 'shop',
    uid: 'uid-1',
    generation: 1,
    spec: { ok: true, value: withRatePolicyDefaults(specInput) },
    status: undefined,
    killSwitch: { engaged: false },
    pods: [],
    reports: [],
    published: undefined,
    ...rest,
  };
}

function publishedOf(decision: PolicyDecision): PublishedObject | undefined {
  const child = decision.apply[0];
  if (child === undefined) return undefined;
  return { data: child.object['data'] as Record<string, string>, resourceVersion: 'rv' };
}

const docOf = (decision: PolicyDecision): SharesDocument => parseSharesDocument((publishedOf(decision)?.data ?? {})[SHARES_KEY] ?? '');
const ack = (p: string, version: number): ObservedReport => ({ lease: `partner.${p}`, pod: p, ackVersion: String(version), demand: undefined });
const cond = (status: RatePolicyStatus | undefined, type: string) => status?.conditions?.find((c) => c.type === type);

describe('reconcileRatePolicy', () => {
  it('publishes nothing and says NoReplicas while the selector matches no Ready pod', () => {
    const d = reconcileRatePolicy(observe({ pods: [pod('a', false), pod('x', true, { app: 'other' })] }), T0);
    expect(d.apply).toEqual([]);
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'NoReplicas' });
    expect(cond(d.status, 'Ready')?.message).toContain('1 pod(s), none Ready');
    expect(d.events.map((e) => e.reason)).toEqual(['NoReplicas']);
    expect(d.status?.replicas).toBe(0);
  });

  it('splits a Global limit over the Ready selected pods and publishes a ConfigMap the clients can read', () => {
    const d = reconcileRatePolicy(observe({ pods: [pod('a'), pod('b'), pod('c', false), pod('x', true, { app: 'other' })] }), T0);
    expect(d.apply).toHaveLength(1);
    const child = d.apply[0]!;
    expect(child.object.metadata).toMatchObject({ name: 'partner-shares', namespace: 'shop', ownerReferences: [{ kind: 'RatePolicy', name: 'partner', uid: 'uid-1', controller: true }] });
    const doc = docOf(d);
    expect(doc.version).toBe(1);
    expect(doc.expiresAtMs).toBe(T0 + 15_000);
    expect(Object.keys(doc.replicas).sort()).toEqual(['a', 'b']);
    expect(doc.replicas.a?.calls?.[0]).toBeCloseTo(500, 3);
    expect(doc.replicas.a?.calls?.[1]).toBeCloseTo(50, 3);
    expect(doc.limits.map((l) => l.name)).toEqual(['calls', 'local']);
    expect((child.object['data'] as Record<string, string>)[PROTOCOL_KEY]).toBeDefined();
    expect(d.status).toMatchObject({ replicas: 2, version: 1, configMap: 'partner-shares', converged: true });
    expect(d.status?.shares?.find((s) => s.name === 'local')).toMatchObject({ requestsPerSecond: 50, scope: 'PerReplica' });
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'True', reason: 'SharesPublished' });
    expect(cond(d.status, 'Converging')).toMatchObject({ status: 'False', reason: 'Converged' });
    expect(d.events.map((e) => e.reason)).toEqual(['SharesPublished']);
    expect(d.published).toMatchObject({ version: 1, newVersion: true, replicas: 2 });
  });

  it('is idempotent: the same world again writes nothing until the refresh is due', () => {
    const o = observe({ pods: [pod('a'), pod('b')] });
    const first = reconcileRatePolicy(o, T0);
    const again = reconcileRatePolicy({ ...o, published: publishedOf(first), status: first.status }, T0 + 10);
    expect(again.apply).toEqual([]);
    expect(again.status).toBeUndefined();
    expect(again.events).toEqual([]);
    expect(again.requeueAfterMs).toBe(5000 - 10);
    const refresh = reconcileRatePolicy({ ...o, published: publishedOf(first), status: first.status }, T0 + 5000);
    expect(docOf(refresh)).toMatchObject({ version: 1, expiresAtMs: T0 + 20_000 });
    expect(refresh.apply[0]!.object.metadata['resourceVersion']).toBe('rv'); // conditional on the state it was computed from
  });

  it('a newcomer is granted only after the others acknowledged their lower share', () => {
    const two = observe({ pods: [pod('a'), pod('b')] });
    const v1 = reconcileRatePolicy(two, T0);
    const three = { ...two, pods: [pod('a'), pod('b'), pod('c')], published: publishedOf(v1), status: v1.status };
    const v2 = reconcileRatePolicy(three, T0 + 100);
    const doc2 = docOf(v2);
    expect(doc2.version).toBe(2);
    expect(doc2.replicas.c?.calls?.[0] ?? 0).toBe(0);
    expect(doc2.replicas.a?.calls?.[0]).toBeCloseTo(333.333, 2);
    expect(cond(v2.status, 'Converging')).toMatchObject({ status: 'True', reason: 'WaitingForAcks' });
    expect(v2.status?.waitingFor).toEqual(['a', 'b']);
    const acked = { ...three, published: publishedOf(v2), status: v2.status, reports: [ack('a', 2), ack('b', 2)] };
    const v3 = reconcileRatePolicy(acked, T0 + 300);
    const doc3 = docOf(v3);
    expect(doc3.version).toBe(3);
    expect(doc3.replicas.c?.calls?.[0]).toBeCloseTo(333.333, 2);
    expect(v3.status?.converged).toBe(true);
    expect(cond(v3.status, 'Converging')?.reason).toBe('Converged');
  });

  it('kill switch: shares stay as published (same version, refreshed so they do not lapse), nothing moves', () => {
    const two = observe({ pods: [pod('a'), pod('b')] });
    const v1 = reconcileRatePolicy(two, T0);
    const killed = { ...two, pods: [pod('a'), pod('b'), pod('c')], published: publishedOf(v1), status: v1.status, killSwitch: { engaged: true, scope: 'namespace shop' } };
    const early = reconcileRatePolicy(killed, T0 + 100);
    expect(early.apply).toEqual([]);
    expect(cond(early.status, 'Converging')).toMatchObject({ status: 'False', reason: 'KillSwitchEngaged' });
    expect(early.events.map((e) => e.reason)).toContain('KillSwitchEngaged');
    const refresh = reconcileRatePolicy({ ...killed, status: early.status }, T0 + 5000);
    const doc = docOf(refresh);
    expect(doc).toMatchObject({ version: 1, frozen: true, expiresAtMs: T0 + 20_000 });
    expect(Object.keys(doc.replicas).sort()).toEqual(['a', 'b']);
  });

  it('an invalid spec keeps the published shares alive and says InvalidSpec', () => {
    const two = observe({ pods: [pod('a'), pod('b')] });
    const v1 = reconcileRatePolicy(two, T0);
    const invalid = { ...two, published: publishedOf(v1), status: v1.status, spec: { ok: false as const, message: 'spec.limits[0].requestsPerSecond: must be > 0' } };
    const d = reconcileRatePolicy(invalid, T0 + 6000);
    expect(cond(d.status, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.limits[0].requestsPerSecond: must be > 0' });
    expect(docOf(d)).toMatchObject({ version: 1, frozen: true, expiresAtMs: T0 + 21_000 });
  });

  it('Demand mode: clamps absurd and negative reports, says so, and never lets them starve the others', () => {
    const spec: RatePolicySpecInput = { ...baseSpec, limits: [{ name: 'calls', key: 'c', requestsPerSecond: 1000, burst: 100, shareMode: 'Demand', floorPercent: 10 }] };
    const reports: ObservedReport[] = [
      { lease: 'l-a', pod: 'a', ackVersion: undefined, demand: JSON.stringify({ calls: 1e12 }) },
      { lease: 'l-b', pod: 'b', ackVersion: undefined, demand: JSON.stringify({ calls: -3 }) },
      { lease: 'l-c', pod: 'c', ackVersion: undefined, demand: JSON.stringify({ calls: 200 }) },
    ];
    const d = reconcileRatePolicy(observe({ specInput: spec, pods: [pod('a'), pod('b'), pod('c')], reports }), T0);
    expect(d.clamped.map((c) => `${c.pod}:${c.clamped}`).sort()).toEqual(['a:AboveLimit', 'b:Negative']);
    expect(d.events.map((e) => e.reason)).toContain('DemandClamped');
    const doc = docOf(d);
    // b keeps its floor (33.3), c gets its 200 in full, a the rest
    expect(doc.replicas.b?.calls?.[0]).toBeCloseTo(33.333, 2);
    expect(doc.replicas.c?.calls?.[0]).toBeCloseTo(200, 2);
    expect(doc.replicas.a?.calls?.[0]).toBeCloseTo(766.667, 2);
    expect(d.status?.shares?.[0]).toMatchObject({ clampedDemands: 2, minRequestsPerSecond: expect.closeTo(33.333, 2) as number });
  });

  it('Demand mode: report noise within 10 % starts no transition; a real shift does', () => {
    const spec: RatePolicySpecInput = { ...baseSpec, limits: [{ name: 'calls', key: 'c', requestsPerSecond: 1000, burst: 100, shareMode: 'Demand', floorPercent: 10 }] };
    const demand = (p: string, rps: number, version: number): ObservedReport => ({ lease: `l-${p}`, pod: p, ackVersion: String(version), demand: JSON.stringify({ calls: rps }) });
    const pods = [pod('a'), pod('b'), pod('c'), pod('d')];
    const first = reconcileRatePolicy(observe({ specInput: spec, pods, reports: [demand('a', 25, 0), demand('b', 25, 0), demand('c', 1000, 0), demand('d', 1000, 0)] }), T0);
    const v1 = docOf(first);
    expect(v1.replicas.a?.calls?.[0]).toBeCloseTo(25, 3);
    expect(v1.replicas.c?.calls?.[0]).toBeCloseTo(475, 3);
    // the small askers' reports wobble by a few requests/s: the grants stay, no new version
    const noisy = reconcileRatePolicy(observe({ specInput: spec, pods, status: first.status, published: publishedOf(first), reports: [demand('a', 27, 1), demand('b', 23.5, 1), demand('c', 1000, 1), demand('d', 1000, 1)] }), T0 + 100);
    expect(noisy.published?.newVersion ?? false).toBe(false);
    expect(noisy.status?.converged ?? first.status?.converged).toBe(true);
    // a shares more than 10 % away: a new version, a lowered first (c and d wait for its acknowledgement)
    const shift = reconcileRatePolicy(observe({ specInput: spec, pods, status: first.status, published: publishedOf(first), reports: [demand('a', 1000, 1), demand('b', 25, 1), demand('c', 25, 1), demand('d', 1000, 1)] }), T0 + 200);
    expect(shift.published?.newVersion).toBe(true);
    expect(docOf(shift).replicas.c?.calls?.[0]).toBeCloseTo(25, 3);
  });

  it('deletes the reports of pods that no longer exist once they hold nothing', () => {
    const d = reconcileRatePolicy(observe({ pods: [pod('a')], reports: [ack('a', 1), ack('gone', 1)] }), T0);
    expect(d.delete).toEqual([{ lease: 'partner.gone' }]);
  });

  it('versions only increase and the published shares in force never exceed the limit (any sequence of pods, acks, demand reports, time; Even and Demand)', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        fc.constantFrom('Even' as const, 'Demand' as const),
        fc.array(
          fc.record({
            ready: fc.subarray(names),
            acking: fc.subarray(names),
            demands: fc.array(fc.oneof(fc.integer({ min: 0, max: 1200 }), fc.constantFrom(20, 25, 1000)), { minLength: names.length, maxLength: names.length }),
            ms: fc.integer({ min: 0, max: 8000 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (shareMode, steps) => {
          const specInput: RatePolicySpecInput = { ...baseSpec, limits: [{ name: 'calls', key: 'customer', requestsPerSecond: 1000, burst: 100, shareMode }] };
          let now = T0;
          let published: PublishedObject | undefined;
          let status: RatePolicyStatus | undefined;
          let version = 0;
          for (const step of steps) {
            now += step.ms;
            const state = readPublished(published)?.state;
            const reports = names.map((p, i): ObservedReport => ({
              lease: `partner.${p}`,
              pod: p,
              ackVersion: step.acking.includes(p) ? String(state?.version ?? 0) : undefined,
              demand: JSON.stringify({ calls: step.demands[i] ?? 0 }),
            }));
            const d = reconcileRatePolicy(observe({ specInput, pods: step.ready.map((p) => pod(p)), reports, published, status }), now);
            if (d.apply.length > 0) published = publishedOf(d);
            status = d.status ?? status;
            const next = readPublished(published)?.state;
            if (next) {
              expect(next.version).toBeGreaterThanOrEqual(version);
              version = next.version;
              const sum = sumInForce(next, ['calls']).calls!;
              expect(sum.rate).toBeLessThanOrEqual(toShareUnits(1000));
              expect(sum.burst).toBeLessThanOrEqual(toShareUnits(100));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('Demand mode settles: with steady reports and acknowledging pods, converged within a few rounds, then no new version', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(fc.subarray(names, { minLength: 1 }), fc.array(fc.integer({ min: 0, max: 1200 }), { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 1200 }), { minLength: 4, maxLength: 4 }), (ready, before, after) => {
        const specInput: RatePolicySpecInput = { ...baseSpec, limits: [{ name: 'calls', key: 'customer', requestsPerSecond: 1000, burst: 100, shareMode: 'Demand' }] };
        let now = T0;
        let published: PublishedObject | undefined;
        let status: RatePolicyStatus | undefined;
        const round = (demands: number[]) => {
          now += 100;
          const v = readPublished(published)?.state?.version ?? 0;
          const reports = names.map((p, i): ObservedReport => ({ lease: `partner.${p}`, pod: p, ackVersion: String(v), demand: JSON.stringify({ calls: demands[i] ?? 0 }) }));
          const d = reconcileRatePolicy(observe({ specInput, pods: ready.map((p) => pod(p)), reports, published, status }), now);
          if (d.apply.length > 0) published = publishedOf(d);
          status = d.status ?? status;
          return d;
        };
        for (const demands of [before, after]) {
          for (let rounds = 0; rounds < 6; rounds++) {
            round(demands);
            if (status?.converged === true) break;
          }
          let d = round(demands);
          for (let i = 0; i < 4 && d.published?.newVersion; i++) d = round(demands); // acknowledgements may still release ceilings once
          expect(status?.converged).toBe(true);
          expect(round(demands).published?.newVersion ?? false).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});
