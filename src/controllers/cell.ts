/**
 * CellController: the I/O shell around the pure Cell decider (reconcilers/cell.ts).
 *
 * Each reconcile reads the Cell and its stamped children from the caches, asks the
 * decider what to apply and prune, applies children with server-side apply (one field
 * manager, fenced), prunes what left the template, writes status once, then records
 * events. An object the API server refuses (400/422) becomes `Ready=False` reason
 * `InvalidTemplate` with the server's message, and the other children are still
 * applied. Transient failures are reported in status and then thrown, so the queue
 * backs off. A child already applied from this generation by this leadership term is
 * not applied again, except every 10 minutes per Cell (drift correction of the fields
 * the template sets); so a child's own status changes cost one status write, not a
 * round of applies.
 *
 * Placement hook: `placements(cell)` returns how many placements (e.g. shard replicas)
 * are assigned to the Cell. ShardMap's controller supplies it; until then it is 0, so
 * a drain completes at once.
 */
import type { CellSpec, CellStatus } from '../crds/cell.ts';
import { CELL_TEMPLATE_KINDS, parseCellSpec } from '../crds/cell.ts';
import { API_VERSION } from '../crds/common.ts';
import { rfc3339 } from '../legos/clock.ts';
import {
  CellLabel,
  TemplateGenerationAnnotation,
  cellStatus,
  childKey,
  childReadiness,
  planCell,
  type ApplyOutcome,
  type CellObservation,
  type ObservedChild,
} from '../reconcilers/cell.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import type { ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { FencedError } from '../runtime/errors.ts';
import { EpochAnnotation } from '../runtime/leader/fence.ts';
import { KubeApiError } from '../kube/errors.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { OperatorConfigMap, killSwitchWatches, operatorConfigSelector } from './shared.ts';

export const CellType: ResourceType = { group: 'manyfold.dev', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: true };

type CellObject = KubeObject & { spec?: CellSpec; status?: CellStatus };

/** Resource types of the kinds a Cell template may hold. */
export const CellChildTypes: readonly ResourceType[] = [
  Resources.Deployment,
  Resources.StatefulSet,
  Resources.Service,
  Resources.ConfigMap,
  Resources.ServiceAccount,
  Resources.PodDisruptionBudget,
];
const childTypeByKind = new Map(CellChildTypes.map((t) => [t.kind, t]));
const stampedOnly = { labelSelector: CellLabel };
/** Cells whose forced-apply time is remembered (oldest forgotten first). */
const MaxTrackedCells = 100_000;

/** Supplies the number of placements assigned to a Cell (ShardMap's hook). */
export type PlacementCounter = (cell: { namespace: string; name: string }) => number;

export interface CellControllerOptions {
  readonly operatorNamespace: string;
  readonly placements?: PlacementCounter;
  readonly concurrency?: number;
}

function ownedBy(object: KubeObject, uid: string): boolean {
  return (object.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

/** What the decider needs of one stamped child. */
function observeChild(type: ResourceType, object: KubeObject, slices: readonly (KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] })[]): ObservedChild {
  const name = object.metadata.name ?? '';
  const readyEndpoints =
    type.kind === 'Service'
      ? slices
          .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === name)
          .reduce((n, s) => n + (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length, 0)
      : undefined;
  const readiness = childReadiness(object, { readyEndpoints });
  const generation = Number.parseInt(object.metadata.annotations?.[TemplateGenerationAnnotation] ?? '', 10);
  return {
    apiVersion: object.apiVersion || (type.group ? `${type.group}/${type.version}` : type.version),
    kind: type.kind,
    name,
    templateGeneration: Number.isFinite(generation) ? generation : undefined,
    ready: readiness.ready,
    message: readiness.message,
    failed: readiness.failed,
    progressing: readiness.progressing,
  };
}

function observeChildren(ctx: ReconcileContext, cell: CellObject) {
  const children: ObservedChild[] = [];
  const objects = new Map<string, KubeObject>();
  const namespace = cell.metadata.namespace ?? '';
  const index = { name: 'label', value: `${CellLabel}=${cell.metadata.name ?? ''}` };
  const slices = ctx.cache.list<KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] }>(Resources.EndpointSlice, { namespace, index, selector: stampedOnly });
  for (const type of CellChildTypes) {
    for (const object of ctx.cache.list(type, { namespace, index, selector: stampedOnly })) {
      if (!ownedBy(object, cell.metadata.uid ?? '')) continue;
      children.push(observeChild(type, object, slices));
      objects.set(childKey(type.kind, object.metadata.name ?? ''), object);
    }
  }
  return { children, objects, slices };
}

/**
 * Whether a child must be applied: it is missing, or was applied from another
 * generation or by another leadership term, or its periodic forced apply is due (which
 * restores fields someone else changed among those the template sets).
 */
function needsApply(cached: KubeObject | undefined, generation: number, epoch: number, forceDue: boolean): boolean {
  if (!cached || forceDue) return true;
  const annotations = cached.metadata.annotations ?? {};
  return annotations[TemplateGenerationAnnotation] !== String(generation) || annotations[EpochAnnotation] !== String(epoch);
}

