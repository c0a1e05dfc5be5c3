import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RolloutStep } from '../crds/rollout.ts';
import { initialState, measurementDue, step, type MachineInput, type MachineState } from './rollout-machine.ts';

const PROM = { address: 'http://127.0.0.1:9090', query: 'errors', maxValue: 5 };
const base = (steps: RolloutStep[], extra: Partial<MachineInput> = {}): MachineInput => ({
  steps,
  waveCount: 1,
  bakeTimeMs: 0,
  killSwitch: false,
  unhealthyCells: [],
  ...extra,
});

function run(state: MachineState, input: MachineInput, now: number) {
  return step(state, input, now).state;
}

describe('step machine: examples', () => {
  it('walks setWeight, a timed pause and a resume-only pause', () => {
    const steps: RolloutStep[] = [{ setWeight: 10 }, { pause: { duration: '1m' } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }];
    let s = run(initialState(1), base(steps), 0);
    expect(s).toMatchObject({ phase: 'Paused', stepIndex: 1, weights: [10] });
    s = run(s, base(steps), 59_999);
    expect(s.stepIndex).toBe(1);
    s = run(s, base(steps), 60_000);
    expect(s).toMatchObject({ phase: 'Paused', stepIndex: 3, weights: [50], pauseReason: 'Step' });
    s = run(s, base(steps, { resumeNonce: 'a' }), 61_000);
    expect(s).toMatchObject({ phase: 'Completed', weights: [100], lastResumeNonce: 'a' });
  });

  it('rolls waves in order with a bake time: wave 1 at 50 % while wave 2 is at 0', () => {
    const steps: RolloutStep[] = [{ setWeight: 50 }, { pause: { duration: '10s' } }, { setWeight: 100 }];
    const input = base(steps, { waveCount: 2, bakeTimeMs: 30_000 });
    let s = run(initialState(2), input, 0);
    expect(s.weights).toEqual([50, 0]);
    s = run(s, input, 10_000);
    expect(s).toMatchObject({ weights: [100, 0], baking: true, wave: 0 });
    s = run(s, input, 39_999);
    expect(s.wave).toBe(0);
    s = run(s, input, 40_000);
    expect(s).toMatchObject({ wave: 1, weights: [100, 50], phase: 'Paused' });
  });

  it('aborts on a failed measurement, naming the query and the value; every wave goes to 0', () => {
    const steps: RolloutStep[] = [{ setWeight: 30 }, { analysis: { prometheus: { ...PROM, count: 2, interval: '10s' } } }, { setWeight: 100 }];
    let s = run(initialState(1), base(steps), 0);
    expect(measurementDue(s, base(steps), 0)).toBe(true);
    s = run(s, base(steps, { measurement: { value: 1 } }), 0);
    expect(s.measurements).toHaveLength(1);
    expect(measurementDue(s, base(steps), 5_000)).toBe(false);
    const t = step(s, base(steps, { measurement: { value: 9 } }), 10_000);
    expect(t.state).toMatchObject({ phase: 'Aborted', weights: [0] });
    expect(t.events.find((e) => e.reason === 'AnalysisFailed')?.message).toMatch(/query "errors" returned 9 \(maxValue 5\)/);
  });

  it('pauses as inconclusive after too many errors; a new nonce restarts the analysis', () => {
    const steps: RolloutStep[] = [{ setWeight: 30 }, { analysis: { prometheus: { ...PROM, consecutiveErrorLimit: 0 } } }, { setWeight: 100 }];
    let s = run(initialState(1), base(steps, { measurement: { error: 'connection refused' } }), 0);
    expect(s).toMatchObject({ phase: 'Paused', pauseReason: 'Inconclusive', weights: [30] });
    s = run(s, base(steps, { resumeNonce: 'n1' }), 1000);
    expect(s).toMatchObject({ phase: 'Progressing', stepIndex: 1, measurements: [] });
    s = run(s, base(steps, { resumeNonce: 'n1', measurement: { value: 0 } }), 2000);
    expect(s).toMatchObject({ phase: 'Completed', weights: [100] });
  });

  it('fails on unhealthy Cells beyond maxUnhealthyCells', () => {
    const steps: RolloutStep[] = [{ setWeight: 30 }, { analysis: { maxUnhealthyCells: 1 } }];
    expect(run(initialState(1), base(steps, { unhealthyCells: ['a'] }), 0).phase).toBe('Completed');
    expect(run(initialState(1), base(steps, { unhealthyCells: ['a', 'b'] }), 0)).toMatchObject({ phase: 'Aborted', weights: [0] });
  });

  it('starts over on a new spec after an abort', () => {
    const steps: RolloutStep[] = [{ setWeight: 30 }, { analysis: { maxUnhealthyCells: 0 } }];
    const aborted = run(initialState(1), base(steps, { unhealthyCells: ['a'] }), 0);
    expect(run(aborted, base(steps), 1)).toBe(aborted);
    expect(run(aborted, base(steps, { restart: true }), 2)).toMatchObject({ phase: 'Completed', weights: [30] });
  });
});

// ---- properties ----------------------------------------------------------------------

