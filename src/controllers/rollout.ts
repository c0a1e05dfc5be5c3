/**
 * RolloutController: the wiring of the pure Rollout decider (reconcilers/rollout.ts)
 * on the controller shell. A reconcile reads the Rollout, its FeatureFlag, the other
 * Rollouts of that flag and the namespace's Cells from the caches; when the current
 * analysis step is due a measurement, it runs the Prometheus query (the only outside
 * call) and passes the result to the decider; then writes status and records events.
 * The FeatureFlag controller publishes the weights this status reports.
 *
 * Wake-ups: the Rollout; its FeatureFlag (created, deleted, kill switch); other
 * Rollouts of the namespace (a conflict clears when the older one goes); Cells
 * (health, waves); kill switches on the Namespace and the operator config (the shell);
 * the decider's timer (pauses, bake times, measurement intervals).
 *
 * Limitations: a measurement is taken inside the reconcile (timeout 5 s), so a slow
 * Prometheus holds one worker for that long.
 */
import { ManyfoldResources } from '../crds/index.ts';
import { parseFeatureFlagSpec } from '../crds/featureflag.ts';
import { parseRolloutSpec } from '../crds/rollout.ts';
import { queryPrometheus } from '../legos/prometheus.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import { pendingMeasurement, reconcileRollout, type RolloutObservation } from '../reconcilers/rollout.ts';
import type { Cache, ControllerSpec } from '../runtime/controller.ts';
import { keyOfObject } from '../runtime/kill-switch.ts';
import { domainGauge } from '../runtime/metrics.ts';
import { commit, defineController, observeObject } from '../runtime/shell.ts';
import { killSwitchGauge, waveCells, type FlagObject, type RolloutObject } from './flags-shared.ts';

export interface RolloutControllerOptions {
  readonly operatorNamespace: string;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
  /** Timeout of one Prometheus query, ms. @default 5000 */
  readonly queryTimeoutMs?: number | undefined;
}

function rolloutsOf(namespace: string, cache: Cache, flag?: string): string[] {
  return cache
    .list<RolloutObject>(ManyfoldResources.Rollout, { namespace })
    .filter((r) => flag === undefined || r.spec?.flagRef?.name === flag)
    .map(keyOfObject);
}

export function rolloutController(options: RolloutControllerOptions): ControllerSpec {
  let killGauge: ReturnType<typeof killSwitchGauge> | undefined;
  let weightGauge: ReturnType<typeof domainGauge<'namespace' | 'name' | 'wave'>> | undefined;
  return defineController<RolloutObject>({
    name: 'rollout',
    for: ManyfoldResources.Rollout,
    operatorNamespace: options.operatorNamespace,
    concurrency: options.concurrency ?? 4,
    metrics: ({ registry }) => {
      killGauge = killSwitchGauge(registry);
      weightGauge = domainGauge(registry, { name: 'rollout_weight', help: 'Percent of targeting keys served the rolled-out variant, per wave', labelNames: ['namespace', 'name', 'wave'] as const });
    },
    watches: [
      { type: ManyfoldResources.FeatureFlag, map: (f, cache) => rolloutsOf(f.metadata.namespace ?? '', cache, f.metadata.name) },
      { type: ManyfoldResources.Rollout, map: (r, cache) => rolloutsOf(r.metadata.namespace ?? '', cache, (r as RolloutObject).spec?.flagRef?.name) },
      { type: ManyfoldResources.Cell, map: (c, cache) => rolloutsOf(c.metadata.namespace ?? '', cache) },
    ],
    gone: (ctx) => {
      weightGauge?.remove({ namespace: ctx.namespace ?? '', name: ctx.name, wave: '0' });
    },
    reconcile: async (ctx) => {
      const namespace = ctx.namespace ?? '';
      const base = observeObject(ctx, parseRolloutSpec);
      const flagName = base.spec.ok ? base.spec.value.flagRef.name : undefined;
      const flag = flagName === undefined ? undefined : ctx.cache.get<FlagObject>(ManyfoldResources.FeatureFlag, `${namespace}/${flagName}`);
      const parsedFlag = flag === undefined ? undefined : parseFeatureFlagSpec(flag.spec ?? {});
      let observation: RolloutObservation = {
        ...base,
        creationTimestamp: ctx.object.metadata.creationTimestamp ?? '',
        annotations: ctx.object.metadata.annotations ?? {},
        flag:
          flag === undefined || parsedFlag === undefined
            ? undefined
            : {
                spec: parsedFlag.ok ? { ok: true, value: parsedFlag.value } : { ok: false, message: parsedFlag.message },
                killSwitch: killSwitchState({ object: flag.metadata.annotations, namespace: undefined, global: undefined }).engaged,
              },
        rivals: ctx.cache
          .list<RolloutObject>(ManyfoldResources.Rollout, { namespace })
          .filter((r) => r.metadata.name !== ctx.name && r.metadata.deletionTimestamp === undefined && r.spec?.flagRef?.name === flagName)
          .map((r) => ({ name: r.metadata.name ?? '', creationTimestamp: r.metadata.creationTimestamp ?? '' })),
        cells: waveCells(ctx.cache, namespace),
      };
      const now = ctx.clock.now();
      const due = pendingMeasurement(observation, now);
      if (due !== undefined) {
        const measurement = await queryPrometheus(due.address, due.query, { timeoutMs: options.queryTimeoutMs ?? 5000, signal: ctx.signal });
        ctx.log.info({ event: 'analysis_measured', query: due.query, ...measurement }, 'analysis measurement');
        observation = { ...observation, measurement };
      }
      const decision = reconcileRollout(observation, now);
      ctx.log.debug({ event: 'rollout_planned', reason: decision.reason }, 'planned');
      const result = await commit(ctx, decision);
      const killed = base.killSwitch.engaged || observation.flag?.killSwitch === true;
      killGauge?.set({ kind: 'Rollout', namespace, name: ctx.name }, killed ? 1 : 0);
      for (const [i, w] of (decision.status?.waves ?? []).entries()) weightGauge?.set({ namespace, name: ctx.name, wave: String(i) }, w.weight);
      return result;
    },
  });
}
