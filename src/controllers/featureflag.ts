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
 * Kill switch: a flip of the global switch (and the first reconcile of a new leader)
 * publishes every namespace whose documents differ before anything else, in parallel, so
 * no namespace waits for one of its flags to come up in the queue; a Namespace or flag
 * switch is published by the first reconcile of any flag of that namespace. After a
 * failover the new leader decides from the caches it warmed as a follower, so the safe
 * variant is what it publishes first.
 *
 * Limitations: the ConfigMap a reconcile wrote is remembered per namespace (bounded) until
 * the cache shows it; a write refused with Conflict is retried with backoff.
 */
import { ManyfoldResources } from '../crds/index.ts';
import type { FeatureFlagStatus } from '../crds/featureflag.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { FLAGS_CONFIGMAP, FLAGS_VERSION_ANNOTATION } from '../legos/flagd/sources.ts';
import { FlagsLabel, reconcileFeatureFlag, type FeatureFlagDecision, type FeatureFlagObservation } from '../reconcilers/featureflag.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import type { Cache, ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { OperatorConfigMap, keyOfObject, operatorConfigSelector } from '../runtime/kill-switch.ts';
import { applyChildren, commit, defineController } from '../runtime/shell.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { flagEntries, killSwitchGauge, rolloutEntries, waveCells, type FlagObject } from './flags-shared.ts';

type ConfigMapObject = KubeObject & { data?: Record<string, string> };
const published = { labelSelector: FlagsLabel };
/** Namespaces whose last written ConfigMap is remembered. */
const MaxRememberedNamespaces = 10_000;

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

  function observe(ctx: ReconcileContext, namespace: string, flag: FlagObject | undefined, status: FeatureFlagStatus | undefined): FeatureFlagObservation {
    const cm = publishedOf(ctx.cache, namespace);
    const version = Number(cm?.metadata.annotations?.[FLAGS_VERSION_ANNOTATION]);
    return {
      namespace,
      flag: flag === undefined ? undefined : { name: ctx.name, generation: flag.metadata.generation ?? 0 },
      flags: flagEntries(ctx.cache, namespace, (f) => (f.metadata.name === ctx.name ? status : ctx.writer.statusOf(f))),
      namespaceAnnotations: ctx.cache.get(Resources.Namespace, namespace)?.metadata.annotations,
      globalAnnotations: globalAnnotations(ctx.cache),
      rollouts: rolloutEntries(ctx.cache, namespace),
      cells: waveCells(ctx.cache, namespace),
      published: cm === undefined ? undefined : { data: cm.data ?? {}, version: Number.isFinite(version) ? version : 0, resourceVersion: cm.metadata.resourceVersion },
    };
  }

  async function publish(ctx: ReconcileContext, namespace: string, decision: FeatureFlagDecision): Promise<void> {
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
   * The global kill switch affects every namespace: the first reconcile after it flips
   * (or the first of a new leader) publishes the documents of every namespace whose
   * published documents differ, before its own flag's status, instead of leaving each
   * namespace to wait for one of its flags to come up in the queue.
   */
  let publishedGlobal: boolean | undefined;
  async function publishEverywhereOnGlobalFlip(ctx: ReconcileContext): Promise<void> {
    const engaged = killSwitchState({ object: undefined, namespace: undefined, global: globalAnnotations(ctx.cache) }).engaged;
    if (engaged === publishedGlobal) return;
    const namespaces = [...new Set(ctx.cache.list(ManyfoldResources.FeatureFlag).map((f) => f.metadata.namespace ?? ''))].sort();
    await Promise.all(
      namespaces.map(async (namespace) => {
        const decision = reconcileFeatureFlag(observe(ctx, namespace, undefined, undefined), ctx.clock.now());
        if (decision.apply.length > 0) await publish(ctx, namespace, decision);
      }),
    );
    publishedGlobal = engaged;
    ctx.log.info({ event: engaged ? 'kill_switch_engaged' : 'kill_switch_released', scope: 'global', namespaces: namespaces.length }, 'global kill switch published in every namespace');
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
    gone: async (ctx) => {
      const namespace = ctx.namespace ?? '';
      await publish(ctx, namespace, reconcileFeatureFlag(observe(ctx, namespace, undefined, undefined), ctx.clock.now()));
    },
    reconcile: async (ctx) => {
      await publishEverywhereOnGlobalFlip(ctx);
      const namespace = ctx.namespace ?? '';
      const decision = reconcileFeatureFlag(observe(ctx, namespace, ctx.object, ctx.status), ctx.clock.now());
      ctx.log.debug({ event: 'featureflag_planned', reason: decision.reason }, 'planned');
      await publish(ctx, namespace, decision);
      return commit(ctx, decision);
    },
  });
}