/** Interval of the forced re-apply of unchanged children (drift correction). */
const ForceApplyEveryMs = 10 * 60_000;

async function reconcileCell(ctx: ReconcileContext, options: CellControllerOptions, forcedAt: Map<string, number>): Promise<{ requeueAfter?: number } | void> {
  const cell = ctx.cache.get<CellObject>(CellType, ctx.key);
  if (!cell || cell.metadata.deletionTimestamp) return; // children are garbage-collected with the Cell
  const namespace = cell.metadata.namespace ?? '';
  const parsed = parseCellSpec(cell.spec ?? {});
  const ns = ctx.cache.get(Resources.Namespace, namespace);
  const global = ctx.cache.get(Resources.ConfigMap, `${options.operatorNamespace}/${OperatorConfigMap}`, operatorConfigSelector(options.operatorNamespace));
  const { children, objects, slices } = observeChildren(ctx, cell);
  const observation: CellObservation = {
    name: cell.metadata.name ?? '',
    namespace,
    uid: cell.metadata.uid ?? '',
    generation: cell.metadata.generation ?? 0,
    spec: parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: parsed.message },
    status: ctx.writer.statusOf(cell), // what this term last wrote, if the cache lags behind it
    children,
    placements: options.placements?.({ namespace, name: cell.metadata.name ?? '' }) ?? 0,
    killSwitch: killSwitchState({
      object: cell.metadata.annotations,
      namespace: ns ? { name: namespace, annotations: ns.metadata.annotations } : undefined,
      global: global?.metadata.annotations,
    }),
  };
  const plan = planCell(observation, { apiVersion: API_VERSION, kind: 'Cell' });
  ctx.log.debug({ event: 'cell_planned', reason: plan.reason }, 'planned');

  const outcomes = new Map<string, ApplyOutcome>();
  const applied = new Map<string, ObservedChild>();
  let transient: Error | undefined;
  const uid = cell.metadata.uid ?? '';
  const lastForced = forcedAt.get(uid);
  const forceDue = lastForced === undefined || ctx.clock.monotonic() - lastForced >= ForceApplyEveryMs;
  for (const desired of plan.apply) {
    if (!needsApply(objects.get(desired.key), observation.generation, ctx.epoch, forceDue)) {
      outcomes.set(desired.key, { ok: true });
      continue;
    }
    try {
      const type = childTypeByKind.get(desired.object.kind);
      const stored = await ctx.writer.apply(desired.object, { signal: ctx.signal });
      outcomes.set(desired.key, { ok: true });
      // Judge the child from what the server just stored, not from the older cache.
      if (type) applied.set(desired.key, observeChild(type, stored, slices));
    } catch (error) {
      if (error instanceof FencedError) throw error;
      const invalid = error instanceof KubeApiError && (error.code === 422 || error.code === 400);
      outcomes.set(desired.key, { ok: false, invalid, message: error instanceof Error ? error.message : String(error) });
      if (!invalid) transient ??= error instanceof Error ? error : new Error(String(error));
    }
  }
  if (forceDue && transient === undefined) {
    forcedAt.set(uid, ctx.clock.monotonic());
    if (forcedAt.size > MaxTrackedCells) forcedAt.delete(forcedAt.keys().next().value as string);
  }
  for (const child of plan.prune) {
    const type = childTypeByKind.get(child.kind);
    const object = objects.get(childKey(child.kind, child.name));
    if (type && object) await ctx.writer.delete(type, object);
  }
  const current = { ...observation, children: [...observation.children.filter((c) => !applied.has(childKey(c.kind, c.name))), ...applied.values()] };
  const { status, events } = cellStatus(current, plan, outcomes, rfc3339(ctx.clock.now()));
  await ctx.writer.applyStatus(cell, status, { signal: ctx.signal });
  for (const e of events) ctx.recorder.event(cell, e.type, e.reason, e.note);
  if (transient !== undefined) throw transient;
  // No timed requeue: child status changes (owned informers) and the periodic resync wake the Cell.
}

/** The Cell controller's spec for the manager. */
export function cellController(options: CellControllerOptions): ControllerSpec {
  // When each Cell's children were last applied unconditionally (monotonic ms), by uid.
  const forcedAt = new Map<string, number>();
  return {
    name: 'cell',
    for: CellType,
    owns: CellChildTypes,
    ownsSelector: stampedOnly,
    concurrency: options.concurrency ?? 8,
    watches: [
      ...killSwitchWatches(CellType, options.operatorNamespace),
      {
        type: Resources.EndpointSlice,
        selector: stampedOnly,
        map: (slice) => {
          const cell = slice.metadata.labels?.[CellLabel];
          return cell && slice.metadata.namespace ? [`${slice.metadata.namespace}/${cell}`] : [];
        },
      },
    ],
    reconcile: (ctx) => reconcileCell(ctx, options, forcedAt),
  };
}

export { CELL_TEMPLATE_KINDS };
