/**
 * Placement providers: the kinds whose objects assign placements (e.g. shard replicas)
 * to Cells, declared to the Cell controller so that Cells are enqueued by watch, not
 * pulled at resync. `status.placements` of a Cell is the sum, over every provider and
 * every object of its kind in the Cell's namespace, of what that object assigns to the
 * Cell; a Draining Cell turns Drained as soon as the last provider object stops
 * assigning it anything (its informer event enqueues the Cell, old and new version).
 *
 * How ShardMap plugs in: its controller publishes per-Cell replica counts in its own
 * status (e.g. `status.members[].{cell, replicas}`), and `registerControllers` passes
 * `placementProviders: [shardMapPlacements]` to `cellController`, where
 *
 *     const shardMapPlacements: PlacementProvider = {
 *       type: ManyfoldResources.ShardMap,
 *       placements: (map) => new Map(((map as ShardMapObject).status?.members ?? []).map((m) => [m.cell, m.replicas ?? 0])),
 *     };
 *
 * Nothing else changes in the Cell controller or decider. A provider reads only what
 * its kind already publishes; it must be pure and cheap (it runs on every event of its
 * kind and for every Cell reconcile of that namespace).
 *
 * Limitations: providers see their objects through the informer cache, so a Cell's count
 * trails a provider's status write by the watch latency; a provider's kind must be
 * installed (its CRD), or the manager's caches never sync.
 */
import type { Cache, InformerSelector, Watch } from '../runtime/controller.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';

/** A kind whose objects assign placements to the Cells of their namespace. */
export interface PlacementProvider {
  readonly type: ResourceType;
  /** Narrows the provider's informer. */
  readonly selector?: InformerSelector | undefined;
  /** Placements `object` assigns, by Cell name (Cells of the object's namespace). */
  readonly placements: (object: KubeObject) => ReadonlyMap<string, number>;
}

/** Watches that enqueue every Cell a provider object assigns placements to (before and after a change). */
export function placementWatches(providers: readonly PlacementProvider[]): Watch[] {
  return providers.map((provider) => ({
    type: provider.type,
    ...(provider.selector === undefined ? {} : { selector: provider.selector }),
    map: (object) => [...provider.placements(object).keys()].map((cell) => `${object.metadata.namespace ?? ''}/${cell}`),
  }));
}

/** Placements assigned to the Cell `namespace/name` by every provider (0 without any). */
export function placementsOf(cache: Cache, providers: readonly PlacementProvider[], cell: { readonly namespace: string; readonly name: string }): number {
  let total = 0;
  for (const provider of providers) {
    const selector = provider.selector === undefined ? {} : { selector: provider.selector };
    for (const object of cache.list(provider.type, { namespace: cell.namespace, ...selector })) total += provider.placements(object).get(cell.name) ?? 0;
  }
  return total;
}
