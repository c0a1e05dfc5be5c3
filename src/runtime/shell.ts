/**
 * The one shape of a controller's I/O shell: {@link defineController} turns a short
 * wiring (which kind, what it owns and watches, how to observe, which pure decider)
 * into the manager's {@link ControllerSpec}, and takes care of what every controller
 * used to write out by hand:
 *
 * - the object comes from the informer cache; a key whose object is gone ends the
 *   reconcile (after the optional `gone` hook releases per-object memory), and so does
 *   a NotFound thrown later (controller.ts);
 * - deletion: without a finalizer, a deleting object is left to garbage collection;
 *   with one ({@link Finalizer}), the finalizer is added before the first reconcile,
 *   and on deletion `cleanUp` runs until it says done, then the shell writes its
 *   status (if any), removes the finalizer, remembers (bounded) that it did so, calls
 *   `released`, and records the events. A cache that still shows the finalizer after
 *   the removal does not trigger a second clean-up;
 * - the kill switch: `ctx.killSwitch` (the object, its Namespace, the operator's
 *   config) and the watches that requeue the covered objects when it flips; a
 *   controller that must act on a flip before any queued work declares `urgent`
 *   (runtime/urgent.ts; triggers from `killSwitchTriggers`);
 * - status read-your-writes: `ctx.status` is the writer's freshest known status;
 * - domain metrics: `metrics(operatorMetrics)` runs once, when the manager adds the
 *   controller, and the declared `memories` (bounded maps) are reported as
 *   `manyfold_memory_entries` / `manyfold_memory_evictions_total`.
 *
 * The steps a reconcile composes (all fenced through the term's writer):
 * {@link applyChildren} (server-side apply, outcomes per child key: refused objects are
 * reported, transient failures kept for the end, fencing rethrown at once),
 * {@link deleteObjects}, and {@link commit} (status once, events after it, then the
 * transient failure or the decider's `requeueAfterMs`). Watches between kinds are
 * declared, not pulled: {@link labelWatch} maps a labelled object to its owner's key,
 * and any {@link Watch} may map another kind's changes to the keys it affects.
 *
 * Limitations: one finalizer per controller; `cleanUp` must be idempotent (it runs again
 * after a failed status write or finalizer removal); the finalized-uid memory is per
 * process, so a new leader whose cache lags may run one extra clean-up.
 */
import type { ParseResult } from '../crds/parse.ts';
import type { ApplyOutcome, DesiredChild, ObjectObservation, PlannedEvent } from '../reconcilers/decision.ts';
import type { KillSwitchState } from '../reconcilers/kill-switch.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import type { ControllerSpec, InformerSelector, ReconcileContext, Source, Watch } from './controller.ts';
import { FencedError, isInvalid } from './errors.ts';
import { killSwitchOf, killSwitchWatches } from './kill-switch.ts';
import type { OperatorMetrics, TrackedMemory } from './metrics.ts';
import type { ReconcileResult } from './queue/index.ts';
import type { UrgentSpec } from './urgent.ts';

/** A primary object with its status typed. */
export type ObjectWithStatus<Status> = KubeObject & { status?: Status };

/** What a wired reconcile gets: the runtime's context plus its object. */
export interface ObjectContext<T extends KubeObject> extends ReconcileContext {
  /** The object as cached (read-only: copy before changing), with the finalizer added when the controller has one. */
  readonly object: T;
  /** The freshest status known: what this term last wrote while the cache still lags behind it. */
  readonly status: T extends { status?: infer S } ? S | undefined : undefined;
  /** The kill switch on the object, its Namespace, or the operator's config. */
  readonly killSwitch: KillSwitchState;
}

/** What one clean-up attempt decided (the shell writes `status`, removes the finalizer, records `events`). */
export interface FinalizerDecision {
  readonly removeFinalizer: boolean;
  /** Status to write while the finalizer stays (undefined: leave it). */
  readonly status: Record<string, unknown> | undefined;
  readonly events: readonly PlannedEvent[];
  readonly requeueAfterMs: number | undefined;
}

/** A finalizer the controller owns, and the clean-up it guards. */
export interface Finalizer<T extends KubeObject> {
  /** The finalizer's name, e.g. `manyfold.dev/fencedlease-cleanup`. */
  readonly name: string;
  /** One clean-up attempt of a deleting object (idempotent). */
  readonly cleanUp: (ctx: ObjectContext<T>) => Promise<FinalizerDecision>;
  /** The object is no longer this controller's to clean (finalizer removed or absent): release what it held. */
  readonly released?: ((ctx: ReconcileContext) => Promise<void> | void) | undefined;
}

