/**
 * CellController: the wiring of the pure Cell decider (reconcilers/cell.ts) on the
 * controller shell (runtime/shell.ts).
 *
 * Each reconcile reads the Cell and its stamped children from the caches, asks the
 * decider what to apply and prune, applies children with server-side apply (one field
 * manager, fenced), prunes what left the template, asks the decider again with the
 * apply outcomes, writes status once, then records events. An object the API server
 * refuses (400/422) becomes `Ready=False` reason `InvalidTemplate` with the server's
 * message, and the other children are still applied. Transient failures are reported
 * in status and then thrown, so the queue backs off. A child already applied from this
 * generation by this leadership term is not applied again, except every 10 minutes per
 * Cell (drift correction of the fields the template sets); so a child's own status
 * changes cost one status write, not a round of applies.
 *
 * Placements: `status.placements` sums what the declared placement providers assign
 * to the Cell (controllers/placements.ts); their objects' changes enqueue the Cells
 * they touch, so a Draining Cell turns Drained on the event, not at the next resync.
 * Without providers it is 0, so a drain completes at once.
 *
 * Ownership: before applying, each child the Cell does not already control is looked up
 * (the cache of stamped objects, else one GET); an object controlled by someone else,
 * or without a controller and without the opt-in annotation, is reported by the decider
 * as `ChildConflict` and not applied (a forced server-side apply would steal its fields
 * and, under one field manager, swap its owner reference: the write loop of two Cells
 * with colliding child names).
 *
 * Limitations: the forced-apply times live in memory (bounded, oldest forgotten first),
 * so a new leader re-applies every Cell's children once.
 */
import type { CellSpec, CellStatus } from '../crds/cell.ts';
import { CELL_TEMPLATE_KINDS, parseCellSpec } from '../crds/cell.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import {
  AdoptAnnotation,
  CellLabel,
  TemplateGenerationAnnotation,
  childKey,
  childReadiness,
  reconcileCell,
  type CellObservation,
  type ChildOccupant,
  type ObservedChild,
} from '../reconcilers/cell.ts';
import type { DesiredChild } from '../reconcilers/decision.ts';
import type { ControllerSpec } from '../runtime/controller.ts';
import { Summary } from '../runtime/informer/projection.ts';
import { EpochAnnotation } from '../runtime/leader/fence.ts';
import { applyChildren, commit, defineController, deleteObjects, labelWatch, observeObject, type ObjectContext } from '../runtime/shell.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { placementWatches, placementsOf, type PlacementProvider } from './placements.ts';

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
/**
 * The informers of stamped children (and their EndpointSlices): labelled objects only,
 * cached as summaries (metadata, status, scalar spec fields: what readiness and the
 * ownership check read), so 10,000 Deployments do not keep 10,000 pod templates.
 */
const stampedOnly = { labelSelector: CellLabel, projection: Summary };
/** Cells whose forced-apply time is remembered (oldest forgotten first). */
const MAX_TRACKED_CELLS = 100_000;

type EndpointSlice = KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] };

export interface CellControllerOptions {
  readonly operatorNamespace: string;
  /** Kinds whose objects assign placements to Cells (controllers/placements.ts). @default none */
  readonly placementProviders?: readonly PlacementProvider[] | undefined;
  /** Concurrent reconciles. @default 8 */
  readonly concurrency?: number | undefined;
}

