/**
 * What the FeatureFlag and Rollout controllers share: how to read the namespace's
 * flags, Rollouts and Cells from the caches, and the `kill_switch_engaged` gauge.
 */
import type { Gauge, Registry } from 'prom-client';
import { ManyfoldResources } from '../crds/index.ts';
import { parseFeatureFlagSpec, type FeatureFlagSpec, type FeatureFlagStatus } from '../crds/featureflag.ts';
import { parseRolloutSpec, type RolloutSpec, type RolloutStatus } from '../crds/rollout.ts';
import type { CellStatus } from '../crds/cell.ts';
import type { FlagEntry, RolloutEntry } from '../reconcilers/featureflag.ts';
import type { WaveCell } from '../reconcilers/rollout-waves.ts';
import type { Cache } from '../runtime/controller.ts';
import { domainGauge } from '../runtime/metrics.ts';
import type { KubeObject } from '../kube/types.ts';

export type FlagObject = KubeObject & { spec?: FeatureFlagSpec; status?: FeatureFlagStatus };
export type RolloutObject = KubeObject & { spec?: RolloutSpec; status?: RolloutStatus };
type CellObject = KubeObject & { status?: CellStatus };

export function flagEntries(cache: Cache, namespace: string, statusOf: (o: FlagObject) => FeatureFlagStatus | undefined): FlagEntry[] {
  return cache
    .list<FlagObject>(ManyfoldResources.FeatureFlag, { namespace })
    .filter((f) => f.metadata.deletionTimestamp === undefined)
    .map((f) => {
      const parsed = parseFeatureFlagSpec(f.spec ?? {});
      return {
        name: f.metadata.name ?? '',
        uid: f.metadata.uid ?? '',
        spec: parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: parsed.message },
        annotations: f.metadata.annotations,
        status: statusOf(f),
      };
    });
}

export function rolloutEntries(cache: Cache, namespace: string): RolloutEntry[] {
  return cache
    .list<RolloutObject>(ManyfoldResources.Rollout, { namespace })
    .filter((r) => r.metadata.deletionTimestamp === undefined)
    .map((r) => {
      const parsed = parseRolloutSpec(r.spec ?? {});
      return {
        name: r.metadata.name ?? '',
        creationTimestamp: r.metadata.creationTimestamp ?? '',
        spec: parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: parsed.message },
        status: r.status,
        annotations: r.metadata.annotations,
      };
    });
}

export function waveCells(cache: Cache, namespace: string): WaveCell[] {
  return cache.list<CellObject>(ManyfoldResources.Cell, { namespace }).map((c) => ({
    name: c.metadata.name ?? '',
    labels: c.metadata.labels ?? {},
    ready: (c.status?.conditions ?? []).some((cond) => cond.type === 'Ready' && cond.status === 'True'),
  }));
}

/** `kill_switch_engaged{kind, namespace, name}`: 1 while a kill switch holds the object (the scope is in its KillSwitch condition). */
export function killSwitchGauge(registry: Registry): Gauge<'kind' | 'namespace' | 'name'> {
  return domainGauge(registry, {
    name: 'kill_switch_engaged',
    help: 'Whether a kill switch holds a FeatureFlag or Rollout (1 engaged, 0 released); the KillSwitch condition names the scope',
    labelNames: ['kind', 'namespace', 'name'] as const,
  });
}