/** The wiring of one controller (see the module header and src/controllers/README.md). */
export interface ShellSpec<T extends KubeObject> {
  /** Controller name (metrics label, logs), e.g. `cell`. */
  readonly name: string;
  readonly for: ResourceType;
  /** Namespace of the operator's config, which carries the global kill switch. */
  readonly operatorNamespace: string;
  readonly owns?: readonly ResourceType[] | undefined;
  readonly ownsSelector?: InformerSelector | undefined;
  /** Other kinds whose changes enqueue objects of this kind (the kill-switch watches are added). */
  readonly watches?: readonly Watch[] | undefined;
  readonly sources?: readonly Source[] | undefined;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
  /** Requeue every object this often, ms (0 disables). @default 600000 */
  readonly resyncPeriodMs?: number | undefined;
  /** Registers the controller's domain metrics (runs once, when the manager adds it; `metrics.registry` for new ones). */
  readonly metrics?: ((metrics: OperatorMetrics) => void) | undefined;
  /** Bounded per-object memories, by metric label (`manyfold_memory_entries{memory}` and evictions). */
  readonly memories?: Readonly<Record<string, TrackedMemory>> | undefined;
  readonly finalizer?: Finalizer<T> | undefined;
  /** The object is gone from the cache: release per-object memory. */
  readonly gone?: ((ctx: ReconcileContext) => Promise<void> | void) | undefined;
  /** Reconciles a live object. */
  readonly reconcile: (ctx: ObjectContext<T>) => Promise<ReconcileResult | void>;
  /** Work ahead of every queue (the kill switch's publish): runtime/urgent.ts. */
  readonly urgent?: UrgentSpec | undefined;
}

/** Most uids of objects whose finalizer this process removed, remembered at once. */
export const MAX_FINALIZED_UIDS = 1024;

function objectContext<T extends KubeObject>(ctx: ReconcileContext, object: T, operatorNamespace: string): ObjectContext<T> {
  return {
    ...ctx,
    object,
    status: ctx.writer.statusOf(object) as ObjectContext<T>['status'],
    killSwitch: killSwitchOf(ctx.cache, operatorNamespace, object),
  };
}

/** The manager's {@link ControllerSpec} for a wired controller. */
export function defineController<T extends KubeObject>(spec: ShellSpec<T>): ControllerSpec {
  const finalized = new BoundedMap<string, true>({ max: MAX_FINALIZED_UIDS });
  const reconcile = async (ctx: ReconcileContext): Promise<ReconcileResult | void> => {
    const cached = ctx.cache.get<T>(spec.for, ctx.key);
    if (!cached) {
      await spec.gone?.(ctx);
      return;
    }
    const finalizer = spec.finalizer;
    if (cached.metadata.deletionTimestamp) {
      if (!finalizer) return; // children are garbage-collected with the object
      const uid = cached.metadata.uid ?? '';
      if (!(cached.metadata.finalizers ?? []).includes(finalizer.name) || finalized.has(uid)) {
        await finalizer.released?.(ctx);
        return;
      }
      const octx = objectContext(ctx, cached, spec.operatorNamespace);
      const decision = await finalizer.cleanUp(octx);
      if (decision.status) await ctx.writer.applyStatus(cached, decision.status, { signal: ctx.signal });
      if (decision.removeFinalizer) {
        await ctx.writer.removeFinalizer(spec.for, cached, finalizer.name);
        finalized.set(uid, true);
        await finalizer.released?.(ctx);
      }
      recordEvents(octx, decision.events);
      return requeueOf(decision);
    }
    const object = finalizer ? await ctx.writer.ensureFinalizer(spec.for, cached, finalizer.name) : cached;
    return spec.reconcile(objectContext(ctx, object, spec.operatorNamespace));
  };
  return {
    name: spec.name,
    for: spec.for,
    ...(spec.owns === undefined ? {} : { owns: spec.owns }),
    ...(spec.ownsSelector === undefined ? {} : { ownsSelector: spec.ownsSelector }),
    ...(spec.sources === undefined ? {} : { sources: spec.sources }),
    ...(spec.concurrency === undefined ? {} : { concurrency: spec.concurrency }),
    ...(spec.resyncPeriodMs === undefined ? {} : { resyncPeriodMs: spec.resyncPeriodMs }),
    ...(spec.urgent === undefined ? {} : { urgent: spec.urgent }),
    metrics: (metrics) => {
      metrics.trackMemory(`${spec.name}_finalized`, finalized);
      for (const [name, memory] of Object.entries(spec.memories ?? {})) metrics.trackMemory(name, memory);
      spec.metrics?.(metrics);
    },
    watches: [...killSwitchWatches(spec.for, spec.operatorNamespace), ...(spec.watches ?? [])],
    reconcile,
  };
}

/**
 * The start of every observation: the object's identity, its spec parsed at the
 * boundary with `parse` (the kind's `parseXSpec`), the freshest status and the kill switch.
 */
