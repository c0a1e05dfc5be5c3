/**
 * The FeatureFlag decider, pure: the flagd documents of a whole namespace and the
 * status of one flag. Every flag's reconcile decides the same namespace documents from
 * the same observation, so whichever flag reconciles first after a change (a kill
 * switch flip, a Rollout step) publishes everything at once.
 *
 * Published: ConfigMap `manyfold-flags` (labelled `manyfold.dev/flags=true`, owned by
 * every FeatureFlag of the namespace so it goes when the last one does) with
 * - `flags.json`: every flag of the namespace, for workloads outside Cells;
 * - `cell-<cell>.json`: the same flags as served in that Cell (Rollout waves differ);
 * - annotation `manyfold.dev/flags-version`: a version that increases with every change
 *   of content (never reused: one more than the highest of the ConfigMap's and the
 *   flags' `status.version`).
 *
 * Per flag: a kill switch on the flag, its Rollout, the Namespace or globally publishes
 * the safe variant; an active Rollout (phase Progressing, Paused or Completed, the
 * oldest of the flag's Rollouts) publishes its ramp at the weight of each wave; a flag
 * whose targeting flagd would refuse keeps its previously published definition and
 * reports `Ready=False`, reason `InvalidTargeting`, naming the path; an invalid spec
 * keeps the previous definition too (`InvalidSpec`).
 *
 * Limitations: the whole namespace is one ConfigMap, so at most about 1 MiB of flag
 * documents (1 + Cells copies); beyond that the decider refuses to publish
 * (`Ready=False`, reason `TooLarge`) and the previous version stays.
 */
import { API_VERSION } from '../crds/common.ts';
import type { FeatureFlagSpec, FeatureFlagStatus } from '../crds/featureflag.ts';
import type { RolloutSpec, RolloutStatus } from '../crds/rollout.ts';
import { rfc3339 } from '../legos/clock.ts';
import { findCondition, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { buildDocument, defineFlag, distributionOf, serializeDocument, type FlagdDocument, type FlagdFlag, type Ramp } from '../legos/flagd/document.ts';
import { FLAGS_CONFIGMAP, FLAGS_VERSION_ANNOTATION, NAMESPACE_DOCUMENT_KEY, cellDocumentKey } from '../legos/flagd/sources.ts';
import type { TargetingProblem } from '../legos/flagd/targeting.ts';
import { childKey, invalidSpecConditions, type Decision, type DesiredChild, type PlannedEvent, type SpecResult } from './decision.ts';
import { killSwitchState, type KillSwitchState } from './kill-switch.ts';
import { planWaves, servedWeights, waveWeights, type WaveCell } from './rollout-waves.ts';

/** Label on the published ConfigMap. */
export const FlagsLabel = 'manyfold.dev/flags';
/** Largest total size of published documents, bytes (ConfigMaps hold at most 1 MiB). */
export const MAX_PUBLISHED_BYTES = 1_000_000;

export interface FlagEntry {
  readonly name: string;
  readonly uid: string;
  readonly spec: SpecResult<FeatureFlagSpec>;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly status: FeatureFlagStatus | undefined;
}

export interface RolloutEntry {
  readonly name: string;
  readonly creationTimestamp: string;
  readonly spec: SpecResult<RolloutSpec>;
  readonly status: RolloutStatus | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}

export interface FeatureFlagObservation {
  readonly namespace: string;
  /** The flag being reconciled (undefined when it was deleted: only the documents are decided). */
  readonly flag: { readonly name: string; readonly generation: number } | undefined;
  /** Every FeatureFlag of the namespace (the reconciled one included). */
  readonly flags: readonly FlagEntry[];
  /** Annotations of the Namespace and of the operator config (the wider kill-switch scopes). */
  readonly namespaceAnnotations: Readonly<Record<string, string>> | undefined;
  readonly globalAnnotations: Readonly<Record<string, string>> | undefined;
  readonly rollouts: readonly RolloutEntry[];
  readonly cells: readonly WaveCell[];
  /** The ConfigMap as published (undefined: none yet). */
  readonly published: { readonly data: Readonly<Record<string, string>>; readonly version: number; readonly resourceVersion: string | undefined } | undefined;
}

export interface FeatureFlagDecision extends Decision<FeatureFlagStatus> {
  /** Kill switch per flag of the namespace (for the `kill_switch_engaged` metric). */
  readonly killSwitches: ReadonlyMap<string, KillSwitchState>;
  /** Version the namespace documents will be at once applied. */
  readonly version: number;
}

const ACTIVE = new Set(['Progressing', 'Paused', 'Completed']);

function parseDocument(json: string | undefined): FlagdDocument | undefined {
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json) as FlagdDocument;
  } catch {
    return undefined;
  }
}

