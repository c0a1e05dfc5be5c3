import { describe, expect, it } from 'vitest';
import { withFeatureFlagDefaults } from '../crds/featureflag.ts';
import { withRolloutDefaults, type RolloutSpecInput, type RolloutStatus } from '../crds/rollout.ts';
import { pendingMeasurement, reconcileRollout, type RolloutObservation } from './rollout.ts';

const flag = withFeatureFlagDefaults({ variants: { on: true, off: false }, defaultVariant: 'off', safeVariant: 'off' });
const spec = (extra: Partial<RolloutSpecInput> = {}) =>
  withRolloutDefaults({ flagRef: { name: 'checkout' }, variant: 'on', steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 100 }], ...extra });

const observe = (extra: Partial<RolloutObservation> = {}): RolloutObservation => ({
  name: 'ro',
  namespace: 'shop',
  uid: 'u',
  generation: 1,
  spec: { ok: true, value: spec() },
  status: undefined,
  killSwitch: { engaged: false },
  creationTimestamp: '2026-01-01T00:00:00Z',
  annotations: {},
  flag: { spec: { ok: true, value: flag }, killSwitch: false },
  rivals: [],
  cells: [],
  ...extra,
});
const ready = (s: RolloutStatus | undefined) => s?.conditions?.find((c) => c.type === 'Ready');

describe('reconcileRollout', () => {
  it('runs the steps and reports where it is', () => {
    const d = reconcileRollout(observe(), 0);
    expect(d.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, currentWeight: 20, currentWave: 0, pauseReason: 'Step' });
    expect(d.status?.history?.map((h) => h.reason)).toEqual(['WeightSet', 'RolloutPaused']);
    const resumed = reconcileRollout(observe({ status: d.status, annotations: { 'manyfold.dev/resume': 'go' } }), 1000);
    expect(resumed.status).toMatchObject({ phase: 'Completed', currentWeight: 100, lastResumeNonce: 'go' });
  });

  it('names the missing flag, and keeps its place until the flag is back', () => {
    const running = reconcileRollout(observe(), 0).status;
    const d = reconcileRollout(observe({ status: running, flag: undefined }), 1000);
    expect(d.status).toMatchObject({ phase: 'Degraded', heldPhase: 'Paused', currentWeight: 20 });
    expect(ready(d.status)).toMatchObject({ status: 'False', reason: 'FlagNotFound' });
    expect(ready(d.status)?.message).toContain('spec.flagRef.name');
    const back = reconcileRollout(observe({ status: d.status }), 2000);
    expect(back.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
  });

  it.each([
    [{ variant: 'blue' }, 'spec.variant'],
    [{ variant: 'off' }, 'defaultVariant'],
    [{ steps: [{ setWeight: 50 }, { setWeight: 20 }] }, 'spec.steps[1].setWeight'],
  ])('refuses %j naming %s', (extra, field) => {
    const d = reconcileRollout(observe({ spec: { ok: true, value: spec(extra) } }), 0);
    expect(d.status?.phase).toBe('Degraded');
    expect(ready(d.status)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready(d.status)?.message).toContain(field);
  });

  it('lets only the oldest Rollout of a flag act; the other reports Conflict', () => {
    const d = reconcileRollout(observe({ rivals: [{ name: 'older', creationTimestamp: '2025-12-31T00:00:00Z' }] }), 0);
    expect(d.status).toMatchObject({ phase: 'Pending', currentWeight: 0 });
    expect(ready(d.status)).toMatchObject({ status: 'False', reason: 'Conflict' });
    expect(d.events[0]?.reason).toBe('Conflict');
    const winner = reconcileRollout(observe({ rivals: [{ name: 'younger', creationTimestamp: '2026-02-01T00:00:00Z' }] }), 0);
    expect(winner.status?.phase).toBe('Paused');
  });

  it('a kill switch pauses where it is; release continues from there', () => {
    const s1 = reconcileRollout(observe({ spec: { ok: true, value: spec({ steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }, { setWeight: 100 }] }) } }), 0).status;
    const killed = reconcileRollout(observe({ status: s1, killSwitch: { engaged: true, scope: 'global' }, spec: { ok: true, value: spec({ steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }, { setWeight: 100 }] }) } }), 120_000);
    expect(killed.status).toMatchObject({ phase: 'Paused', heldPhase: 'Paused', currentStepIndex: 1, currentWeight: 20 });
    expect(killed.events.map((e) => e.reason)).toEqual(['KillSwitchEngaged']);
    expect(killed.requeueAfterMs).toBeUndefined();
    const released = reconcileRollout(observe({ status: killed.status, spec: { ok: true, value: spec({ steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }, { setWeight: 100 }] }) } }), 130_000);
    expect(released.events.map((e) => e.reason)).toContain('KillSwitchReleased');
    expect(released.status).toMatchObject({ phase: 'Completed', currentWeight: 100 });
    expect(released.status?.heldPhase).toBeUndefined();
  });

  it('asks for a measurement when due, aborts on a failed one naming the query, and starts over on a new spec', () => {
    const prom = { address: 'http://127.0.0.1:9090', query: 'sum(errors)', maxValue: 1 };
    const s = spec({ steps: [{ setWeight: 30 }, { analysis: { prometheus: prom } }, { setWeight: 100 }] });
    const first = reconcileRollout(observe({ spec: { ok: true, value: s } }), 0);
    expect(pendingMeasurement(observe({ spec: { ok: true, value: s }, status: first.status }), 0)).toEqual({ address: prom.address, query: prom.query });
    const failed = reconcileRollout(observe({ spec: { ok: true, value: s }, status: first.status, measurement: { value: 7 } }), 0);
    expect(failed.status).toMatchObject({ phase: 'Aborted', currentWeight: 0 });
    expect(ready(failed.status)?.message).toMatch(/sum\(errors\).*returned 7/);
    expect(failed.events.find((e) => e.reason === 'AnalysisFailed')?.note).toContain('sum(errors)');
    const sameSpec = reconcileRollout(observe({ spec: { ok: true, value: s }, status: failed.status }), 1000);
    expect(sameSpec.status?.phase).toBe('Aborted');
    const newSpec = reconcileRollout(observe({ generation: 2, spec: { ok: true, value: s }, status: failed.status }), 2000);
    expect(newSpec.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 1, currentWeight: 30 });
  });
});
