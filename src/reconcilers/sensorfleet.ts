/**
 * The SensorFleet decider, pure: from a fleet, its observed children, the nodes and
 * the agents' heartbeat Leases, and the time, it returns the children to apply, the
 * heartbeat Leases to delete, the status with its conditions, the events to record
 * and when to look again, each with a reason.
 *
 * - Children (reconcilers/sensorfleet-children.ts) are applied only when the observed
 *   object lacks a field the operator sets, so the heartbeats that wake this
 *   controller every few seconds do not turn into writes.
 * - Status (reconcilers/sensorfleet-health.ts for the rules): `desiredNodes` and
 *   `readyNodes` from the DaemonSet's status, `reportingNodes`, `staleNodes` (sorted,
 *   at most {@link MAX_STALE_NODES}) and the exact `staleNodeCount`, the backlog of
 *   reporting nodes, the newest sample (never moves back).
 * - Conditions: `Ready` (every desired node's agent ready and reporting), `Degraded`
 *   (more than `degradedStaleFraction` of the nodes stale, or agents reporting
 *   `error`), `Progressing` (the DaemonSet rolling out); `InvalidSpec` on Ready for
 *   specs valid in shape but not in meaning, naming the field.
 * - Write budget: backlog and last sample change with every heartbeat; when nothing
 *   else changed they are written at most once per heartbeat interval (at least 2 s).
 * - Requeue: at the next moment a Lease turns stale or may be removed (heartbeats that
 *   stop produce no events), at most `staleAfterSeconds` later.
 * - Kill switch: nothing is applied or deleted; status is still reported.
 *
 * Limitations: `desiredNodes`/`readyNodes` are the DaemonSet controller's numbers, so
 * they lag it; a node that matches the selector but whose taints are not tolerated is
 * neither desired nor reporting, and shows up only in the `NoNodesSelected` message
 * when no node can run an agent; the config reaches agents as fast as the kubelet
 * refreshes ConfigMap volumes (up to about a minute), which status does not show.
 */
import { MAX_STALE_NODES, type SensorFleetSpec, type SensorFleetStatus } from '../crds/sensorfleet.ts';
import { rfc3339 } from '../legos/clock.ts';
import { jsonEqual, setConditions, type Condition, type ConditionInput } from '../legos/conditions.ts';
import { invalidSpecConditions, invalidSpecEvent, type ApplyOutcome, type Decision, type ObjectObservation, type PlannedEvent } from './decision.ts';
import { agentConfig, agentName, checkFleetMeaning, configHash, heartbeatIntervalSeconds, renderAgentConfig } from './sensorfleet-agent.ts';
import { desiredChildren, isApplied, type DesiredChild, type FleetChildKind } from './sensorfleet-children.ts';
import { fleetHealth, type FleetHealth, type HeartbeatLease, type ObservedNode } from './sensorfleet-health.ts';

export type { HeartbeatLease, ObservedNode } from './sensorfleet-health.ts';

/** Everything the decider looks at. */
export interface FleetObservation extends ObjectObservation<SensorFleetSpec, SensorFleetStatus> {
  /** Image when `spec.image` is omitted. */
  readonly defaultImage: string;
  /** Observed children by kind (as cached; status included), absent when not created. */
  readonly children: Partial<Readonly<Record<FleetChildKind, unknown>>>;
  readonly nodes: readonly ObservedNode[];
  readonly heartbeats: readonly HeartbeatLease[];
  /** When this controller last wrote the fleet's status (wall ms), if it knows. */
  readonly lastStatusWriteMs?: number | undefined;
  /** How applying the decided children went, by child key (absent before the applies). */
  readonly outcomes?: ReadonlyMap<string, ApplyOutcome> | undefined;
}

/** A heartbeat Lease to delete, with the node and why. */
export type HeartbeatRemoval = FleetHealth['remove'][number];

/** The SensorFleet decision; `delete` holds the heartbeat Leases of departed nodes. */
export interface FleetPlan extends Decision<SensorFleetStatus, HeartbeatRemoval> {
  /** Children to server-side apply, in order (only those that differ from what is observed). */
  readonly apply: readonly DesiredChild[];
  readonly status: SensorFleetStatus;
  /** Hash of the config document (undefined for an invalid spec). */
  readonly configHash: string | undefined;
  /** Node classification (undefined for an invalid spec), for logs and tests. */
  readonly health: FleetHealth | undefined;
}