/** The Rollout that ramps `flag` now, if any (the oldest naming it, when active). */
export function activeRollout(flag: string, rollouts: readonly RolloutEntry[]): (RolloutEntry & { readonly spec: { ok: true; value: RolloutSpec } }) | undefined {
  const naming = rollouts
    .filter((r): r is RolloutEntry & { spec: { ok: true; value: RolloutSpec } } => r.spec.ok && r.spec.value.flagRef.name === flag)
    .sort((a, b) => (Date.parse(a.creationTimestamp) || 0) - (Date.parse(b.creationTimestamp) || 0) || (a.name < b.name ? -1 : 1));
  const first = naming[0];
  if (first === undefined) return undefined;
  const phase = first.status?.phase === 'Degraded' ? undefined : first.status?.heldPhase ?? first.status?.phase;
  return phase !== undefined && ACTIVE.has(phase) ? first : undefined;
}

interface Built {
  readonly data: Record<string, string>;
  readonly problems: ReadonlyMap<string, readonly TargetingProblem[]>;
  readonly killSwitches: ReadonlyMap<string, KillSwitchState>;
  readonly namespaceDefinitions: ReadonlyMap<string, FlagdFlag>;
}

/** Every document of the namespace (pure). */
export function buildNamespaceDocuments(o: FeatureFlagObservation): Built {
  const previous = new Map<string, FlagdDocument | undefined>();
  const previousDoc = (key: string) => {
    if (!previous.has(key)) previous.set(key, parseDocument(o.published?.data[key]));
    return previous.get(key);
  };
  const scopes: { key: string; cell: string | undefined }[] = [
    { key: NAMESPACE_DOCUMENT_KEY, cell: undefined },
    ...[...o.cells].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => ({ key: cellDocumentKey(c.name), cell: c.name })),
  ];
  const problems = new Map<string, readonly TargetingProblem[]>();
  const killSwitches = new Map<string, KillSwitchState>();
  const perScope = new Map<string, Record<string, FlagdFlag>>(scopes.map((s) => [s.key, {}]));
  const namespaceDefinitions = new Map<string, FlagdFlag>();
  for (const flag of [...o.flags].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rollout = activeRollout(flag.name, o.rollouts);
    let kill = killSwitchState({ object: flag.annotations, namespace: { name: o.namespace, annotations: o.namespaceAnnotations }, global: o.globalAnnotations });
    if (!kill.engaged && rollout !== undefined && killSwitchState({ object: rollout.annotations, namespace: undefined, global: undefined }).engaged) {
      kill = { engaged: true, scope: `Rollout ${rollout.name}` };
    }
    killSwitches.set(flag.name, kill);
    const served = rollout === undefined ? undefined : (() => {
      const waves = planWaves(rollout.spec.value, o.cells);
      return servedWeights(waves, waveWeights(rollout.status, waves.length));
    })();
    for (const scope of scopes) {
      const kept = previousDoc(scope.key)?.flags[flag.name];
      const target = perScope.get(scope.key) ?? {};
      if (!flag.spec.ok) {
        if (kept !== undefined) target[flag.name] = kept;
        continue;
      }
      const weight = served === undefined ? undefined : scope.cell === undefined ? served.namespace : (served.cells.get(scope.cell) ?? 0);
      const ramp: Ramp | undefined = rollout !== undefined && weight !== undefined ? { variant: rollout.spec.value.variant, weight, rollout: rollout.name } : undefined;
      const result = defineFlag({ key: flag.name, spec: flag.spec.value, killSwitch: kill.engaged, ramp, previous: kept });
      if (result.ok) target[flag.name] = result.flag;
      else {
        if (result.kept !== undefined) target[flag.name] = result.kept;
        if (scope.cell === undefined) problems.set(flag.name, result.problems);
      }
    }
    const nsDef = perScope.get(NAMESPACE_DOCUMENT_KEY)?.[flag.name];
    if (nsDef !== undefined) namespaceDefinitions.set(flag.name, nsDef);
  }
  const data: Record<string, string> = {};
  for (const scope of scopes) data[scope.key] = serializeDocument(buildDocument(perScope.get(scope.key) ?? {}, { flagSetId: o.namespace }));
  return { data, problems, killSwitches, namespaceDefinitions };
}

const sameData = (a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>) =>
  a !== undefined && Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** Decides the namespace documents and the reconciled flag's status. Pure. */
