/**
 * The Cell decider, pure: from a Cell and what is observed of its children, the
 * children to apply, the children to prune, and the status to report, with reasons.
 *
 * Contract of cordon and drain, for ShardMap to rely on:
 * - `Active`: takes new placements (condition `AcceptingPlacements=True`);
 * - `Cordoned`: keeps what is placed, takes nothing new (`AcceptingPlacements=False`,
 *   reason `Cordoned`); its resources keep running and are still reconciled;
 * - `Draining`: every placement must move off (`AcceptingPlacements=False`, reason
 *   `Draining`); phase `Draining` while `status.placements > 0`, `Drained` at 0.
 * `status.placements` comes from {@link CellObservation.placements}, which the shell
 * sums from the declared placement providers (controllers/placements.ts, ShardMap's
 * once it exists); without one it is 0 and a drain completes at once.
 *
 * Children are named `<cell>-<name>`, labelled `manyfold.dev/cell=<cell>`, owned by the
 * Cell (controller reference, so they are garbage-collected with it), and annotated
 * with the Cell generation whose template they were applied from. Their selectors are
 * scoped to the cell (see `isolate`), so cells sharing a namespace never share pods.
 */
import type { CellSpec, CellStatus, CellTemplateResource } from '../crds/cell.ts';
import { API_VERSION } from '../crds/common.ts';
import { rfc3339 } from '../legos/clock.ts';
import { setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { childKey, invalidSpecConditions, invalidSpecEvent, type ApplyOutcome, type Decision, type DesiredChild, type ObjectObservation, type PlannedEvent } from './decision.ts';

export { childKey, type ApplyOutcome, type DesiredChild } from './decision.ts';

export const CellLabel = 'manyfold.dev/cell';
export const TemplateGenerationAnnotation = 'manyfold.dev/template-generation';

/** A child as the decider needs it: identity, template generation, readiness facts. */
export interface ObservedChild {
  readonly apiVersion: string;
  readonly kind: string;
  /** Full object name (`<cell>-<name>`). */
  readonly name: string;
  readonly templateGeneration?: number | undefined;
  /** Readiness as judged from the object's status (see {@link childReadiness}). */
  readonly ready: boolean;
  /** Why it is not ready, or a failure it reports. */
  readonly message?: string | undefined;
  /** True when the child reports a failure (e.g. ProgressDeadlineExceeded). */
  readonly failed?: boolean | undefined;
  /** True while the child rolls out a change (its own controller is working on it). */
  readonly progressing?: boolean | undefined;
}

export interface CellObservation extends ObjectObservation<CellSpec, CellStatus> {
  readonly children: readonly ObservedChild[];
  /** Placements assigned to this Cell by placement providers (0 without any). */
  readonly placements: number;
  /**
   * How applying the decided children went, by child key (absent before the applies:
   * every decided child is then taken as applied). Children not applied this round
   * (under the kill switch) are absent.
   */
  readonly outcomes?: ReadonlyMap<string, ApplyOutcome> | undefined;
}

/** What to apply and what to delete (the first half of a {@link CellDecision}). */
export interface CellPlan {
  /** Children to server-side apply (empty while the kill switch is engaged). */
  readonly apply: readonly DesiredChild[];
  /** Observed children no longer in the template, to delete. */
  readonly delete: readonly ObservedChild[];
  /** Why (one line, for logs). */
  readonly reason: string;
}

/** The Cell decision: children to apply, children to delete (pruned), status and events. */
export interface CellDecision extends Decision<CellStatus, ObservedChild> {
  readonly status: CellStatus;
  readonly phase: NonNullable<CellStatus['phase']>;
}

/** The Cell's own apiVersion and kind, for the children's owner reference. */
const CellOwner = { apiVersion: API_VERSION, kind: 'Cell' } as const;

/** `<cell>-<name>`, the name a template resource gets in the cluster. */
export function childName(cell: string, resource: string): string {
  return `${cell}-${resource}`;
}

/** The object to apply for one template resource. */
export function desiredChild(cell: CellObservation, resource: CellTemplateResource, owner: { apiVersion: string; kind: string }): DesiredChild {
  const name = childName(cell.name, resource.metadata.name);
  const metadata = {
    ...resource.metadata,
    name,
    namespace: cell.namespace,
    labels: { ...(resource.metadata.labels ?? {}), [CellLabel]: cell.name },
    annotations: { ...(resource.metadata.annotations ?? {}), [TemplateGenerationAnnotation]: String(cell.generation) },
    ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: cell.name, uid: cell.uid, controller: true, blockOwnerDeletion: true }],
  };
  const object = { ...resource, metadata } as DesiredChild['object'];
  isolate(object, resource.kind, cell.name);
  return { key: childKey(resource.kind, name), kind: resource.kind, name, object };
}

