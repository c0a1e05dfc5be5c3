/**
 * SensorFleetController: the I/O shell around the pure SensorFleet decider
 * (reconcilers/sensorfleet.ts).
 *
 * Each reconcile reads the fleet, its children (ServiceAccount, Role, RoleBinding,
 * ConfigMap, DaemonSet, all labelled `manyfold.dev/sensorfleet`), the Nodes and the
 * fleet's heartbeat Leases from the caches, asks the decider, applies the children
 * that differ (server-side apply, one field manager, fenced), deletes the heartbeat
 * Leases of nodes that left, writes status once, then records events. An object the
 * API server refuses becomes `Ready=False` reason `InvalidChild`; transient failures
 * are reported and thrown so the queue backs off.
 *
 * Wake-ups: the fleet, its children, its heartbeats (every renewal), Nodes that match
 * (or matched) a fleet's selector, kill switches, and the decider's timer (a heartbeat
 * that stops produces no event). Heartbeat Leases of a fleet that no longer exists are
 * deleted when their fleet's key comes up, and swept when any fleet of the namespace
 * reconciles.
 *
 * Limitations: the time of the last status write is remembered per process (bounded,
 * see {@link MAX_REMEMBERED}), so a new leader may write the per-heartbeat aggregates
 * once earlier than the refresh interval.
 */
import { ManyfoldResources } from '../crds/index.ts';
import { parseSensorFleetSpec, type SensorFleetSpec, type SensorFleetStatus } from '../crds/sensorfleet.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import { reconcileSensorFleet, withApplyFailures, type FleetObservation, type HeartbeatLease } from '../reconcilers/sensorfleet.ts';
import { FleetLabel, agentName } from '../reconcilers/sensorfleet-agent.ts';
import { DefaultAgentImage, type DesiredChild } from '../reconcilers/sensorfleet-children.ts';
import { matchesSelector } from '../reconcilers/sensorfleet-health.ts';
import type { ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { FencedError } from '../runtime/errors.ts';
import { KubeApiError } from '../kube/errors.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { OperatorConfigMap, killSwitchWatches, operatorConfigSelector } from './shared.ts';

export const SensorFleetType: ResourceType = ManyfoldResources.SensorFleet;
const Role: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true };
const RoleBinding: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true };

/** Resource type of each child kind. */
export const SensorFleetChildTypes: Readonly<Record<DesiredChild['kind'], ResourceType>> = {
  ServiceAccount: Resources.ServiceAccount,
  Role,
  RoleBinding,
  ConfigMap: Resources.ConfigMap,
  DaemonSet: Resources.DaemonSet,
};
/** The informers of children and heartbeats see only objects carrying the fleet label. */
const labelled = { labelSelector: FleetLabel };
/** Most fleets whose last status write time is remembered. */
export const MAX_REMEMBERED = 10_000;

type FleetObject = KubeObject & { spec?: SensorFleetSpec; status?: SensorFleetStatus };
type LeaseObject = KubeObject & { spec?: { holderIdentity?: string; renewTime?: string } };

export interface SensorFleetControllerOptions {
  readonly operatorNamespace: string;
  /** Agent image for fleets without `spec.image` (default: env `MANYFOLD_IMAGE` when set and not empty, else {@link DefaultAgentImage}). */
  readonly image?: string | undefined;
  /** Concurrent reconciles (default 4). */
  readonly concurrency?: number | undefined;
}

/** Last status write per fleet key (wall ms), bounded: the oldest entry goes first. */
class StatusWrites {
  private readonly at = new Map<string, number>();
  evicted = 0;
  get(key: string): number | undefined {
    return this.at.get(key);
  }
  set(key: string, ms: number): void {
    this.at.delete(key);
    this.at.set(key, ms);
    while (this.at.size > MAX_REMEMBERED) {
      const oldest = this.at.keys().next().value as string;
      this.at.delete(oldest);
      this.evicted++;
    }
  }
  forget(key: string): void {
    this.at.delete(key);
  }
}

function asHeartbeat(lease: LeaseObject): HeartbeatLease {
  return {
    name: lease.metadata.name ?? '',
    labels: lease.metadata.labels,
    annotations: lease.metadata.annotations,
    holderIdentity: lease.spec?.holderIdentity,
    renewTime: lease.spec?.renewTime,
  };
}

/** Deletes heartbeat Leases in `namespace` whose fleet label names no existing fleet. */
async function removeOrphanHeartbeats(ctx: ReconcileContext, namespace: string, onlyFleet?: string): Promise<number> {
  const fleets = new Set(ctx.cache.list(SensorFleetType, { namespace }).map((f) => f.metadata.name ?? ''));
  const leases = onlyFleet === undefined
    ? ctx.cache.list<LeaseObject>(Resources.Lease, { namespace, selector: labelled })
    : ctx.cache.list<LeaseObject>(Resources.Lease, { namespace, index: { name: 'label', value: `${FleetLabel}=${onlyFleet}` }, selector: labelled });
  let removed = 0;
  for (const lease of leases) {
    const fleet = lease.metadata.labels?.[FleetLabel];
    if (fleet === undefined || fleets.has(fleet)) continue;
    await ctx.writer.delete(Resources.Lease, lease);
    removed++;
  }
  if (removed > 0) ctx.log.info({ event: 'heartbeats_orphaned_removed', namespace, removed }, 'removed heartbeat Leases of deleted fleets');
  return removed;
}

