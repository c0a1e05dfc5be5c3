import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../kube/types.ts';
import { Store, keyOf, selectedLabelKeys } from './store.ts';

const objectArb = fc.record({
  name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  namespace: fc.constantFrom('n1', 'n2'),
  rv: fc.integer({ min: 1, max: 4 }),
  owner: fc.constantFrom('u1', 'u2', undefined),
  label: fc.constantFrom('x', 'y', undefined),
}).map(({ name, namespace, rv, owner, label }): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace,
    resourceVersion: String(rv),
    ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: owner }] } : {}),
    ...(label ? { labels: { app: label } } : {}),
  },
}));

const dedupe = (objects: KubeObject[]) => [...new Map(objects.map((o) => [keyOf(o), o])).values()];

describe('Store', () => {
  it('replace() reports exactly the real changes and leaves the store equal to the list', () => {
    fc.assert(
      fc.property(fc.array(objectArb, { maxLength: 10 }), fc.array(objectArb, { maxLength: 10 }), (first, second) => {
        const store = new Store();
        store.replace(dedupe(first).map((o) => structuredClone(o)));
        const before = new Map(store.list().map((o) => [keyOf(o), o.metadata.resourceVersion]));
        const next = dedupe(second);
        const deltas = store.replace(next.map((o) => structuredClone(o)));
        const after = new Map(next.map((o) => [keyOf(o), o.metadata.resourceVersion]));
        expect(new Map(store.list().map((o) => [keyOf(o), o.metadata.resourceVersion]))).toEqual(after);
        for (const [key, rv] of after) {
          const delta = deltas.find((d) => keyOf(d.object) === key);
          if (!before.has(key)) expect(delta?.type).toBe('add');
          else if (before.get(key) !== rv) expect(delta?.type).toBe('update');
          else expect(delta).toBeUndefined(); // a relist is not an update
        }
        for (const key of before.keys()) if (!after.has(key)) expect(deltas.find((d) => keyOf(d.object) === key)?.type).toBe('delete');
      }),
    );
  });

  it('keeps its indexes consistent with its content through any sequence of upserts and removes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), objectArb), { maxLength: 40 }), (ops) => {
        const store = new Store();
        for (const [remove, object] of ops) {
          if (remove) store.remove(object);
          else store.upsert(structuredClone(object));
        }
        for (const uid of ['u1', 'u2']) {
          expect(store.byIndex('owner', uid).map(keyOf).sort()).toEqual(store.list().filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === uid)).map(keyOf).sort());
        }
        for (const ns of ['n1', 'n2']) expect(store.byIndex('namespace', ns).length).toBe(store.list().filter((o) => o.metadata.namespace === ns).length);
        expect(store.byIndex('label', 'app=x').length).toBe(store.list().filter((o) => o.metadata.labels?.['app'] === 'x').length);
      }),
    );
  });

  it('hands out frozen objects', () => {
    const store = new Store();
    store.upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n', resourceVersion: '1', labels: { a: 'b' } } });
    const cached = store.get('n/a');
    expect(() => {
      (cached as KubeObject).metadata.labels = {};
    }).toThrow(TypeError);
    expect(Object.isFrozen(cached?.metadata.labels)).toBe(true);
  });
});

describe('label index keys', () => {
  it('reads the keys a selector requires, and none from terms it cannot use', () => {
    expect(selectedLabelKeys(undefined)).toBeUndefined();
    expect(selectedLabelKeys('')).toBeUndefined();
    expect(selectedLabelKeys('manyfold.dev/cell')).toEqual(['manyfold.dev/cell']);
    expect(selectedLabelKeys('app=web, tier==backend')).toEqual(['app', 'tier']);
    expect(selectedLabelKeys('zone in (a, b),app')).toEqual(['zone', 'app']);
    expect(selectedLabelKeys('app!=web')).toBeUndefined();
    expect(selectedLabelKeys('!app')).toBeUndefined();
    expect(selectedLabelKeys('zone notin (a)')).toBeUndefined();
  });

  it('indexes only the given keys when told to', () => {
    const store = new Store<KubeObject>({}, { labelKeys: ['manyfold.dev/cell'] });
    store.upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n', resourceVersion: '1', labels: { 'manyfold.dev/cell': 'shop', app: 'web' } } });
    expect(store.byIndex('label', 'manyfold.dev/cell=shop').map((o) => o.metadata.name)).toEqual(['a']);
    expect(store.byIndex('label', 'app=web')).toEqual([]);
    const all = new Store<KubeObject>();
    all.upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'n', resourceVersion: '1', labels: { app: 'web' } } });
    expect(all.byIndex('label', 'app=web')).toHaveLength(1);
  });
});
