import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cache } from '../runtime/controller.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { placementWatches, placementsOf, type PlacementProvider } from './placements.ts';

const Map1: ResourceType = { group: 'manyfold.dev', version: 'v1alpha1', plural: 'shardmaps', kind: 'ShardMap', namespaced: true };
type Assigning = KubeObject & { status: { members: { cell: string; replicas: number }[] } };
const provider: PlacementProvider = {
  type: Map1,
  placements: (o) => new Map((o as Assigning).status.members.map((m) => [m.cell, m.replicas])),
};

/** A read-only cache over a fixed list (only what placementsOf reads). */
function cacheOf(objects: readonly Assigning[]): Cache {
  return {
    get: () => undefined,
    list: <T extends KubeObject>(_type: ResourceType, options: { namespace?: string } = {}) =>
      objects.filter((o) => options.namespace === undefined || o.metadata.namespace === options.namespace) as unknown as T[],
  };
}

const member = fc.record({ cell: fc.constantFrom('a', 'b', 'c'), replicas: fc.nat({ max: 9 }) });
const object = fc.record({ namespace: fc.constantFrom('n1', 'n2'), members: fc.uniqueArray(member, { selector: (m) => m.cell, maxLength: 3 }) });

describe('placement providers', () => {
  it("sum, per Cell, what every provider object of the Cell's namespace assigns to it", () => {
    fc.assert(
      fc.property(fc.array(object, { maxLength: 6 }), fc.constantFrom('n1', 'n2'), fc.constantFrom('a', 'b', 'c', 'd'), (specs, namespace, cell) => {
        const objects = specs.map((s, i): Assigning => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: `m${i}`, namespace: s.namespace }, status: { members: s.members } }));
        const expected = specs.filter((s) => s.namespace === namespace).reduce((n, s) => n + (s.members.find((m) => m.cell === cell)?.replicas ?? 0), 0);
        expect(placementsOf(cacheOf(objects), [provider], { namespace, name: cell })).toBe(expected);
        expect(placementsOf(cacheOf(objects), [], { namespace, name: cell })).toBe(0);
      }),
    );
  });

  it('enqueue every Cell a provider object assigns placements to, in its namespace', () => {
    const [watch] = placementWatches([provider]);
    const o: Assigning = { apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'm', namespace: 'n1' }, status: { members: [{ cell: 'a', replicas: 2 }, { cell: 'b', replicas: 0 }] } };
    expect(watch?.type).toBe(Map1);
    expect(watch?.map(o, cacheOf([]))).toEqual(['n1/a', 'n1/b']);
  });
});
