/**
 * The Rollout step machine, pure: `step(state, input, now)` moves a rollout through
 * its `steps[]` (setWeight, pause, analysis), once per wave of Cells, with a bake time
 * between waves. No I/O: Prometheus measurements and Cell health come in through the
 * input; time is `now` (wall ms).
 *
 * Rules:
 * - `setWeight` sets the current wave's weight and moves on at once; a call passes as
 *   many consecutive setWeight steps as there are (the last one is published).
 * - `pause` with a duration holds until it elapsed; without one, until a resume nonce
 *   other than the last one seen arrives. A nonce acts once: the last nonce seen is
 *   recorded (in status, so it survives failover), and a nonce seen while nothing is
 *   paused is consumed without effect.
 * - `analysis` fails the step (abort) when more Cells are unhealthy than
 *   `maxUnhealthyCells`, or when Prometheus measurements failed more than `failureLimit`
 *   times; it passes once `count` measurements (one per `interval`) succeeded or failed
 *   within the limit; more than `consecutiveErrorLimit` errors in a row (unreachable,
 *   no data, several series) make it inconclusive: the rollout pauses until resumed,
 *   which restarts the analysis.
 * - An abort sets every wave's weight to 0 (the previous variant everywhere) and is
 *   terminal until the reconciler signals a new spec (`restart`), which starts over.
 * - The kill switch wins over everything: while it holds, the state does not change at
 *   all (no step, no timer, no nonce consumed); on release the machine continues from
 *   where it was.
 *
 * Guarantees (property-tested): weights only take values of setWeight steps the wave
 * has reached, or 0; a wave's weight never decreases except by an abort; a wave after
 * the current one is at 0; resume advances past at most one pause per new nonce.
 *
 * Limitations: only the last nonce is remembered, so setting an older nonce again
 * after a newer one counts as new. Measurements are taken by the caller when {@link measurementDue} says
 * so; a measurement passed when none is due is ignored. Timed pauses and bake times
 * count wall time, including time spent under a kill switch.
 */
import type { RolloutStep } from '../crds/rollout.ts';

export type MachinePhase = 'Pending' | 'Progressing' | 'Paused' | 'Completed' | 'Aborted';

/** One Prometheus measurement of the current analysis step. */
export interface Measurement {
  /** Wall time, ms. */
  readonly at: number;
  readonly outcome: 'Successful' | 'Failed' | 'Error';
  readonly value?: number;
  readonly message?: string;
}

/** What the machine remembers (persisted in Rollout status). */
export interface MachineState {
  readonly phase: MachinePhase;
  readonly stepIndex: number;
  readonly wave: number;
  /** Weight per wave, percent. */
  readonly weights: readonly number[];
  /** When the current pause, analysis or bake began (wall ms). */
  readonly stepStartedAt?: number | undefined;
  /** True while waiting out the bake time after a wave. */
  readonly baking: boolean;
  readonly pauseReason?: 'Step' | 'Inconclusive' | undefined;
  readonly lastResumeNonce?: string | undefined;
  readonly measurements: readonly Measurement[];
  /** Why the machine is where it is (last transition). */
  readonly reason: string;
  readonly message: string;
}

/** What the machine sees each time it runs. */
export interface MachineInput {
  readonly steps: readonly RolloutStep[];
  /** Number of waves, ≥ 1. */
  readonly waveCount: number;
  /** Bake time between waves, ms. */
  readonly bakeTimeMs: number;
  readonly killSwitch: boolean;
  /** Value of the manyfold.dev/resume annotation, if any. */
  readonly resumeNonce?: string | undefined;
  /** A new spec after an abort: start over. */
  readonly restart?: boolean;
  /** Names of unhealthy Cells the variant reaches (waves up to the current one). */
  readonly unhealthyCells: readonly string[];
  /** A measurement the caller took now because {@link measurementDue} said so. */
  readonly measurement?: { readonly value: number } | { readonly error: string } | undefined;
}

