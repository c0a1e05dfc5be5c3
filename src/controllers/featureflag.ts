/**
 * FeatureFlagController: the wiring of the pure FeatureFlag decider
 * (reconcilers/featureflag.ts) on the controller shell. A flag's reconcile reads every
 * flag, Rollout and Cell of its namespace and the published ConfigMap from the caches,
 * applies ConfigMap `manyfold-flags` when the documents changed (with the cached
 * resourceVersion as a precondition, so two replicas or two workers never publish two
 * contents under one version), then writes the flag's status and records events.
 *
 * Wake-ups: the flag; any Rollout of its namespace (a step, a kill switch on it); Cells
 * (per-Cell documents); the published ConfigMap (every flag of the namespace updates its
 * `status.version`); kill switches on the Namespace and the operator config (the shell).
 * A deleted flag's key republishes the namespace without it.
 *
 * Kill switch, ahead of the queue (the controller's `urgent` work, runtime/urgent.ts): a
 * flip of the switch on the operator's config, a Namespace, a flag or a Rollout, and the
 * start of every term (right after the epoch is enforced), decide and publish the
 * documents of every affected namespace at once: one fenced ConfigMap write per
 * namespace, in parallel, while every controller's reconciles wait; flag statuses,
 * Rollout pauses and their Events come from the queue after that burst. A new leader
 * decides from the caches it warmed as a follower, so the safe variant is the first
 * thing it writes.
 *
 * Limitations: the ConfigMap a reconcile wrote is remembered per namespace (bounded) until
 * the cache shows it; a reconcile's write refused with Conflict is retried with backoff,
 * the urgent path's at once (up to 4 attempts) over the ConfigMap read from the API
 * server. Reconciles already running when a switch flips are not stopped: their writes
 * and Events may land during the urgent burst.
 */
import { ManyfoldResources } from '../crds/index.ts';
import type { FeatureFlagStatus } from '../crds/featureflag.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { FLAGS_CONFIGMAP, FLAGS_VERSION_ANNOTATION } from '../legos/flagd/sources.ts';
import { FlagsLabel, reconcileFeatureFlag, type FeatureFlagDecision, type FeatureFlagObservation } from '../reconcilers/featureflag.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import type { Cache, ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { FencedError } from '../runtime/errors.ts';
import { OperatorConfigMap, keyOfObject, killSwitchTriggers, operatorConfigSelector } from '../runtime/kill-switch.ts';
import { applyChildren, commit, defineController } from '../runtime/shell.ts';
import type { UrgentContext, UrgentScope } from '../runtime/urgent.ts';
import { isConflict } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { flagEntries, killSwitchGauge, rolloutEntries, waveCells, type FlagObject } from './flags-shared.ts';

type ConfigMapObject = KubeObject & { data?: Record<string, string> };
const published = { labelSelector: FlagsLabel };
/** Namespaces whose last written ConfigMap is remembered. */
const MaxRememberedNamespaces = 10_000;
/** Namespaces the urgent kill-switch path publishes at once. */
const MaxParallelPublishes = 32;
/** Attempts of one urgent publish that meets a Conflict. */
const MaxUrgentAttempts = 4;

/** Runs `work` over `items`, at most `limit` at a time; rejects with the first failure. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface FeatureFlagControllerOptions {
  readonly operatorNamespace: string;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
}

interface Written {
  /** resourceVersion the cache showed when we wrote over it. */
  readonly over: string | undefined;
  readonly stored: ConfigMapObject;
}

function allFlagsOf(namespace: string, cache: Cache): string[] {
  return cache.list(ManyfoldResources.FeatureFlag, { namespace }).map(keyOfObject);
}

function lagging(cm: KubeObject, cache: Cache): string[] {
  const version = Number(cm.metadata.annotations?.[FLAGS_VERSION_ANNOTATION] ?? 0);
  return cache
    .list<FlagObject>(ManyfoldResources.FeatureFlag, { namespace: cm.metadata.namespace ?? '' })
    .filter((f) => f.status?.version !== version)
    .map(keyOfObject);
}