/**
 * Scopes selectors to the cell, so cells sharing a namespace never share pods: the cell
 * label joins the pod template labels and the selectors of Deployments, StatefulSets,
 * PodDisruptionBudgets and Services. (Selectors are immutable, so this holds from the
 * first apply.)
 */
function isolate(object: DesiredChild['object'], kind: string, cell: string): void {
  const spec = object['spec'] as Record<string, unknown> | undefined;
  if (!spec) return;
  const withCell = (labels: unknown) => ({ ...((labels as Record<string, string> | undefined) ?? {}), [CellLabel]: cell });
  if (kind === 'Deployment' || kind === 'StatefulSet') {
    const template = (spec['template'] ?? {}) as Record<string, unknown>;
    const templateMeta = (template['metadata'] ?? {}) as Record<string, unknown>;
    const selector = (spec['selector'] ?? {}) as Record<string, unknown>;
    object['spec'] = {
      ...spec,
      selector: { ...selector, matchLabels: withCell(selector['matchLabels']) },
      template: { ...template, metadata: { ...templateMeta, labels: withCell(templateMeta['labels']) } },
    };
  } else if (kind === 'PodDisruptionBudget') {
    const selector = (spec['selector'] ?? {}) as Record<string, unknown>;
    object['spec'] = { ...spec, selector: { ...selector, matchLabels: withCell(selector['matchLabels']) } };
  } else if (kind === 'Service' && spec['selector'] !== undefined) {
    object['spec'] = { ...spec, selector: withCell(spec['selector']) };
  }
}

/** What to apply and prune. */
export function planCell(cell: CellObservation, owner: { apiVersion: string; kind: string }): CellPlan {
  if (!cell.spec.ok) return { apply: [], delete: [], reason: `invalid spec: ${cell.spec.message}` };
  if (cell.killSwitch.engaged) return { apply: [], delete: [], reason: `kill switch engaged (${cell.killSwitch.scope ?? 'cell'}): template frozen` };
  const apply = cell.spec.value.template.resources.map((r) => desiredChild(cell, r, owner));
  const wanted = new Set(apply.map((d) => d.key));
  const prune = cell.children.filter((c) => !wanted.has(childKey(c.kind, c.name)));
  return { apply, delete: prune, reason: `${apply.length} to apply, ${prune.length} to prune` };
}

/**
 * Decides everything for one Cell at wall time `now` (ms): {@link planCell}, then
 * {@link cellStatus} with the apply outcomes the observation carries.
 */
export function reconcileCell(cell: CellObservation, now: number): CellDecision {
  const plan = planCell(cell, CellOwner);
  const outcomes = cell.outcomes ?? new Map<string, ApplyOutcome>(plan.apply.map((d) => [d.key, { ok: true }]));
  const { status, phase, events } = cellStatus(cell, plan, outcomes, rfc3339(now));
  return { apply: plan.apply, delete: plan.delete, status, phase, events, requeueAfterMs: undefined, reason: plan.reason };
}

type Phase = NonNullable<CellStatus['phase']>;

/**
 * The status after applying the plan: `outcomes` holds the apply result per desired
 * child key (children not applied this round, e.g. under the kill switch, are absent).
 */
