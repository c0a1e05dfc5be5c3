/**
 * The Rollout decider, pure: from a Rollout, its FeatureFlag, the other Rollouts of that
 * flag, the Cells and (when one was due) a Prometheus measurement, the status to write
 * and the events to record. The step machine itself is rollout-machine.ts; this file
 * checks meaning, resolves conflicts, applies the kill switch and maps state ↔ status.
 *
 * Order of precedence, first match wins:
 * 1. a spec invalid in shape or meaning (missing variant, the default variant rolled out,
 *    setWeight going down): phase Degraded, Ready=False, reason InvalidSpec, field named;
 * 2. the flag does not exist (or was deleted mid-rollout): phase Degraded, reason
 *    FlagNotFound; the machine state is kept and resumes when the flag is back;
 * 3. an older Rollout of the same flag exists: phase Pending, Ready=False, reason Conflict;
 * 4. a kill switch on the Rollout, its FeatureFlag, the Namespace or globally: phase
 *    Paused, the machine frozen where it is (`heldPhase`), events KillSwitchEngaged /
 *    KillSwitchReleased; release continues from there;
 * 5. the step machine.
 * A new spec (generation) on an Aborted Rollout starts over from step 0.
 *
 * Limitations: conflict order is by creation time then name, so the older Rollout keeps
 * the flag even when it is Completed; delete it to roll out another variant.
 */
import type { FeatureFlagSpec } from '../crds/featureflag.ts';
import { MAX_HISTORY, type RolloutPhase, type RolloutSpec, type RolloutStatus } from '../crds/rollout.ts';
import { rfc3339 } from '../legos/clock.ts';
import { findCondition, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { invalidSpecConditions, invalidSpecEvent, type Decision, type ObjectObservation, type PlannedEvent, type SpecResult } from './decision.ts';
import { durationMs, initialState, measurementDue, step, type MachineInput, type MachinePhase, type MachineState } from './rollout-machine.ts';
import { planWaves, type Wave, type WaveCell } from './rollout-waves.ts';

export const ResumeAnnotation = 'manyfold.dev/resume';

export interface RolloutObservation extends ObjectObservation<RolloutSpec, RolloutStatus> {
  readonly creationTimestamp: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** The FeatureFlag named by spec.flagRef, if it exists. */
  readonly flag: { readonly spec: SpecResult<FeatureFlagSpec>; readonly killSwitch: boolean } | undefined;
  /** Other Rollouts naming the same flag. */
  readonly rivals: readonly { readonly name: string; readonly creationTimestamp: string }[];
  readonly cells: readonly WaveCell[];
  /** A Prometheus measurement the shell took because {@link pendingMeasurement} asked. */
  readonly measurement?: MachineInput['measurement'];
}

export type RolloutDecision = Decision<RolloutStatus>;

const parseTime = (t: string | undefined) => (t === undefined ? undefined : Date.parse(t));

function machineStateOf(status: RolloutStatus | undefined, waveCount: number): MachineState {
  if (status?.phase === undefined) return initialState(waveCount, status?.lastResumeNonce);
  const phase: MachinePhase = status.heldPhase ?? (status.phase === 'Degraded' ? 'Pending' : status.phase);
  return {
    phase,
    stepIndex: status.currentStepIndex ?? 0,
    wave: status.currentWave ?? 0,
    weights: Array.from({ length: Math.max(1, waveCount) }, (_, i) => status.waves?.[i]?.weight ?? 0),
    stepStartedAt: parseTime(status.stepStartTime),
    baking: status.baking ?? false,
    pauseReason: status.pauseReason,
    lastResumeNonce: status.lastResumeNonce,
    measurements: (status.measurements ?? []).map((m) => ({
      at: Date.parse(m.time),
      outcome: m.phase,
      ...(m.value !== undefined ? { value: m.value } : {}),
      ...(m.message !== undefined ? { message: m.message } : {}),
    })),
    reason: status.phase,
    message: status.message ?? '',
  };
}

/** Problems in meaning, with the field named; empty when the spec can be acted on. */
export function meaningProblems(spec: RolloutSpec, flag: FeatureFlagSpec): string[] {
  const problems: string[] = [];
  if (!Object.hasOwn(flag.variants, spec.variant)) {
    problems.push(`spec.variant: ${JSON.stringify(spec.variant)} is not a variant of FeatureFlag ${spec.flagRef.name}; use one of ${Object.keys(flag.variants).sort().join(', ')}`);
  } else if (spec.variant === flag.defaultVariant) {
    problems.push(`spec.variant: ${JSON.stringify(spec.variant)} is the flag's defaultVariant, which the ramp replaces; roll out another variant`);
  }
  let highest = 0;
  spec.steps.forEach((s, i) => {
    if (s.setWeight === undefined) return;
    if (s.setWeight < highest) problems.push(`spec.steps[${i}].setWeight: ${s.setWeight} is below an earlier step's ${highest}; weights never go down (to go back, abort with the kill switch or fail an analysis)`);
    highest = Math.max(highest, s.setWeight);
  });
  return problems;
}

/** The Prometheus query the shell should measure now, if any. */
export function pendingMeasurement(o: RolloutObservation, now: number): { readonly address: string; readonly query: string } | undefined {
  if (!o.spec.ok || o.killSwitch.engaged || o.flag?.killSwitch === true) return undefined;
  const waves = planWaves(o.spec.value, o.cells);
  const state = machineStateOf(o.status, waves.length);
  if (!measurementDue(state, { steps: o.spec.value.steps, killSwitch: false }, now)) return undefined;
  const p = o.spec.value.steps[state.stepIndex]?.analysis?.prometheus;
  return p === undefined ? undefined : { address: p.address, query: p.query };
}

function unhealthyCells(waves: readonly Wave[], upTo: number, cells: readonly WaveCell[]): string[] {
  const ready = new Map(cells.map((c) => [c.name, c.ready]));
  return waves.slice(0, upTo + 1).flatMap((w) => w.cells.filter((c) => ready.get(c) !== true));
}

function base(o: RolloutObservation, now: number, state: MachineState, waves: readonly Wave[]): RolloutStatus {
  return {
    ...(o.status ?? {}),
    observedGeneration: o.generation,
    currentStepIndex: state.stepIndex,
    currentWave: state.wave,
    currentWeight: state.weights[state.wave] ?? 0,
    waves: waves.map((w, i) => ({ name: w.name, cells: w.cells.length, weight: state.weights[i] ?? 0 })),
    baking: state.baking,
    measurements: state.measurements.map((m) => ({
      time: rfc3339(m.at),
      phase: m.outcome,
      ...(m.value !== undefined ? { value: m.value } : {}),
      ...(m.message !== undefined ? { message: m.message.slice(0, 1024) } : {}),
    })),
    ...(state.lastResumeNonce !== undefined ? { lastResumeNonce: state.lastResumeNonce } : {}),
  };
}

function withoutUndefined(status: RolloutStatus & Record<string, unknown>): RolloutStatus {
  return Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined));
}