/** Facts read from the DaemonSet's status. */
interface DaemonSetFacts {
  readonly generation: number;
  readonly observedGeneration: number;
  readonly desired: number;
  readonly ready: number;
  readonly updated: number;
  readonly available: number;
}

function daemonSetFacts(object: unknown): DaemonSetFacts | undefined {
  if (object === null || typeof object !== 'object') return undefined;
  const o = object as { metadata?: { generation?: number }; status?: Record<string, unknown> };
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const s = o.status ?? {};
  return {
    generation: n(o.metadata?.generation),
    observedGeneration: n(s['observedGeneration']),
    desired: n(s['desiredNumberScheduled']),
    ready: n(s['numberReady']),
    updated: n(s['updatedNumberScheduled']),
    available: n(s['numberAvailable']),
  };
}

/** Names joined for a message: the first `max`, then how many more. */
export function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

const percent = (fraction: number) => `${Math.round(fraction * 1000) / 10}%`;
const MIN_REFRESH_MS = 2000;
const MIN_REQUEUE_MS = 250;

function invalidPlan(fleet: FleetObservation, message: string, at: { now: string; generation: number }): FleetPlan {
  const previous = fleet.status;
  const conditions = setConditions(
    previous?.conditions as Condition[] | undefined,
    invalidSpecConditions(message, 'nothing is applied until the spec is fixed; running agents keep their last config'),
    at,
  );
  const wasInvalid = previous?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'InvalidSpec' && c.message === message) ?? false;
  return {
    apply: [],
    delete: [],
    status: { ...(previous ?? {}), observedGeneration: fleet.generation, conditions },
    events: wasInvalid ? [] : [invalidSpecEvent(message)],
    requeueAfterMs: undefined,
    configHash: undefined,
    health: undefined,
    reason: `invalid spec: ${message}`,
  };
}