export function cellStatus(
  cell: CellObservation,
  plan: CellPlan,
  outcomes: ReadonlyMap<string, ApplyOutcome>,
  now: string,
): { status: CellStatus; phase: Phase; events: PlannedEvent[] } {
  const at = { now, generation: cell.generation };
  const previous = cell.status;
  if (!cell.spec.ok) {
    const conditions = setConditions(previous?.conditions as Condition[] | undefined, invalidSpecConditions(cell.spec.message, 'the spec must be fixed first'), at);
    return {
      phase: 'Degraded',
      status: { ...(previous ?? {}), observedGeneration: cell.generation, phase: 'Degraded', conditions },
      events: [invalidSpecEvent(cell.spec.message)],
    };
  }
  const spec = cell.spec.value;
  const byKey = new Map(cell.children.map((c) => [childKey(c.kind, c.name), c]));
  const resources: NonNullable<CellStatus['resources']> = [];
  const invalid: string[] = [];
  const failed: string[] = [];
  const notReady: string[] = [];
  let stale = false;
  let rolling = false;
  for (const r of spec.template.resources) {
    const name = childName(cell.name, r.metadata.name);
    const key = childKey(r.kind, name);
    const outcome = outcomes.get(key);
    const observed = byKey.get(key);
    const applyError = outcome && !outcome.ok ? outcome.message : undefined;
    if (applyError) (outcome && !outcome.ok && outcome.invalid ? invalid : failed).push(`${key}: ${applyError}`);
    // Under the kill switch the template is frozen, so a child from an older generation is current.
    const current = cell.killSwitch.engaged || observed?.templateGeneration === cell.generation;
    const ready = !applyError && observed !== undefined && observed.ready && current;
    if (observed?.failed) failed.push(`${key}: ${observed.message ?? 'failed'}`);
    if (!ready && !applyError) notReady.push(`${key}${observed?.message ? ` (${observed.message})` : observed ? '' : ' (not created yet)'}`);
    if (!current) stale = true;
    if (observed?.progressing) rolling = true;
    resources.push({
      apiVersion: r.apiVersion,
      kind: r.kind,
      name,
      ready,
      ...(observed?.templateGeneration === undefined ? {} : { templateGeneration: observed.templateGeneration }),
      ...(applyError ? { message: applyError.slice(0, 1024) } : observed?.message && !ready ? { message: observed.message.slice(0, 1024) } : {}),
    });
  }
  const allReady = resources.every((r) => r.ready);
  const frozen = cell.killSwitch.engaged;
  const placements = cell.placements;
  const accepting: ConditionInput =
    spec.state === 'Active'
      ? { type: 'AcceptingPlacements', status: 'True', reason: 'Active', message: 'the Cell takes new placements' }
      : spec.state === 'Cordoned'
        ? { type: 'AcceptingPlacements', status: 'False', reason: 'Cordoned', message: 'cordoned: keeps its placements, takes no new ones' }
        : { type: 'AcceptingPlacements', status: 'False', reason: 'Draining', message: `draining: ${placements} placement(s) still to move off` };
  const ready: ConditionInput = invalid.length
    ? { type: 'Ready', status: 'False', reason: 'InvalidTemplate', message: invalid.join('; ').slice(0, 4096) }
    : failed.length
      ? { type: 'Ready', status: 'False', reason: 'ResourceFailed', message: failed.join('; ').slice(0, 4096) }
      : allReady
        ? { type: 'Ready', status: 'True', reason: 'AllResourcesReady', message: `${resources.length} resource(s) ready` }
        : { type: 'Ready', status: 'False', reason: 'ResourcesNotReady', message: `waiting for ${notReady.join(', ')}`.slice(0, 4096) };
  const progressing: ConditionInput = frozen
    ? { type: 'Progressing', status: 'False', reason: 'KillSwitchEngaged', message: `kill switch engaged (${cell.killSwitch.scope ?? 'cell'}): template changes are not applied` }
    : !allReady && !invalid.length && !failed.length
      ? { type: 'Progressing', status: 'True', reason: stale || rolling ? 'RollingOut' : 'WaitingForReadiness', message: `rolling out generation ${cell.generation}` }
      : { type: 'Progressing', status: 'False', reason: allReady ? 'Converged' : 'Blocked', message: allReady ? `generation ${cell.generation} rolled out` : 'blocked by errors; see Ready' };
  const degraded: ConditionInput =
    invalid.length || failed.length
      ? { type: 'Degraded', status: 'True', reason: invalid.length ? 'InvalidTemplate' : 'ResourceFailed', message: [...invalid, ...failed].join('; ').slice(0, 4096) }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no failures' };
  const phase: Phase =
    spec.state === 'Draining'
      ? placements > 0
        ? 'Draining'
        : 'Drained'
      : invalid.length || failed.length
        ? 'Degraded'
        : allReady
          ? 'Ready'
          : previous?.phase === 'Ready' || previous?.phase === 'Degraded'
            ? stale || rolling
              ? previous.phase // a rollout in progress keeps the phase; Progressing says so
              : 'Degraded'
            : 'Pending';
  const conditions = setConditions(previous?.conditions as Condition[] | undefined, [ready, progressing, degraded, accepting], at);
  const allApplied = !frozen && spec.template.resources.every((r) => outcomes.get(childKey(r.kind, childName(cell.name, r.metadata.name)))?.ok === true);
  const status: CellStatus = {
    observedGeneration: cell.generation,
    phase,
    resources,
    placements,
    utilization: spec.capacity > 0 ? Math.round((placements / spec.capacity) * 1000) / 1000 : 0,
    ...(allApplied ? { observedTemplateGeneration: cell.generation } : previous?.observedTemplateGeneration === undefined ? {} : { observedTemplateGeneration: previous.observedTemplateGeneration }),
    conditions,
  };
  const events: PlannedEvent[] = [];
  // Phase events mark outcomes, not the Pending start every Cell goes through.
  if (previous?.phase !== phase && phase !== 'Pending') events.push({ type: phase === 'Degraded' ? 'Warning' : 'Normal', reason: `Phase${phase}`, note: `phase ${previous?.phase ?? 'none'} -> ${phase}` });
  for (const message of invalid) events.push({ type: 'Warning', reason: 'InvalidTemplate', note: message });
  for (const child of plan.delete) events.push({ type: 'Normal', reason: 'Pruned', note: `deleted ${child.kind} ${child.name}: no longer in the template` });
  return { status, phase, events };
}

