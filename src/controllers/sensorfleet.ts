/**
 * SensorFleetController: the wiring of the pure SensorFleet decider
 * (reconcilers/sensorfleet.ts) on the controller shell (runtime/shell.ts).
 *
 * Each reconcile reads the fleet, its children (ServiceAccount, Role, RoleBinding,
 * ConfigMap, DaemonSet, all labelled `manyfold.dev/sensorfleet`), the Nodes and the
 * fleet's heartbeat Leases from the caches, asks the decider, applies the children
 * that differ (server-side apply, one field manager, fenced), deletes the heartbeat
 * Leases of nodes that left, writes status once, then records events. An object the
 * API server refuses becomes `Ready=False` reason `InvalidChild` (the decider is asked
 * again with the apply outcomes); transient failures are reported and thrown so the
 * queue backs off.
 *
 * Wake-ups: the fleet, its children, its heartbeats (batched: at most one reconcile per
 * `heartbeatBatchMs`, default 1 s, however many agents renew meanwhile), Nodes that match
 * (or matched) a fleet's selector when they come, go or change labels (not their status
 * updates), kill switches, and the decider's timer (a heartbeat
 * that stops produces no event). Heartbeat Leases of a fleet that no longer exists are
 * deleted when their fleet's key comes up, and swept when any fleet of the namespace
 * reconciles.
 *
 * Tenancy: what a fleet may put on nodes is the administrator's policy
 * (reconcilers/sensorfleet-policy.ts, from operator flags): a fleet beyond it is
 * `Ready=False` reason `NotPermitted` naming the field, and nothing is applied.
 *
 * Limitations: the time of the last status write is remembered per process (bounded,
 * see {@link MAX_REMEMBERED}), so a new leader may write the per-heartbeat aggregates
 * once earlier than the refresh interval.
 */
import { ManyfoldResources } from '../crds/index.ts';
import { parseSensorFleetSpec, type SensorFleetSpec, type SensorFleetStatus } from '../crds/sensorfleet.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { reconcileSensorFleet, type FleetObservation, type HeartbeatLease } from '../reconcilers/sensorfleet.ts';
import { FleetLabel, agentName } from '../reconcilers/sensorfleet-agent.ts';
import { DefaultAgentImage, type FleetChildKind } from '../reconcilers/sensorfleet-children.ts';
import { matchesSelector } from '../reconcilers/sensorfleet-health.ts';
import type { SensorFleetPolicy } from '../reconcilers/sensorfleet-policy.ts';
import type { ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { keyOfObject } from '../runtime/kill-switch.ts';
import { applyChildren, commit, defineController, deleteObjects, labelWatch, observeObject, type ObjectContext } from '../runtime/shell.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';

export const SensorFleetType: ResourceType = ManyfoldResources.SensorFleet;
const Role: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true };
const RoleBinding: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true };

/** Resource type of each child kind. */
export const SensorFleetChildTypes: Readonly<Record<FleetChildKind, ResourceType>> = {
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
  /** Agent image for fleets without `spec.image`. @default env `MANYFOLD_IMAGE` when set and not empty, else {@link DefaultAgentImage} */
  readonly image?: string | undefined;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
  /** What fleets may put on nodes (images, spool root, host paths, tolerations). @default DefaultSensorFleetPolicy */
  readonly policy?: SensorFleetPolicy | undefined;
  /**
   * Heartbeat batching: a fleet is reconciled because of its agents' heartbeats at most
   * once per this many ms; the renewals that arrive meanwhile are folded into one
   * reconcile at the end of the interval (runtime/queue/floor.ts). Each reconcile reads
   * every heartbeat of the fleet, so without it N agents cost up to N reconciles of
   * O(N) work per heartbeat interval. Changes of the fleet, its children and Nodes, and
   * the staleness timer, are not delayed. 0 turns batching off.
   * @default {@link DEFAULT_HEARTBEAT_BATCH_MS} (operator flag `--sensorfleet-heartbeat-batch`)
   */
  readonly heartbeatBatchMs?: number | undefined;
}

/** Default heartbeat batching interval, ms: status shows a heartbeat at most this late. */
export const DEFAULT_HEARTBEAT_BATCH_MS = 1000;

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
  const orphans = leases.filter((lease) => {
    const fleet = lease.metadata.labels?.[FleetLabel];
    return fleet !== undefined && !fleets.has(fleet);
  });
  await deleteObjects(ctx, Resources.Lease, orphans);
  if (orphans.length > 0) ctx.log.info({ event: 'heartbeats_orphaned_removed', namespace, removed: orphans.length }, 'removed heartbeat Leases of deleted fleets');
  return orphans.length;
}