export function observeObject<T extends KubeObject & { spec?: unknown }, Spec>(
  ctx: ObjectContext<T>,
  parse: (spec: unknown) => ParseResult<Spec>,
): ObjectObservation<Spec, ObjectContext<T>['status'] extends infer S | undefined ? S : never> {
  const { metadata } = ctx.object;
  const parsed = parse(ctx.object.spec ?? {});
  return {
    name: metadata.name ?? '',
    namespace: metadata.namespace ?? '',
    uid: metadata.uid ?? '',
    generation: metadata.generation ?? 0,
    spec: parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: parsed.message },
    status: ctx.status,
    killSwitch: ctx.killSwitch,
  };
}

/** What {@link applyChildren} did. */
export interface AppliedChildren {
  /** By child key: applied (or skipped as current), or why not. */
  readonly outcomes: ReadonlyMap<string, ApplyOutcome>;
  /** By child key: the object the server stored, for the children actually applied. */
  readonly stored: ReadonlyMap<string, KubeObject>;
  /** The first failure that may go away by itself (thrown by {@link commit} after the status is written). */
  readonly transient: Error | undefined;
}

/**
 * Server-side applies `children` in order. A child `skip` says is current counts as
 * applied without a write. A refusal (400/422) becomes an outcome with `invalid`; any
 * other failure an outcome too, and the first is kept as `transient`; a fenced write
 * is rethrown at once (the term is over).
 */
export async function applyChildren(
  ctx: Pick<ReconcileContext, 'writer' | 'signal'>,
  children: readonly DesiredChild[],
  options: { readonly skip?: ((child: DesiredChild) => boolean) | undefined } = {},
): Promise<AppliedChildren> {
  const outcomes = new Map<string, ApplyOutcome>();
  const stored = new Map<string, KubeObject>();
  let transient: Error | undefined;
  for (const child of children) {
    if (options.skip?.(child) === true) {
      outcomes.set(child.key, { ok: true });
      continue;
    }
    try {
      stored.set(child.key, await ctx.writer.apply(child.object, { signal: ctx.signal }));
      outcomes.set(child.key, { ok: true });
    } catch (error) {
      if (error instanceof FencedError) throw error;
      const invalid = isInvalid(error);
      outcomes.set(child.key, { ok: false, invalid, message: error instanceof Error ? error.message : String(error) });
      if (!invalid) transient ??= error instanceof Error ? error : new Error(String(error));
    }
  }
  return { outcomes, stored, transient };
}

/** Fenced deletes of `objects` of `type` (NotFound is success). */
export async function deleteObjects(ctx: ReconcileContext, type: ResourceType, objects: readonly KubeObject[]): Promise<void> {
  for (const object of objects) await ctx.writer.delete(type, object);
}

/** Records `events` on the context's object. */
export function recordEvents(ctx: ObjectContext<KubeObject>, events: readonly PlannedEvent[]): void {
  for (const e of events) ctx.recorder.event(ctx.object, e.type, e.reason, e.note);
}

function requeueOf(decision: { readonly requeueAfterMs: number | undefined }): ReconcileResult | undefined {
  return decision.requeueAfterMs === undefined ? undefined : { requeueAfterMs: decision.requeueAfterMs };
}

/**
 * The end of a reconcile: writes the decision's status (skipped when unchanged), records
 * its events, then throws `transient` (so the queue backs off) or returns the
 * decision's requeue.
 *
 * @returns the requeue; `onStatusWritten` learns whether a status write happened
 */
export async function commit(
  ctx: ObjectContext<KubeObject>,
  decision: { readonly status: Record<string, unknown> | undefined; readonly events: readonly PlannedEvent[]; readonly requeueAfterMs: number | undefined },
  options: { readonly transient?: Error | undefined; readonly onStatusWritten?: ((wrote: boolean) => void) | undefined } = {},
): Promise<ReconcileResult | undefined> {
  if (decision.status !== undefined) {
    const wrote = await ctx.writer.applyStatus(ctx.object, decision.status, { signal: ctx.signal });
    options.onStatusWritten?.(wrote);
  }
  recordEvents(ctx, decision.events);
  if (options.transient !== undefined) throw options.transient;
  return requeueOf(decision);
}

/**
 * A watch that maps each object of `type` carrying `label` to the key
 * `<its namespace>/<label value>` (a child or heartbeat to the object it belongs to).
 * The informer sees only objects with the label (`selector` narrows further).
 */
export function labelWatch(type: ResourceType, label: string, selector: InformerSelector = { labelSelector: label }): Watch {
  return {
    type,
    selector,
    map: (object) => {
      const owner = object.metadata.labels?.[label];
      return owner && object.metadata.namespace ? [`${object.metadata.namespace}/${owner}`] : [];
    },
  };
}