/** Readiness facts of a child from its observed object. */
export function childReadiness(object: {
  kind: string;
  metadata: { generation?: number | undefined };
  spec?: unknown;
  status?: unknown;
}, extra: { readyEndpoints?: number | undefined } = {}): { ready: boolean; message?: string; failed?: boolean; progressing?: boolean } {
  const status = (object.status ?? {}) as Record<string, unknown>;
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  switch (object.kind) {
    case 'Deployment':
    case 'StatefulSet': {
      const want = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
      const observedGeneration = num(status['observedGeneration']);
      const updated = num(status['updatedReplicas']);
      const ready = num(status['readyReplicas']);
      const available = object.kind === 'Deployment' ? num(status['availableReplicas']) : ready;
      const conditions = (Array.isArray(status['conditions']) ? status['conditions'] : []) as { type?: string; status?: string; reason?: string; message?: string }[];
      const stuck = conditions.find((c) => (c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded') || (c.type === 'ReplicaFailure' && c.status === 'True'));
      if (stuck) return { ready: false, failed: true, message: stuck.message ?? stuck.reason ?? 'failed' };
      if (observedGeneration < (object.metadata.generation ?? 0)) return { ready: false, progressing: true, message: 'rollout not observed yet' };
      const ok = updated >= want && ready >= want && available >= want && num(status['replicas']) <= want;
      return ok ? { ready: true } : { ready: false, progressing: updated < want || num(status['replicas']) > want, message: `${ready}/${want} ready, ${updated}/${want} updated` };
    }
    case 'Service': {
      if (spec['type'] === 'ExternalName' || spec['selector'] === undefined) return { ready: true };
      const endpoints = extra.readyEndpoints ?? 0;
      return endpoints > 0 ? { ready: true } : { ready: false, message: 'no ready endpoints' };
    }
    default:
      return { ready: true };
  }
}