async function reconcileFleet(ctx: ReconcileContext, options: { operatorNamespace: string; image: string }, writes: StatusWrites): Promise<{ requeueAfter?: number } | void> {
  const namespace = ctx.namespace ?? '';
  const fleet = ctx.cache.get<FleetObject>(SensorFleetType, ctx.key);
  if (!fleet) {
    writes.forget(ctx.key);
    await removeOrphanHeartbeats(ctx, namespace, ctx.name);
    return;
  }
  if (fleet.metadata.deletionTimestamp) return; // children are garbage-collected; heartbeats go once the fleet is gone
  const name = fleet.metadata.name ?? '';
  const parsed = parseSensorFleetSpec(fleet.spec ?? {});
  const ns = ctx.cache.get(Resources.Namespace, namespace);
  const global = ctx.cache.get(Resources.ConfigMap, `${options.operatorNamespace}/${OperatorConfigMap}`, operatorConfigSelector(options.operatorNamespace));
  const children: FleetObservation['children'] = Object.fromEntries(
    Object.entries(SensorFleetChildTypes).map(([kind, type]) => [kind, ctx.cache.get(type, `${namespace}/${agentName(name)}`, labelled)]),
  );
  const leases = ctx.cache.list<LeaseObject>(Resources.Lease, { namespace, index: { name: 'label', value: `${FleetLabel}=${name}` }, selector: labelled });
  const observation: FleetObservation = {
    name,
    namespace,
    uid: fleet.metadata.uid ?? '',
    generation: fleet.metadata.generation ?? 0,
    spec: parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: parsed.message },
    status: ctx.writer.statusOf(fleet), // what this term last wrote, if the cache lags behind it
    defaultImage: options.image,
    killSwitch: killSwitchState({
      object: fleet.metadata.annotations,
      namespace: ns ? { name: namespace, annotations: ns.metadata.annotations } : undefined,
      global: global?.metadata.annotations,
    }),
    children,
    nodes: ctx.cache.list(Resources.Node).map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} })),
    heartbeats: leases.map(asHeartbeat),
    lastStatusWriteMs: writes.get(ctx.key),
  };
  const now = ctx.clock.now();
  let plan = reconcileSensorFleet(observation, now);
  ctx.log.debug({ event: 'sensorfleet_planned', reason: plan.reason, configHash: plan.configHash }, 'planned');

  const failures: { kind: string; message: string; invalid: boolean }[] = [];
  let transient: Error | undefined;
  for (const child of plan.apply) {
    try {
      await ctx.writer.apply(child.object, { signal: ctx.signal });
    } catch (error) {
      if (error instanceof FencedError) throw error;
      const invalid = error instanceof KubeApiError && (error.code === 422 || error.code === 400);
      failures.push({ kind: child.kind, invalid, message: error instanceof Error ? error.message : String(error) });
      if (!invalid) transient ??= error instanceof Error ? error : new Error(String(error));
    }
  }
  plan = withApplyFailures(plan, failures, { now, generation: observation.generation });
  const byName = new Map(leases.map((l) => [l.metadata.name ?? '', l]));
  for (const removal of plan.deleteHeartbeats) {
    const lease = byName.get(removal.lease);
    if (lease) await ctx.writer.delete(Resources.Lease, lease);
  }
  if (!observation.killSwitch.engaged) await removeOrphanHeartbeats(ctx, namespace);
  if (await ctx.writer.applyStatus(fleet, plan.status, { signal: ctx.signal })) writes.set(ctx.key, now);
  for (const e of plan.events) ctx.recorder.event(fleet, e.type, e.reason, e.note);
  if (plan.deleteHeartbeats.length > 0) ctx.log.info({ event: 'heartbeats_removed', leases: plan.deleteHeartbeats.map((r) => r.lease) }, 'removed heartbeat Leases of departed nodes');
  if (transient !== undefined) throw transient;
  return plan.requeueAfterMs === undefined ? undefined : { requeueAfter: plan.requeueAfterMs };
}

/** Keys of the fleets whose nodeSelector matches `node` (the watch maps old and new). */
function fleetsSelecting(node: KubeObject, fleets: readonly FleetObject[]): string[] {
  const labels = node.metadata.labels ?? {};
  return fleets
    .filter((f) => {
      const selector = f.spec?.nodeSelector;
      return selector === undefined || (typeof selector === 'object' && selector !== null && matchesSelector(labels, selector));
    })
    .map((f) => `${f.metadata.namespace ?? ''}/${f.metadata.name ?? ''}`);
}

/** The SensorFleet controller's spec for the manager. */
export function sensorFleetController(options: SensorFleetControllerOptions): ControllerSpec {
  // An empty MANYFOLD_IMAGE counts as unset: an empty image is never valid.
  const image = options.image ?? (process.env['MANYFOLD_IMAGE']?.trim() || DefaultAgentImage);
  const writes = new StatusWrites();
  return {
    name: 'sensorfleet',
    for: SensorFleetType,
    owns: Object.values(SensorFleetChildTypes),
    ownsSelector: labelled,
    concurrency: options.concurrency ?? 4,
    watches: [
      ...killSwitchWatches(SensorFleetType, options.operatorNamespace),
      {
        type: Resources.Lease,
        selector: labelled,
        map: (lease) => {
          const fleet = lease.metadata.labels?.[FleetLabel];
          return fleet && lease.metadata.namespace ? [`${lease.metadata.namespace}/${fleet}`] : [];
        },
      },
      { type: Resources.Node, map: (node, cache) => fleetsSelecting(node, cache.list<FleetObject>(SensorFleetType)) },
    ],
    reconcile: (ctx) => reconcileFleet(ctx, { operatorNamespace: options.operatorNamespace, image }, writes),
  };
}