export function reconcileFeatureFlag(o: FeatureFlagObservation, now: number): FeatureFlagDecision {
  const built = buildNamespaceDocuments(o);
  const size = Object.values(built.data).reduce((n, v) => n + v.length, 0);
  const tooLarge = size > MAX_PUBLISHED_BYTES;
  const unchanged = sameData(o.published?.data, built.data);
  const highestStatus = Math.max(0, ...o.flags.map((f) => f.status?.version ?? 0));
  const currentVersion = Math.max(o.published?.version ?? 0, o.published === undefined ? highestStatus : 0);
  const version = unchanged || tooLarge || o.flags.length === 0 ? currentVersion : Math.max(currentVersion, highestStatus) + 1;
  const apply: DesiredChild[] = [];
  if (!unchanged && !tooLarge && o.flags.length > 0) {
    apply.push({
      key: childKey('ConfigMap', FLAGS_CONFIGMAP),
      kind: 'ConfigMap',
      name: FLAGS_CONFIGMAP,
      object: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: FLAGS_CONFIGMAP,
          namespace: o.namespace,
          labels: { [FlagsLabel]: 'true' },
          annotations: { [FLAGS_VERSION_ANNOTATION]: String(version) },
          ...(o.published?.resourceVersion !== undefined ? { resourceVersion: o.published.resourceVersion } : {}),
          ownerReferences: [...o.flags]
            .sort((a, b) => (a.name < b.name ? -1 : 1))
            .map((f) => ({ apiVersion: API_VERSION, kind: 'FeatureFlag', name: f.name, uid: f.uid, blockOwnerDeletion: false })),
        },
        data: built.data,
      },
    });
  }
  const killSwitches = built.killSwitches;
  const me = o.flag === undefined ? undefined : o.flags.find((f) => f.name === o.flag?.name);
  if (o.flag === undefined || me === undefined) {
    return { apply, delete: [], status: undefined, events: [], requeueAfterMs: undefined, reason: `flag gone; namespace documents at version ${version}`, killSwitches, version };
  }
  const events: PlannedEvent[] = [];
  const previous = (me.status?.conditions ?? []) as Condition[];
  const kill = killSwitches.get(me.name) ?? { engaged: false };
  const wasKilled = findCondition(previous, 'KillSwitch')?.status === 'True';
  if (kill.engaged && !wasKilled) events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: `kill switch engaged (${kill.scope ?? 'resource'}): safe variant published at version ${version}` });
  if (!kill.engaged && wasKilled) events.push({ type: 'Normal', reason: 'KillSwitchReleased', note: `kill switch released: flag published as declared at version ${version}` });
  const conditions: ConditionInput[] = [];
  const problems = built.problems.get(me.name);
  if (!me.spec.ok) {
    conditions.push(...invalidSpecConditions(me.spec.message, 'the previously published definition keeps serving'));
  } else if (problems !== undefined && problems.length > 0) {
    const message = problems.map((p) => `${p.path}: ${p.message}`).join('; ').slice(0, 2000);
    if (findCondition(previous, 'Ready')?.message !== message) events.push({ type: 'Warning', reason: 'InvalidTargeting', note: message.slice(0, 1000) });
    conditions.push(
      { type: 'Ready', status: 'False', reason: 'InvalidTargeting', message: `${message}; the previous good definition stays published` },
      { type: 'Progressing', status: 'False', reason: 'InvalidTargeting', message: 'fix the targeting to publish' },
      { type: 'Degraded', status: 'True', reason: 'InvalidTargeting', message },
    );
  } else if (tooLarge) {
    const message = `published documents would be ${size} bytes, above ${MAX_PUBLISHED_BYTES}: split flags over namespaces or use fewer Cells; the previous version stays`;
    conditions.push({ type: 'Ready', status: 'False', reason: 'TooLarge', message }, { type: 'Progressing', status: 'False', reason: 'TooLarge', message }, { type: 'Degraded', status: 'True', reason: 'TooLarge', message });
  } else {
    const message = `published in ConfigMap ${FLAGS_CONFIGMAP} at version ${version}${kill.engaged ? ' (kill switch: safe variant)' : ''}`;
    conditions.push(
      { type: 'Ready', status: 'True', reason: 'Published', message },
      { type: 'Progressing', status: 'False', reason: kill.engaged ? 'KillSwitchEngaged' : 'Published', message },
      { type: 'Degraded', status: 'False', reason: 'Published', message },
    );
    if (!unchanged) events.push({ type: 'Normal', reason: 'Published', note: message });
  }
  conditions.push(
    kill.engaged
      ? { type: 'KillSwitch', status: 'True', reason: 'KillSwitchEngaged', message: `engaged (${kill.scope ?? 'resource'}): serving the safe variant` }
      : { type: 'KillSwitch', status: 'False', reason: 'KillSwitchReleased', message: 'not engaged' },
  );
  const definition = built.namespaceDefinitions.get(me.name);
  // {} when the shares depend on the evaluation context (targeting) or nothing is served (DISABLED):
  // the field is never removed once set, since a status patch cannot null a map the schema types.
  const distribution = definition === undefined ? undefined : (distributionOf(definition) ?? {});
  const status: FeatureFlagStatus = {
    ...(me.status ?? {}),
    observedGeneration: o.flag.generation,
    conditions: setConditions(previous, conditions, { now: rfc3339(now), generation: o.flag.generation }),
    configMap: FLAGS_CONFIGMAP,
    version,
    ...(distribution !== undefined ? { distribution } : {}),
  };
  return { apply, delete: [], status, events, requeueAfterMs: undefined, reason: unchanged ? `unchanged at version ${version}` : `publish version ${version}`, killSwitches, version };
}
