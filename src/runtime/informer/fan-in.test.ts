import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { NamespacedInformers } from './fan-in.ts';
import { Informer } from './informer.ts';

// Members are never started here: the fan-in's reads and subscriptions are pure over their stores.
const unusedClient = {} as KubeClient;
const member = (namespace: string) => new Informer({ client: unusedClient, type: Resources.ConfigMap, namespace });
const cm = (namespace: string, name: string, app: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, resourceVersion: '1', labels: { app } } });

describe('NamespacedInformers', () => {
  function twoNamespaces() {
    const a = member('a');
    const b = member('b');
    a.store.upsert(cm('a', 'one', 'x'));
    a.store.upsert(cm('a', 'two', 'y'));
    b.store.upsert(cm('b', 'one', 'x'));
    return { a, b, view: new NamespacedInformers(new Map([['a', a], ['b', b]])) };
  }

  it('reads each key from its namespace and lists across all of them', () => {
    const { view } = twoNamespaces();
    expect(view.store.size).toBe(3);
    expect(view.store.get('a/one')?.metadata.namespace).toBe('a');
    expect(view.store.get('b/one')?.metadata.namespace).toBe('b');
    expect(view.store.get('b/two')).toBeUndefined();
    expect(view.store.get('c/one')).toBeUndefined();
    expect(view.store.get('one')).toBeUndefined();
    expect(view.store.keys().sort()).toEqual(['a/one', 'a/two', 'b/one']);
    expect(view.store.list()).toHaveLength(3);
    expect(view.store.byIndex('namespace', 'a').map((o) => o.metadata.name).sort()).toEqual(['one', 'two']);
    expect(view.store.byIndex('namespace', 'c')).toEqual([]);
    expect(view.store.byIndex('label', 'app=x').map((o) => o.metadata.namespace).sort()).toEqual(['a', 'b']);
  });

  it('subscribes a handler to every namespace (existing objects replayed) and syncs only when all have', () => {
    const { view } = twoNamespaces();
    const added: string[] = [];
    view.addHandler({ onAdd: (o) => added.push(`${o.metadata.namespace}/${o.metadata.name}`) });
    expect(added.sort()).toEqual(['a/one', 'a/two', 'b/one']);
    expect(view.hasSynced()).toBe(false);
    expect(view.namespaces).toEqual(['a', 'b']);
    expect(view.stats.lists).toBe(0);
  });

  it('needs at least one namespace', () => {
    expect(() => new NamespacedInformers(new Map())).toThrow(/at least one namespace/);
  });
});