/** The fleet as the decider sees it, and its heartbeat Leases. */
function observeFleet(ctx: ObjectContext<FleetObject>, image: string, policy: SensorFleetPolicy | undefined, lastStatusWriteMs: number | undefined) {
  const fleet = ctx.object;
  const namespace = fleet.metadata.namespace ?? '';
  const name = fleet.metadata.name ?? '';
  const children: FleetObservation['children'] = Object.fromEntries(
    Object.entries(SensorFleetChildTypes).map(([kind, type]) => [kind, ctx.cache.get(type, `${namespace}/${agentName(name)}`, labelled)]),
  );
  const leases = ctx.cache.list<LeaseObject>(Resources.Lease, { namespace, index: { name: 'label', value: `${FleetLabel}=${name}` }, selector: labelled });
  const observation: FleetObservation = {
    ...observeObject(ctx, parseSensorFleetSpec),
    defaultImage: image,
    policy,
    children,
    nodes: ctx.cache.list(Resources.Node).map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} })),
    heartbeats: leases.map(asHeartbeat),
    lastStatusWriteMs,
  };
  return { observation, leases };
}

/** Whether an update changed an object's labels (what a fleet's node selector reads). */
export function labelsChanged(old: KubeObject, next: KubeObject): boolean {
  const a = old.metadata.labels ?? {};
  const b = next.metadata.labels ?? {};
  const keys = Object.keys(a);
  return keys.length !== Object.keys(b).length || keys.some((k) => a[k] !== b[k]);
}

/** Keys of the fleets whose nodeSelector matches `node` (the watch maps old and new). */
function fleetsSelecting(node: KubeObject, fleets: readonly FleetObject[]): string[] {
  const labels = node.metadata.labels ?? {};
  return fleets
    .filter((f) => {
      const selector = f.spec?.nodeSelector;
      return selector === undefined || (typeof selector === 'object' && selector !== null && matchesSelector(labels, selector));
    })
    .map(keyOfObject);
}

/** The SensorFleet controller's spec for the manager. */
export function sensorFleetController(options: SensorFleetControllerOptions): ControllerSpec {
  // An empty MANYFOLD_IMAGE counts as unset: an empty image is never valid.
  const image = options.image ?? (process.env['MANYFOLD_IMAGE']?.trim() || DefaultAgentImage);
  // Last status write per fleet key (wall ms).
  const writes = new BoundedMap<string, number>({ max: MAX_REMEMBERED });
  return defineController<FleetObject>({
    name: 'sensorfleet',
    for: SensorFleetType,
    operatorNamespace: options.operatorNamespace,
    owns: Object.values(SensorFleetChildTypes),
    ownsSelector: labelled,
    concurrency: options.concurrency ?? 4,
    memories: { sensorfleet_status_writes: writes },
    watches: [
      { ...labelWatch(Resources.Lease, FleetLabel), minIntervalMs: options.heartbeatBatchMs ?? DEFAULT_HEARTBEAT_BATCH_MS },
      // Only a Node's name and labels matter to a fleet, not its status heartbeats (every 10-60 s per node).
      { type: Resources.Node, map: (node, cache) => fleetsSelecting(node, cache.list<FleetObject>(SensorFleetType)), updated: labelsChanged },
    ],
    // Children are garbage-collected; heartbeats go once the fleet is gone.
    gone: async (ctx) => {
      writes.delete(ctx.key);
      await removeOrphanHeartbeats(ctx, ctx.namespace ?? '', ctx.name);
    },
    reconcile: async (ctx) => {
      const { observation, leases } = observeFleet(ctx, image, options.policy, writes.get(ctx.key));
      const now = ctx.clock.now();
      const first = reconcileSensorFleet(observation, now);
      ctx.log.debug({ event: 'sensorfleet_planned', reason: first.reason, configHash: first.configHash }, 'planned');
      const applied = await applyChildren(ctx, first.apply);
      const decision = reconcileSensorFleet({ ...observation, outcomes: applied.outcomes }, now);
      const byName = new Map(leases.map((l) => [l.metadata.name ?? '', l]));
      await deleteObjects(ctx, Resources.Lease, decision.delete.flatMap((removal) => byName.get(removal.lease) ?? []));
      if (!ctx.killSwitch.engaged) await removeOrphanHeartbeats(ctx, ctx.namespace ?? '');
      if (decision.delete.length > 0) ctx.log.info({ event: 'heartbeats_removed', leases: decision.delete.map((r) => r.lease) }, 'removed heartbeat Leases of departed nodes');
      return commit(ctx, decision, { transient: applied.transient, onStatusWritten: (wrote) => {
          if (wrote) writes.set(ctx.key, now);
        } });
    },
  });
}