function ownedBy(object: KubeObject, uid: string): boolean {
  return (object.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

/**
 * The objects that already carry the name of a child in `apply` but are not controlled
 * by the Cell `uid`: read from the cache of stamped objects, else with one GET each
 * (an object made by hand carries no Cell label, so the cache cannot know it).
 */
async function findOccupants(ctx: ObjectContext<CellObject>, apply: readonly DesiredChild[], owned: ReadonlyMap<string, KubeObject>): Promise<Map<string, ChildOccupant>> {
  const occupants = new Map<string, ChildOccupant>();
  const namespace = ctx.object.metadata.namespace ?? '';
  const uid = ctx.object.metadata.uid ?? '';
  const cell = ctx.object.metadata.name ?? '';
  for (const child of apply) {
    const type = childTypeByKind.get(child.kind);
    if (!type || owned.has(child.key)) continue;
    const existing = ctx.cache.get(type, `${namespace}/${child.name}`, stampedOnly) ?? (await ctx.client.getOrUndefined(type, child.name, namespace));
    if (!existing || ownedBy(existing, uid)) continue;
    const controller = (existing.metadata.ownerReferences ?? []).find((r) => r.controller);
    occupants.set(child.key, {
      kind: child.kind,
      name: child.name,
      owner: controller ? `${controller.kind}/${controller.name}` : undefined,
      adoptable: controller === undefined && existing.metadata.annotations?.[AdoptAnnotation] === cell,
    });
  }
  return occupants;
}

/** What the decider needs of one stamped child. */
function observeChild(type: ResourceType, object: KubeObject, slices: readonly EndpointSlice[]): ObservedChild {
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

/** The Cell as the decider sees it, with the cached children by key and the EndpointSlices. */
function observeCell(ctx: ObjectContext<CellObject>, providers: readonly PlacementProvider[]) {
  const cell = ctx.object;
  const namespace = cell.metadata.namespace ?? '';
  const name = cell.metadata.name ?? '';
  const children: ObservedChild[] = [];
  const objects = new Map<string, KubeObject>();
  const index = { name: 'label', value: `${CellLabel}=${name}` };
  const slices = ctx.cache.list<EndpointSlice>(Resources.EndpointSlice, { namespace, index, selector: stampedOnly });
  for (const type of CellChildTypes) {
    for (const object of ctx.cache.list(type, { namespace, index, selector: stampedOnly })) {
      if (!ownedBy(object, cell.metadata.uid ?? '')) continue;
      children.push(observeChild(type, object, slices));
      objects.set(childKey(type.kind, object.metadata.name ?? ''), object);
    }
  }
  const observation: CellObservation = {
    ...observeObject(ctx, parseCellSpec),
    children,
    placements: placementsOf(ctx.cache, providers, { namespace, name }),
  };
  return { observation, objects, slices };
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

/** Interval of the forced re-apply of unchanged children (drift correction), ms. */
const FORCE_APPLY_EVERY_MS = 10 * 60_000;

/** The Cell controller's spec for the manager. */
export function cellController(options: CellControllerOptions): ControllerSpec {
  // When each Cell's children were last applied unconditionally (monotonic ms), by uid.
  const forcedAt = new BoundedMap<string, number>({ max: MAX_TRACKED_CELLS });
  const providers = options.placementProviders ?? [];
  return defineController<CellObject>({
    name: 'cell',
    for: CellType,
    operatorNamespace: options.operatorNamespace,
    owns: CellChildTypes,
    ownsSelector: stampedOnly,
    concurrency: options.concurrency ?? 8,
    memories: { cell_forced_apply: forcedAt },
    watches: [labelWatch(Resources.EndpointSlice, CellLabel, stampedOnly), ...placementWatches(providers)],
    reconcile: async (ctx) => {
      const observed = observeCell(ctx, providers);
      const { objects, slices } = observed;
      const occupants = await findOccupants(ctx, reconcileCell(observed.observation, ctx.clock.now()).apply, objects);
      const observation: CellObservation = { ...observed.observation, occupants };
      const decision = reconcileCell(observation, ctx.clock.now());
      ctx.log.debug({ event: 'cell_planned', reason: decision.reason }, 'planned');
      const uid = observation.uid;
      const lastForced = forcedAt.get(uid);
      const forceDue = lastForced === undefined || ctx.clock.monotonic() - lastForced >= FORCE_APPLY_EVERY_MS;
      const applied = await applyChildren(ctx, decision.apply, { skip: (child) => !needsApply(objects.get(child.key), observation.generation, ctx.epoch, forceDue) });
      if (forceDue && applied.transient === undefined) forcedAt.set(uid, ctx.clock.monotonic());
      for (const child of decision.delete) {
        const type = childTypeByKind.get(child.kind);
        const object = objects.get(childKey(child.kind, child.name));
        if (type && object) await deleteObjects(ctx, type, [object]);
      }
      // Judge applied children from what the server just stored, not from the older cache.
      const fresh = new Map<string, ObservedChild>();
      for (const child of decision.apply) {
        const type = childTypeByKind.get(child.kind);
        const object = applied.stored.get(child.key);
        if (type && object) fresh.set(child.key, observeChild(type, object, slices));
      }
      const children = [...observation.children.filter((c) => !fresh.has(childKey(c.kind, c.name))), ...fresh.values()];
      // No timed requeue: child status changes (owned informers) and the periodic resync wake the Cell.
      return commit(ctx, reconcileCell({ ...observation, children, outcomes: applied.outcomes }, ctx.clock.now()), { transient: applied.transient });
    },
  });
}

export { CELL_TEMPLATE_KINDS };