/** Decides a Rollout's status and events. Pure. */
export function reconcileRollout(o: RolloutObservation, now: number): RolloutDecision {
  const previousConditions = (o.status?.conditions ?? []) as Condition[];
  const events: PlannedEvent[] = [];
  const finish = (status: RolloutStatus, conditions: ConditionInput[], reason: string, requeueAfterMs?: number): RolloutDecision => ({
    apply: [],
    delete: [],
    status: withoutUndefined({ ...status, conditions: setConditions(previousConditions, conditions, { now: rfc3339(now), generation: o.generation }) }),
    events,
    requeueAfterMs,
    reason,
  });
  const changed = (type: string, reason: string, message: string) => {
    const c = findCondition(previousConditions, type);
    return c?.reason !== reason || c.message !== message;
  };

  if (!o.spec.ok) {
    if (changed('Ready', 'InvalidSpec', o.spec.message)) events.push(invalidSpecEvent(o.spec.message));
    return finish({ ...(o.status ?? {}), observedGeneration: o.generation, phase: 'Degraded', message: o.spec.message }, invalidSpecConditions(o.spec.message, 'the rollout does not move until the spec is fixed'), 'invalid spec');
  }
  const spec = o.spec.value;
  const waves = planWaves(spec, o.cells);
  let state = machineStateOf(o.status, waves.length);
  const degraded = (phaseReason: string, message: string): RolloutDecision => {
    if (changed('Ready', phaseReason, message)) events.push({ type: 'Warning', reason: phaseReason, note: message });
    const conditions: ConditionInput[] =
      phaseReason === 'InvalidSpec'
        ? invalidSpecConditions(message, 'the rollout does not move until the spec is fixed')
        : [
            { type: 'Ready', status: 'False', reason: phaseReason, message },
            { type: 'Progressing', status: 'False', reason: phaseReason, message: 'held where it was until this is fixed' },
            { type: 'Degraded', status: 'True', reason: phaseReason, message },
          ];
    return finish({ ...base(o, now, state, waves), phase: 'Degraded', heldPhase: state.phase, message }, conditions, phaseReason);
  };

  if (o.flag === undefined) return degraded('FlagNotFound', `spec.flagRef.name: FeatureFlag ${JSON.stringify(spec.flagRef.name)} not found in namespace ${o.namespace}; create it or name an existing flag`);
  if (!o.flag.spec.ok) return degraded('FlagInvalid', `spec.flagRef.name: FeatureFlag ${spec.flagRef.name} is invalid (${o.flag.spec.message}); fix the flag`);
  const problems = meaningProblems(spec, o.flag.spec.value);
  if (problems.length > 0) return degraded('InvalidSpec', problems.join('; '));

  const mine = { name: o.name, at: Date.parse(o.creationTimestamp) || 0 };
  const older = o.rivals
    .map((r) => ({ name: r.name, at: Date.parse(r.creationTimestamp) || 0 }))
    .filter((r) => r.at < mine.at || (r.at === mine.at && r.name < mine.name))
    .sort((a, b) => a.at - b.at || (a.name < b.name ? -1 : 1));
  if (older.length > 0) {
    const message = `spec.flagRef.name: FeatureFlag ${spec.flagRef.name} is already rolled out by Rollout ${older[0]?.name ?? ''}; one Rollout per flag at a time: delete one of them`;
    if (changed('Ready', 'Conflict', message)) events.push({ type: 'Warning', reason: 'Conflict', note: message });
    return finish(
      { ...base(o, now, initialState(waves.length), waves), phase: 'Pending', heldPhase: undefined, message },
      [
        { type: 'Ready', status: 'False', reason: 'Conflict', message },
        { type: 'Progressing', status: 'False', reason: 'Conflict', message: 'waiting for the other Rollout of this flag to be deleted' },
        { type: 'Degraded', status: 'False', reason: 'Conflict', message },
      ],
      'conflict',
    );
  }

  const killed = o.killSwitch.engaged || o.flag.killSwitch;
  const killScope = o.killSwitch.engaged ? (o.killSwitch.scope ?? 'resource') : 'FeatureFlag';
  const wasKilled = findCondition(previousConditions, 'KillSwitch')?.status === 'True';
  if (killed && !wasKilled) events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: `kill switch engaged (${killScope}): safe variant served everywhere, rollout paused at wave ${state.wave} step ${state.stepIndex}` });
  if (!killed && wasKilled) events.push({ type: 'Normal', reason: 'KillSwitchReleased', note: `kill switch released: continuing from wave ${state.wave} step ${state.stepIndex}` });
  const killCondition: ConditionInput = killed
    ? { type: 'KillSwitch', status: 'True', reason: 'KillSwitchEngaged', message: `engaged (${killScope}); the flag serves its safe variant` }
    : { type: 'KillSwitch', status: 'False', reason: 'KillSwitchReleased', message: 'not engaged' };

  const restart = state.phase === 'Aborted' && o.status?.observedGeneration !== undefined && o.status.observedGeneration !== o.generation;
  const transition = step(
    state,
    {
      steps: spec.steps,
      waveCount: waves.length,
      bakeTimeMs: spec.waves?.bakeTime !== undefined ? durationMs(spec.waves.bakeTime) : 0,
      killSwitch: killed,
      resumeNonce: o.annotations[ResumeAnnotation],
      restart,
      unhealthyCells: unhealthyCells(waves, state.wave, o.cells),
      measurement: o.measurement,
    },
    now,
  );
  state = transition.state;
  for (const e of transition.events) events.push({ type: e.type, reason: e.reason, note: e.message });
  const history = [
    ...(restart ? [] : (o.status?.history ?? [])),
    ...transition.events.map((e) => ({ time: rfc3339(now), wave: state.wave, step: state.stepIndex, weight: state.weights[state.wave] ?? 0, reason: e.reason, message: e.message.slice(0, 1024) })),
  ].slice(-MAX_HISTORY);

  const held = killed && (state.phase === 'Pending' || state.phase === 'Progressing' || state.phase === 'Paused');
  const phase: RolloutPhase = held ? 'Paused' : state.phase;
  const message = held ? `kill switch engaged (${killScope}); holding at wave ${state.wave} step ${state.stepIndex}` : state.message;
  const ready: ConditionInput =
    state.phase === 'Aborted'
      ? { type: 'Ready', status: 'False', reason: 'Aborted', message: state.message }
      : { type: 'Ready', status: 'True', reason: phase, message };
  const conditions: ConditionInput[] = [
    ready,
    { type: 'Progressing', status: phase === 'Progressing' ? 'True' : 'False', reason: held ? 'KillSwitchEngaged' : state.reason || phase, message },
    { type: 'Degraded', status: state.phase === 'Aborted' ? 'True' : 'False', reason: state.phase === 'Aborted' ? 'AnalysisFailed' : 'Healthy', message: state.phase === 'Aborted' ? state.message : 'no failed analysis' },
    killCondition,
  ];
  const status: RolloutStatus = {
    ...base(o, now, state, waves),
    phase,
    message: message.slice(0, 1024),
    heldPhase: held ? (state.phase) : undefined,
    pauseReason: state.pauseReason,
    stepStartTime: state.stepStartedAt !== undefined ? rfc3339(state.stepStartedAt) : undefined,
    history,
  };
  return finish(status, conditions, held ? 'kill switch' : `${state.phase} wave ${state.wave} step ${state.stepIndex}`, held ? undefined : transition.requeueAfterMs);
}