export interface MachineEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface Transition {
  readonly state: MachineState;
  readonly events: readonly MachineEvent[];
  /** When to run again, ms from now (a pause, bake or measurement is due). */
  readonly requeueAfterMs?: number;
}

/** Defaults of a Prometheus analysis (as Argo Rollouts' where it has one). */
export const AnalysisDefaults = { intervalMs: 60_000, count: 1, failureLimit: 0, consecutiveErrorLimit: 4 } as const;
/** Most measurements kept per analysis step. */
export const MAX_MEASUREMENTS = 32;

/** Parses "30s", "5m", "1h" into ms. */
export function durationMs(text: string): number {
  const m = /^([0-9]+)(s|m|h)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 3_600_000);
}

/** The first state of a rollout over `waveCount` waves. */
export function initialState(waveCount: number, lastResumeNonce?: string): MachineState {
  return {
    phase: 'Pending',
    stepIndex: 0,
    wave: 0,
    weights: Array.from({ length: Math.max(1, waveCount) }, () => 0),
    baking: false,
    measurements: [],
    reason: 'Pending',
    message: 'waiting to start',
    ...(lastResumeNonce !== undefined ? { lastResumeNonce } : {}),
  };
}

function analysisSettings(step: RolloutStep) {
  const p = step.analysis?.prometheus;
  return {
    intervalMs: p?.interval !== undefined ? durationMs(p.interval) : AnalysisDefaults.intervalMs,
    count: p?.count ?? AnalysisDefaults.count,
    failureLimit: p?.failureLimit ?? AnalysisDefaults.failureLimit,
    consecutiveErrorLimit: p?.consecutiveErrorLimit ?? AnalysisDefaults.consecutiveErrorLimit,
  };
}

/** Whether the current analysis step wants a Prometheus measurement at `now`. */
export function measurementDue(state: MachineState, input: Pick<MachineInput, 'steps' | 'killSwitch'>, now: number): boolean {
  if (input.killSwitch || state.phase !== 'Progressing' || state.baking) return false;
  const step = input.steps[state.stepIndex];
  if (step?.analysis?.prometheus === undefined || state.stepStartedAt === undefined) return false;
  const last = state.measurements[state.measurements.length - 1];
  return last === undefined || now >= last.at + analysisSettings(step).intervalMs;
}

function resized(state: MachineState, waveCount: number): MachineState {
  const n = Math.max(1, waveCount);
  if (state.weights.length === n) return state;
  const weights = Array.from({ length: n }, (_, i) => state.weights[i] ?? 0);
  const wave = Math.min(state.wave, n - 1);
  return { ...state, weights, wave, ...(wave !== state.wave ? { stepIndex: 0, baking: false } : {}) };
}