const stepArb: fc.Arbitrary<RolloutStep> = fc.oneof(
  fc.integer({ min: 0, max: 100 }).map((w) => ({ setWeight: w })),
  fc.constantFrom<RolloutStep>({ pause: {} }, { pause: { duration: '10s' } }, { pause: { duration: '1m' } }),
  fc.constantFrom<RolloutStep>(
    { analysis: { maxUnhealthyCells: 1 } },
    { analysis: { prometheus: { ...PROM, count: 2, interval: '10s', failureLimit: 1, consecutiveErrorLimit: 1 } } },
  ),
);

const inputArb = fc.record({
  advanceMs: fc.integer({ min: 0, max: 90_000 }),
  killSwitch: fc.boolean(),
  nonce: fc.option(fc.constantFrom('n1', 'n2', 'n3', 'n4'), { nil: undefined }),
  unhealthy: fc.integer({ min: 0, max: 2 }),
  measurement: fc.option(fc.oneof(fc.integer({ min: 0, max: 10 }).map((value) => ({ value })), fc.constant({ error: 'unreachable' })), { nil: undefined }),
});

const scenario = fc.record({
  steps: fc.array(stepArb, { minLength: 1, maxLength: 8 }),
  waveCount: fc.integer({ min: 1, max: 3 }),
  bakeTimeMs: fc.constantFrom(0, 20_000),
  inputs: fc.array(inputArb, { minLength: 1, maxLength: 40 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function* trace(sc: Scenario) {
  let state = initialState(sc.waveCount);
  let now = 0;
  for (const i of sc.inputs) {
    now += i.advanceMs;
    const input: MachineInput = {
      steps: sc.steps,
      waveCount: sc.waveCount,
      bakeTimeMs: sc.bakeTimeMs,
      killSwitch: i.killSwitch,
      resumeNonce: i.nonce,
      unhealthyCells: Array.from({ length: i.unhealthy }, (_, k) => `cell-${k}`),
      measurement: measurementDue(state, { steps: sc.steps, killSwitch: i.killSwitch }, now) ? i.measurement : undefined,
    };
    const next = step(state, input, now).state;
    yield { before: state, input, after: next, now };
    state = next;
  }
}

describe('step machine: properties', () => {
  it('never serves a weight the steps did not reach; waves ahead of the current one stay at 0', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const reachable = new Set([0, ...sc.steps.flatMap((s) => (s.setWeight !== undefined ? [s.setWeight] : []))]);
        for (const { after } of trace(sc)) {
          for (const w of after.weights) expect(reachable.has(w)).toBe(true);
          after.weights.forEach((w, k) => {
            if (k > after.wave) expect(w).toBe(0);
          });
          if (after.phase !== 'Aborted') {
            const reachedInWave = sc.steps.slice(0, after.stepIndex).flatMap((s) => (s.setWeight !== undefined ? [s.setWeight] : []));
            expect(after.weights[after.wave] ?? 0).toBeLessThanOrEqual(Math.max(0, ...reachedInWave));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a wave\'s weight never goes down except by an abort, which sets every wave to 0', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        for (const { before, after } of trace(sc)) {
          if (after.phase === 'Aborted') expect(after.weights.every((w) => w === 0)).toBe(true);
          else after.weights.forEach((w, k) => expect(w).toBeGreaterThanOrEqual(before.weights[k] ?? 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the kill switch always wins: while it holds nothing changes, whatever else arrives', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        for (const { before, input, after } of trace(sc)) if (input.killSwitch) expect(after).toBe(before);
      }),
      { numRuns: 300 },
    );
  });

  it('resume acts once per nonce: a pause ends only on a nonce other than the last one seen, one pause per nonce', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<RolloutStep>({ pause: {} }, { setWeight: 10 }, { setWeight: 20 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), { maxLength: 30 }),
        (steps, nonces) => {
          let state = initialState(1);
          let resumed = 0;
          let changes = 0;
          let last: string | undefined;
          nonces.forEach((nonce, t) => {
            const before = state;
            state = step(state, base(steps, { resumeNonce: nonce }), t).state;
            const passedPauses = steps.slice(before.stepIndex, state.phase === 'Completed' ? steps.length : state.stepIndex).filter((s) => s.pause !== undefined).length;
            const fresh = nonce !== undefined && nonce !== last;
            if (fresh) changes += 1;
            if (nonce !== undefined) last = nonce;
            if (before.phase !== 'Pending') expect(passedPauses).toBeLessThanOrEqual(fresh && before.phase === 'Paused' ? 1 : 0);
            resumed += passedPauses;
          });
          expect(resumed).toBeLessThanOrEqual(changes);
          const again = step(state, base(steps, { resumeNonce: last }), 1000);
          if (state.phase !== 'Pending') expect(again.state.stepIndex).toBe(state.stepIndex); // the same nonce once more does nothing
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is deterministic and idempotent at a fixed time', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        for (const { input, after, now } of trace(sc)) {
          const again = step(after, { ...input, measurement: undefined, resumeNonce: after.lastResumeNonce }, now).state;
          expect(again.weights).toEqual(after.weights);
          if (after.phase !== 'Progressing' || !measurementDue(after, input, now)) expect(again.stepIndex).toBe(after.stepIndex);
        }
      }),
      { numRuns: 200 },
    );
  });
});