export function featureFlagController(options: FeatureFlagControllerOptions): ControllerSpec {
  const written = new BoundedMap<string, Written>({ max: MaxRememberedNamespaces });
  let gauge: ReturnType<typeof killSwitchGauge> | undefined;

  function publishedOf(cache: Cache, namespace: string): ConfigMapObject | undefined {
    const cached = cache.get<ConfigMapObject>(Resources.ConfigMap, `${namespace}/${FLAGS_CONFIGMAP}`, published);
    const mine = written.get(namespace);
    if (mine !== undefined && mine.over === cached?.metadata.resourceVersion) return mine.stored;
    if (mine !== undefined) written.delete(namespace);
    return cached;
  }

  function globalAnnotations(cache: Cache) {
    return cache.get(Resources.ConfigMap, `${options.operatorNamespace}/${OperatorConfigMap}`, operatorConfigSelector(options.operatorNamespace))?.metadata.annotations;
  }

  /**
   * The namespace's observation from the caches. `flag` is the reconciled flag (undefined:
   * only the namespace documents are decided); `fresh` replaces the cached ConfigMap (read
   * from the API server after a Conflict).
   */
  function observe(view: Pick<ReconcileContext, 'cache' | 'writer'>, namespace: string, flag: { name: string; object: FlagObject; status: FeatureFlagStatus | undefined } | undefined, fresh?: ConfigMapObject): FeatureFlagObservation {
    const cm = fresh ?? publishedOf(view.cache, namespace);
    const version = Number(cm?.metadata.annotations?.[FLAGS_VERSION_ANNOTATION]);
    return {
      namespace,
      flag: flag === undefined ? undefined : { name: flag.name, generation: flag.object.metadata.generation ?? 0 },
      flags: flagEntries(view.cache, namespace, (f) => (flag !== undefined && f.metadata.name === flag.name ? flag.status : view.writer.statusOf(f))),
      namespaceAnnotations: view.cache.get(Resources.Namespace, namespace)?.metadata.annotations,
      globalAnnotations: globalAnnotations(view.cache),
      rollouts: rolloutEntries(view.cache, namespace),
      cells: waveCells(view.cache, namespace),
      published: cm === undefined ? undefined : { data: cm.data ?? {}, version: Number.isFinite(version) ? version : 0, resourceVersion: cm.metadata.resourceVersion },
    };
  }

  async function publish(ctx: Pick<ReconcileContext, 'cache' | 'writer' | 'signal' | 'log'>, namespace: string, decision: FeatureFlagDecision): Promise<void> {
    const before = ctx.cache.get<ConfigMapObject>(Resources.ConfigMap, `${namespace}/${FLAGS_CONFIGMAP}`, published);
    const applied = await applyChildren(ctx, decision.apply);
    if (applied.transient !== undefined) throw applied.transient; // nothing published: no status claims it
    const failed = [...applied.outcomes.values()].find((o) => !o.ok);
    if (failed !== undefined && !failed.ok) throw new Error(`publishing ConfigMap ${namespace}/${FLAGS_CONFIGMAP} refused: ${failed.message}`);
    const stored = [...applied.stored.values()][0];
    let engaged = 0;
    for (const [name, kill] of decision.killSwitches) {
      gauge?.set({ kind: 'FeatureFlag', namespace, name }, kill.engaged ? 1 : 0);
      if (kill.engaged) engaged++;
    }
    if (stored !== undefined) {
      written.set(namespace, { over: before?.metadata.resourceVersion, stored: stored });
      // One line per publish (not per flag): under a global switch this runs once per namespace.
      ctx.log.info({ event: engaged > 0 ? 'kill_switch_engaged' : 'flags_published', namespace, version: decision.version, flags: decision.killSwitches.size, killSwitched: engaged }, 'flag documents published');
    }
  }

  /**
   * The urgent publish of one namespace's documents (decided from the caches, flag
   * statuses left to the queue). A Conflict (a reconcile that was already running wrote
   * first) is retried at once over the ConfigMap read from the API server.
   */
  async function publishNow(ctx: UrgentContext, namespace: string): Promise<boolean> {
    let fresh: ConfigMapObject | undefined;
    for (let attempt = 1; ; attempt++) {
      const decision = reconcileFeatureFlag(observe(ctx, namespace, undefined, fresh), ctx.clock.now());
      if (decision.apply.length === 0) return false;
      try {
        await publish(ctx, namespace, decision);
        return true;
      } catch (error) {
        if (!isConflict(error) || attempt >= MaxUrgentAttempts) throw error;
        fresh = await ctx.client.getOrUndefined<ConfigMapObject>(Resources.ConfigMap, FLAGS_CONFIGMAP, namespace);
      }
    }
  }

  /**
   * Kill-switch enforcement ahead of every queue (runtime/urgent.ts): on a flip of the
   * switch on the operator's config, a Namespace, a flag or a Rollout, and first thing in
   * every term, the documents of every affected namespace are decided and published at
   * once, one write per namespace, in parallel (at most 32 at a time); statuses, Rollout
   * pauses and Events follow from the queue.
   */
  async function enforce(ctx: UrgentContext, scope: UrgentScope): Promise<void> {
    const started = ctx.clock.monotonic();
    const namespaces = scope.all ? [...new Set(ctx.cache.list(ManyfoldResources.FeatureFlag).map((f) => f.metadata.namespace ?? ''))].sort() : [...scope.namespaces].sort();
    let wrote = 0;
    let failed = 0;
    await inParallel(namespaces, MaxParallelPublishes, async (namespace) => {
      try {
        if (await publishNow(ctx, namespace)) wrote++;
      } catch (error) {
        if (error instanceof FencedError) throw error;
        failed++;
        ctx.log.warn({ event: 'kill_switch_publish_failed', namespace, err: error instanceof Error ? error.message : String(error) }, 'urgent publish failed; the queue retries');
      }
    });
    const global = killSwitchState({ object: undefined, namespace: undefined, global: globalAnnotations(ctx.cache) }).engaged;
    ctx.log.info(
      { event: 'kill_switch_enforced', scope: scope.all ? 'all' : 'namespaces', global, namespaces: namespaces.length, published: wrote, failed, ms: Math.round(ctx.clock.monotonic() - started) },
      'kill switches enforced ahead of the queue',
    );
  }

  return defineController<FlagObject>({
    name: 'featureflag',
    for: ManyfoldResources.FeatureFlag,
    operatorNamespace: options.operatorNamespace,
    concurrency: options.concurrency ?? 4,
    metrics: ({ registry }) => {
      gauge = killSwitchGauge(registry);
    },
    memories: { featureflag_published_configmaps: written },
    watches: [
      // A Rollout changes only its own flag's definition (that flag's reconcile republishes the namespace).
      { type: ManyfoldResources.Rollout, map: (r) => ((r as { spec?: { flagRef?: { name?: string } } }).spec?.flagRef?.name ? [`${r.metadata.namespace ?? ''}/${(r as { spec?: { flagRef?: { name?: string } } }).spec?.flagRef?.name ?? ''}`] : []) },
      { type: ManyfoldResources.Cell, map: (c, cache) => allFlagsOf(c.metadata.namespace ?? '', cache) },
      // A new version: the flags whose status.version lags it (and flags that are not in it yet).
      { type: Resources.ConfigMap, selector: published, map: (cm, cache) => lagging(cm, cache) },
    ],
    urgent: { triggers: killSwitchTriggers(options.operatorNamespace, [ManyfoldResources.FeatureFlag, ManyfoldResources.Rollout]), run: enforce },
    gone: async (ctx) => {
      const namespace = ctx.namespace ?? '';
      await publish(ctx, namespace, reconcileFeatureFlag(observe(ctx, namespace, undefined), ctx.clock.now()));
    },
    reconcile: async (ctx) => {
      const namespace = ctx.namespace ?? '';
      const decision = reconcileFeatureFlag(observe(ctx, namespace, { name: ctx.name, object: ctx.object, status: ctx.status }), ctx.clock.now());
      ctx.log.debug({ event: 'featureflag_planned', reason: decision.reason }, 'planned');
      await publish(ctx, namespace, decision);
      return commit(ctx, decision);
    },
  });
}