/** Runs the machine once. Pure. */
export function step(previous: MachineState, input: MachineInput, now: number): Transition {
  if (input.killSwitch) return { state: previous, events: [] };
  const events: MachineEvent[] = [];
  let s = resized(previous, input.waveCount);
  if (input.restart) {
    s = { ...initialState(input.waveCount, s.lastResumeNonce), reason: 'Restarted', message: 'new spec after an abort: starting over' };
    events.push({ type: 'Normal', reason: 'RolloutRestarted', message: 'a new spec after the abort: starting over from step 0' });
  }
  if (s.phase === 'Aborted' || s.phase === 'Completed') return { state: s, events };
  if (s.phase === 'Pending') s = { ...s, phase: 'Progressing', reason: 'Started', message: 'rollout started' };

  // A nonce not seen before: recorded; it resumes a pause if there is one.
  let resume = false;
  if (input.resumeNonce !== undefined && input.resumeNonce !== s.lastResumeNonce) {
    resume = s.phase === 'Paused';
    s = { ...s, lastResumeNonce: input.resumeNonce };
  }

  const setWeights = (wave: number, weight: number) => s.weights.map((w, i) => (i === wave ? weight : w));
  for (let guard = 0; guard < input.steps.length * (input.waveCount + 1) + 4; guard++) {
    // End of the steps of this wave: bake, then the next wave, or done.
    if (s.stepIndex >= input.steps.length) {
      if (s.wave >= s.weights.length - 1) {
        events.push({ type: 'Normal', reason: 'RolloutCompleted', message: `all ${s.weights.length} wave(s) completed` });
        return { state: { ...s, phase: 'Completed', baking: false, stepStartedAt: undefined, reason: 'Completed', message: 'all steps of all waves done' }, events };
      }
      if (!s.baking) s = { ...s, baking: true, stepStartedAt: now, phase: 'Progressing', reason: 'Baking', message: `wave ${s.wave} done; baking before wave ${s.wave + 1}` };
      const due = (s.stepStartedAt ?? now) + input.bakeTimeMs;
      if (now < due) return { state: s, events, requeueAfterMs: due - now };
      s = { ...s, wave: s.wave + 1, stepIndex: 0, baking: false, stepStartedAt: undefined, measurements: [], reason: 'WaveStarted', message: `wave ${s.wave + 1} started` };
      events.push({ type: 'Normal', reason: 'WaveStarted', message: `wave ${s.wave} started` });
      continue;
    }
    const current = input.steps[s.stepIndex];
    if (current === undefined) break;
    const next = (reason: string, message: string): MachineState => ({
      ...s, stepIndex: s.stepIndex + 1, stepStartedAt: undefined, pauseReason: undefined, measurements: [], phase: 'Progressing', reason, message,
    });

    if (current.setWeight !== undefined) {
      const weight = Math.max(current.setWeight, s.weights[s.wave] ?? 0);
      s = { ...next('WeightSet', `wave ${s.wave} at ${weight}%`), weights: setWeights(s.wave, weight) };
      events.push({ type: 'Normal', reason: 'WeightSet', message: `step ${s.stepIndex - 1}: wave ${s.wave} at ${weight}%` });
      continue;
    }

    if (current.pause !== undefined) {
      if (s.stepStartedAt === undefined) {
        s = { ...s, phase: 'Paused', pauseReason: 'Step', stepStartedAt: now, reason: 'PauseStep', message: `paused at step ${s.stepIndex}` };
        events.push({ type: 'Normal', reason: 'RolloutPaused', message: `step ${s.stepIndex}: ${current.pause.duration ? `pause ${current.pause.duration}` : 'paused until manyfold.dev/resume'}` });
        resume = false; // a nonce seen before the pause began does not end it
      }
      if (resume) {
        resume = false;
        events.push({ type: 'Normal', reason: 'RolloutResumed', message: `step ${s.stepIndex}: resumed by nonce ${s.lastResumeNonce ?? ''}` });
        s = next('Resumed', `resumed at step ${s.stepIndex}`);
        continue;
      }
      if (current.pause.duration !== undefined) {
        const due = (s.stepStartedAt ?? now) + durationMs(current.pause.duration);
        if (now >= due) {
          s = next('PauseElapsed', `pause of step ${s.stepIndex} elapsed`);
          continue;
        }
        return { state: s, events, requeueAfterMs: due - now };
      }
      return { state: s, events };
    }

    if (current.analysis !== undefined) {
      if (s.phase === 'Paused' && s.pauseReason === 'Inconclusive') {
        if (!resume) return { state: s, events };
        resume = false;
        events.push({ type: 'Normal', reason: 'AnalysisRestarted', message: `step ${s.stepIndex}: analysis restarted by nonce ${s.lastResumeNonce ?? ''}` });
        s = { ...s, phase: 'Progressing', pauseReason: undefined, stepStartedAt: undefined, measurements: [] };
      }
      if (s.stepStartedAt === undefined) s = { ...s, stepStartedAt: now, measurements: [], reason: 'Analysing', message: `analysis of step ${s.stepIndex} running` };
      const max = current.analysis.maxUnhealthyCells;
      if (max !== undefined && input.unhealthyCells.length > max) {
        return abort(s, events, `step ${s.stepIndex}: ${input.unhealthyCells.length} unhealthy Cell(s) (${input.unhealthyCells.slice(0, 5).join(', ')}), more than maxUnhealthyCells ${max}`);
      }
      const prometheus = current.analysis.prometheus;
      if (prometheus === undefined) {
        s = next('AnalysisPassed', `analysis of step ${s.stepIndex} passed`);
        events.push({ type: 'Normal', reason: 'AnalysisPassed', message: `step ${s.stepIndex - 1}: ${input.unhealthyCells.length} unhealthy Cell(s), within ${max ?? 'any'}` });
        continue;
      }
      const settings = analysisSettings(current);
      if (input.measurement !== undefined && measurementDue(s, input, now)) {
        const m: Measurement = 'error' in input.measurement
          ? { at: now, outcome: 'Error', message: input.measurement.error }
          : input.measurement.value > prometheus.maxValue
            ? { at: now, outcome: 'Failed', value: input.measurement.value, message: `${input.measurement.value} > maxValue ${prometheus.maxValue}` }
            : { at: now, outcome: 'Successful', value: input.measurement.value };
        s = { ...s, measurements: [...s.measurements, m].slice(-MAX_MEASUREMENTS) };
      }
      const failed = s.measurements.filter((m) => m.outcome === 'Failed');
      if (failed.length > settings.failureLimit) {
        const last = failed[failed.length - 1];
        return abort(s, events, `step ${s.stepIndex}: query ${JSON.stringify(prometheus.query)} returned ${last?.value ?? '?'} (maxValue ${prometheus.maxValue}); ${failed.length} failed measurement(s), failureLimit ${settings.failureLimit}`);
      }
      let trailingErrors = 0;
      for (let i = s.measurements.length - 1; i >= 0 && s.measurements[i]?.outcome === 'Error'; i--) trailingErrors++;
      if (trailingErrors > settings.consecutiveErrorLimit) {
        const message = `step ${s.stepIndex}: analysis inconclusive: ${trailingErrors} consecutive error(s) querying ${JSON.stringify(prometheus.query)}: ${s.measurements[s.measurements.length - 1]?.message ?? ''}`;
        events.push({ type: 'Warning', reason: 'AnalysisInconclusive', message: `${message}; resume with manyfold.dev/resume=<new nonce> to retry` });
        return { state: { ...s, phase: 'Paused', pauseReason: 'Inconclusive', reason: 'AnalysisInconclusive', message }, events };
      }
      const decided = s.measurements.filter((m) => m.outcome !== 'Error').length;
      if (decided >= settings.count) {
        events.push({ type: 'Normal', reason: 'AnalysisPassed', message: `step ${s.stepIndex}: ${decided} measurement(s) of ${JSON.stringify(prometheus.query)}, ${failed.length} failed (limit ${settings.failureLimit})` });
        s = next('AnalysisPassed', `analysis of step ${s.stepIndex} passed`);
        continue;
      }
      const lastAt = s.measurements[s.measurements.length - 1]?.at;
      return { state: s, events, requeueAfterMs: lastAt === undefined ? 0 : Math.max(0, lastAt + settings.intervalMs - now) };
    }
    // A step with nothing set cannot pass the schema; skip it rather than loop.
    s = next('Skipped', `step ${s.stepIndex} has no action`);
  }
  return { state: s, events };
}

function abort(s: MachineState, events: MachineEvent[], message: string): Transition {
  events.push({ type: 'Warning', reason: 'AnalysisFailed', message: `${message}; every wave back to the previous variant` });
  return {
    state: { ...s, phase: 'Aborted', weights: s.weights.map(() => 0), pauseReason: undefined, baking: false, reason: 'AnalysisFailed', message },
    events,
  };
}