function conditionsFor(fleet: FleetObservation, spec: SensorFleetSpec, health: FleetHealth, ds: DaemonSetFacts | undefined, applyingDaemonSet: boolean): ConditionInput[] {
  const dsName = agentName(fleet.name);
  const desired = ds?.desired ?? 0;
  const ready = ds?.ready ?? 0;
  const reporting = health.reporting.length;
  const selector = JSON.stringify(spec.nodeSelector ?? {});
  const pending = !ds || ds.observedGeneration < ds.generation;
  const readyCondition: ConditionInput = pending
    ? { type: 'Ready', status: 'False', reason: 'DaemonSetPending', message: `waiting for DaemonSet ${dsName} to be ${ds ? 'observed by the DaemonSet controller' : 'created'}` }
    : desired === 0
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'NoNodesSelected',
          message:
            health.selected.length === 0
              ? `no node matches spec.nodeSelector ${selector}; label the nodes that should run agents`
              : `${health.selected.length} node(s) match spec.nodeSelector but none can run an agent; check their taints against spec.tolerations`,
        }
      : ready < desired
        ? { type: 'Ready', status: 'False', reason: 'AgentsNotReady', message: `${ready} of ${desired} agent pods ready; see kubectl get pods -l manyfold.dev/sensorfleet=${fleet.name}` }
        : reporting < desired
          ? {
              type: 'Ready',
              status: 'False',
              reason: 'NodesNotReporting',
              message: [
                `${reporting} of ${desired} nodes reporting`,
                health.stale.length ? `stale: ${listNames(health.stale)}` : '',
                health.erroring.length ? `errors: ${listNames(health.erroring.map((e) => e.node))}` : '',
                health.silent.length ? `no heartbeat yet: ${listNames(health.silent)}` : '',
              ].filter(Boolean).join('; '),
            }
          : { type: 'Ready', status: 'True', reason: 'AllNodesReporting', message: `${desired} of ${desired} nodes ready and reporting` };
  const counted = Math.max(desired, reporting + health.stale.length + health.erroring.length);
  const staleFraction = counted === 0 ? 0 : health.stale.length / counted;
  const tooStale = staleFraction > spec.degradedStaleFraction;
  const errors = health.erroring.length ? `${health.erroring.length} agent(s) report errors: ${health.erroring.slice(0, 5).map((e) => `${e.node}: ${e.message}`).join('; ')}` : '';
  const degraded: ConditionInput = tooStale
    ? {
        type: 'Degraded',
        status: 'True',
        reason: 'NodesStale',
        message: `${health.stale.length} of ${counted} nodes stale (more than ${percent(spec.degradedStaleFraction)}): ${listNames(health.stale)}; check those agents' pods and uplinks${errors ? `; ${errors}` : ''}`.slice(0, 4096),
      }
    : errors
      ? { type: 'Degraded', status: 'True', reason: 'AgentErrors', message: `${errors}; see the agents' logs`.slice(0, 4096) }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: `${health.stale.length} of ${counted} nodes stale (threshold ${percent(spec.degradedStaleFraction)}), no agent errors` };
  const progressing: ConditionInput = fleet.killSwitch.engaged
    ? { type: 'Progressing', status: 'False', reason: 'KillSwitchEngaged', message: `kill switch engaged (${fleet.killSwitch.scope ?? 'resource'}): config and DaemonSet changes are not applied` }
    : !ds || applyingDaemonSet
      ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `applying DaemonSet ${dsName} for generation ${fleet.generation}` }
      : ds.observedGeneration < ds.generation || ds.updated < ds.desired || ds.available < ds.desired
        ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${ds.updated} of ${ds.desired} agents updated, ${ds.available} available` }
        : { type: 'Progressing', status: 'False', reason: 'RolledOut', message: `${ds.desired} agent(s) up to date` };
  return [readyCondition, degraded, progressing];
}

function transitionEvents(previous: readonly Condition[] | undefined, next: readonly Condition[]): PlannedEvent[] {
  const before = (type: string) => previous?.find((c) => c.type === type);
  const after = (type: string) => next.find((c) => c.type === type);
  const events: PlannedEvent[] = [];
  const ready = after('Ready');
  if (ready?.status === 'True' && before('Ready')?.status !== 'True') events.push({ type: 'Normal', reason: 'FleetReady', note: ready.message });
  const degraded = after('Degraded');
  const wasDegraded = before('Degraded');
  if (degraded?.status === 'True' && (wasDegraded?.status !== 'True' || wasDegraded.reason !== degraded.reason)) {
    events.push({ type: 'Warning', reason: degraded.reason, note: degraded.message });
  }
  if (degraded?.status === 'False' && wasDegraded?.status === 'True') events.push({ type: 'Normal', reason: 'FleetRecovered', note: degraded.message });
  const progressing = after('Progressing');
  if (progressing?.reason === 'KillSwitchEngaged' && before('Progressing')?.reason !== 'KillSwitchEngaged') {
    events.push({ type: 'Warning', reason: 'KillSwitchEngaged', note: progressing.message });
  }
  return events;
}

/** Decides everything for one fleet at wall time `now` (ms). */
export function reconcileSensorFleet(fleet: FleetObservation, now: number): FleetPlan {
  const at = { now: rfc3339(now), generation: fleet.generation };
  if (!fleet.spec.ok) return invalidPlan(fleet, fleet.spec.message, at);
  const spec = fleet.spec.value;
  const issues = checkFleetMeaning({ name: fleet.name, spec });
  if (issues.length > 0) return invalidPlan(fleet, issues.map((i) => `${i.field}: ${i.message}`).join('; '), at);

  const identity = { namespace: fleet.namespace, name: fleet.name, uid: fleet.uid, generation: fleet.generation };
  const text = renderAgentConfig(agentConfig(identity, spec));
  const hash = configHash(text);
  const children = desiredChildren({ name: fleet.name, namespace: fleet.namespace, uid: fleet.uid, spec, config: { text, hash }, defaultImage: fleet.defaultImage });
  const frozen = fleet.killSwitch.engaged;
  const apply = frozen ? [] : children.filter((c) => !isApplied(c.object, fleet.children[c.kind]));
  const health = fleetHealth({ heartbeats: fleet.heartbeats, nodes: fleet.nodes, nodeSelector: spec.nodeSelector, staleAfterSeconds: spec.staleAfterSeconds, now });
  const ds = daemonSetFacts(fleet.children.DaemonSet);

  const previous = fleet.status;
  const conditions = setConditions(previous?.conditions as Condition[] | undefined, conditionsFor(fleet, spec, health, ds, apply.some((c) => c.kind === 'DaemonSet')), at);
  const newestSample = Math.max(health.lastSampleMs ?? -Infinity, previous?.lastSampleTime ? Date.parse(previous.lastSampleTime) : -Infinity);
  let status: SensorFleetStatus = {
    observedGeneration: fleet.generation,
    conditions,
    desiredNodes: ds?.desired ?? 0,
    readyNodes: ds?.ready ?? 0,
    reportingNodes: health.reporting.length,
    staleNodes: health.stale.slice(0, MAX_STALE_NODES),
    staleNodeCount: health.stale.length,
    backlogRecords: health.backlogRecords,
    ...(Number.isFinite(newestSample) ? { lastSampleTime: rfc3339(newestSample) } : {}),
  };

  // Hold back a change of only the per-heartbeat aggregates until the refresh interval passed.
  const refreshMs = Math.max(MIN_REFRESH_MS, heartbeatIntervalSeconds(spec.staleAfterSeconds) * 1000);
  let deferredUntil: number | undefined;
  if (previous && fleet.lastStatusWriteMs !== undefined && now - fleet.lastStatusWriteMs < refreshMs) {
    const held: SensorFleetStatus = { ...status, backlogRecords: previous.backlogRecords, lastSampleTime: previous.lastSampleTime };
    const { epoch: _epoch, ...previousWithoutEpoch } = previous;
    if (!jsonEqual(held, status) && jsonEqual(held, previousWithoutEpoch)) {
      status = held;
      deferredUntil = fleet.lastStatusWriteMs + refreshMs;
    }
  }

  const removable = frozen ? [] : health.remove;
  const events = transitionEvents(previous?.conditions as Condition[] | undefined, conditions);
  if (removable.length > 0) {
    events.push({ type: 'Normal', reason: 'HeartbeatsRemoved', note: `removed ${removable.length} heartbeat Lease(s) of nodes that left: ${listNames(removable.map((r) => `${r.node} (${r.reason})`))}` });
  }
  const configMapChanged = apply.some((c) => c.kind === 'ConfigMap') && fleet.children.ConfigMap !== undefined;
  if (configMapChanged) events.push({ type: 'Normal', reason: 'ConfigPublished', note: `config ${hash} published; agents reload it without restarting` });
  if (apply.some((c) => c.kind === 'DaemonSet')) {
    events.push({ type: 'Normal', reason: fleet.children.DaemonSet ? 'DaemonSetUpdated' : 'DaemonSetCreated', note: `DaemonSet ${agentName(fleet.name)} applied for generation ${fleet.generation}` });
  }

  const wakeups = [health.nextChangeMs, deferredUntil].filter((t): t is number => t !== undefined).map((t) => t - now);
  const requeueAfterMs = Math.max(MIN_REQUEUE_MS, Math.min(spec.staleAfterSeconds * 1000, ...wakeups));
  const decision: FleetPlan = {
    apply,
    delete: removable,
    status,
    events,
    requeueAfterMs,
    configHash: hash,
    health,
    reason:
      `${apply.length} to apply, ${removable.length} heartbeat(s) to remove; ` +
      `${health.reporting.length} reporting, ${health.stale.length} stale, ${health.erroring.length} erroring, ${health.silent.length} silent of ${health.selected.length} selected` +
      (frozen ? ` (kill switch: ${fleet.killSwitch.scope ?? 'resource'})` : ''),
  };
  const outcomes = fleet.outcomes;
  if (outcomes === undefined) return decision;
  const failures = apply.flatMap((c) => {
    const outcome = outcomes.get(c.key);
    return outcome && !outcome.ok ? [{ kind: c.kind, message: outcome.message, invalid: outcome.invalid }] : [];
  });
  return withApplyFailures(decision, failures, { now, generation: fleet.generation });
}

/**
 * The plan's status after some applies failed: `Ready=False` with the API server's
 * message (reason `InvalidChild` when it refused the object, `ApplyFailed` otherwise),
 * and `Degraded=True` for a refusal, since retrying cannot fix it.
 */
export function withApplyFailures(plan: FleetPlan, failures: readonly { readonly kind: string; readonly message: string; readonly invalid: boolean }[], at: { now: number; generation: number }): FleetPlan {
  if (failures.length === 0) return plan;
  const invalid = failures.some((f) => f.invalid);
  const message = failures.map((f) => `${f.kind}: ${f.message}`).join('; ').slice(0, 4096);
  const inputs: ConditionInput[] = [{ type: 'Ready', status: 'False', reason: invalid ? 'InvalidChild' : 'ApplyFailed', message }];
  if (invalid) inputs.push({ type: 'Degraded', status: 'True', reason: 'InvalidChild', message });
  const conditions = setConditions(plan.status.conditions as Condition[] | undefined, inputs, { now: rfc3339(at.now), generation: at.generation });
  const events: readonly PlannedEvent[] = invalid ? [...plan.events, { type: 'Warning', reason: 'InvalidChild', note: message }] : plan.events;
  return { ...plan, status: { ...plan.status, conditions }, events };
}
