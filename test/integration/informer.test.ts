/**
 * The informer against a real API server: it survives an API-server restart, a silent
 * (half-dead) watch connection and a watch answered 410 Gone, and ends with the final
 * state of every object.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { restartComponent } from '../../src/devcluster/cluster.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { Informer } from '../../src/runtime/informer/informer.ts';
import { adminClient, adminClientVia, eventually, testNamespace } from '../support/cluster.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

type ConfigMap = KubeObject & { data?: Record<string, string> };

const configMap = (namespace: string, name: string, value: string): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { value },
});

describe('Informer', () => {
  let client: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };

  beforeAll(async () => {
    client = await adminClient();
    ns = await testNamespace(client, 'informer');
  });
  afterAll(async () => {
    await ns.dispose();
    await client.close();
  });

  const values = (informer: Informer<ConfigMap>): Record<string, string | undefined> =>
    Object.fromEntries(informer.store.list().filter((c) => c.metadata.name?.startsWith('cm-')).map((c): [string, string | undefined] => [c.metadata.name ?? '', c.data?.['value']]));

  it('stores a paged first list page by page, each object added once, and syncs only after the last page', async () => {
    const label = 'manyfold.dev/informer-test=paged';
    await Promise.all(
      Array.from({ length: 23 }, (_, i) =>
        client.create(Resources.ConfigMap, { ...configMap(ns.name, `paged-${String(i).padStart(2, '0')}`, String(i)), metadata: { name: `paged-${String(i).padStart(2, '0')}`, namespace: ns.name, labels: { 'manyfold.dev/informer-test': 'paged' } } }),
      ),
    );
    const stop = new AbortController();
    const informer = new Informer<ConfigMap>({ client, type: Resources.ConfigMap, namespace: ns.name, labelSelector: label, pageSize: 5 });
    const adds: { name: string; synced: boolean; cached: number }[] = [];
    informer.addHandler({ onAdd: (o) => adds.push({ name: o.metadata.name ?? '', synced: informer.hasSynced(), cached: informer.store.size }) });
    const running = informer.start(stop.signal);
    try {
      await informer.waitForSync();
      expect(informer.store.size).toBe(23);
      expect(adds.map((a) => a.name).sort()).toEqual(Array.from({ length: 23 }, (_, i) => `paged-${String(i).padStart(2, '0')}`));
      // Delivered while listing (before the informer called itself synced), a page at a
      // time: the first adds saw one page cached, not the whole list.
      expect(adds.every((a) => !a.synced)).toBe(true);
      expect(adds[0]?.cached).toBe(5);
      expect(Object.isFrozen(informer.store.get(`${ns.name}/paged-00`))).toBe(true);
      // Synced, it goes on over the watch: a deletion leaves the cache, no add repeats.
      await client.delete(Resources.ConfigMap, { name: 'paged-22', namespace: ns.name });
      await eventually('paged-22 gone from the cache', async () => informer.store.get(`${ns.name}/paged-22`) === undefined);
      expect(adds).toHaveLength(23);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('recovers from a silent watch connection without missing the final state', async () => {
    const server = new URL(client.server);
    const proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port) });
    const viaProxy = await adminClientVia(proxy.port);
    const stop = new AbortController();
    const informer = new Informer<ConfigMap>({ client: viaProxy, type: Resources.ConfigMap, namespace: ns.name, silenceTimeoutMs: 3000, backoff: { initialMs: 100, maxMs: 1000 } });
    const running = informer.start(stop.signal);
    try {
      await informer.waitForSync();
      // Created after the list, so it arrives over the watch: the watch is open through the proxy.
      await client.create(Resources.ConfigMap, configMap(ns.name, 'cm-a', '1'));
      await eventually('cm-a in the cache', async () => values(informer)['cm-a'] === '1');
      expect(informer.stats.events).toBeGreaterThanOrEqual(1);
      expect(proxy.freeze()).toBeGreaterThan(0);
      // Changes made while the informer's connection is silently dead.
      await client.patch(Resources.ConfigMap, { name: 'cm-a', namespace: ns.name }, { data: { value: '2' } }, { type: 'merge' });
      await client.create(Resources.ConfigMap, configMap(ns.name, 'cm-b', '1'));
      await client.create(Resources.ConfigMap, configMap(ns.name, 'cm-c', '1'));
      await client.delete(Resources.ConfigMap, { name: 'cm-c', namespace: ns.name });
      await eventually('the final state in the cache', async () => {
        const v = values(informer);
        return v['cm-a'] === '2' && v['cm-b'] === '1' && !('cm-c' in v);
      }, { timeoutMs: 30_000 });
      expect(informer.stats.silentWatches).toBeGreaterThanOrEqual(1);
      // Cached objects are read-only.
      const cached = informer.store.get(`${ns.name}/cm-a`);
      expect(Object.isFrozen(cached)).toBe(true);
      expect(cached?.metadata.managedFields).toBeUndefined();
    } finally {
      stop.abort();
      await running;
      await viaProxy.close();
      await proxy.close();
    }
  });

  it.runIf(inject('clusterKind') === 'local')('survives an API-server restart and converges to the final state', async () => {
    const stop = new AbortController();
    const watcher = await adminClient();
    const informer = new Informer<ConfigMap>({ client: watcher, type: Resources.ConfigMap, namespace: ns.name, backoff: { initialMs: 200, maxMs: 2000 } });
    const running = informer.start(stop.signal);
    try {
      await client.apply(configMap(ns.name, 'cm-r1', 'before'), { fieldManager: 'test' });
      await client.apply(configMap(ns.name, 'cm-r2', 'before'), { fieldManager: 'test' });
      await informer.waitForSync();
      await eventually('the first objects cached', async () => values(informer)['cm-r2'] === 'before');
      const watchesBefore = informer.stats.watches;
      await restartComponent('kube-apiserver', { dir: inject('clusterDir'), downtimeMs: 1500 });
      await client.apply(configMap(ns.name, 'cm-r1', 'after'), { fieldManager: 'test' });
      await client.delete(Resources.ConfigMap, { name: 'cm-r2', namespace: ns.name });
      await client.apply(configMap(ns.name, 'cm-r3', 'new'), { fieldManager: 'test' });
      await eventually('the final state after the restart', async () => {
        const v = values(informer);
        return v['cm-r1'] === 'after' && !('cm-r2' in v) && v['cm-r3'] === 'new';
      }, { timeoutMs: 60_000 });
      // The watch the restart ended was replaced by a new one (not only the periodic relist).
      expect(informer.stats.watches).toBeGreaterThan(watchesBefore);
    } finally {
      stop.abort();
      await running;
      await watcher.close();
    }
  });

  it.runIf(inject('clusterKind') === 'local')('relists on 410 Gone after etcd was compacted past its resourceVersion, and converges', async () => {
    const stop = new AbortController();
    const watcher = await adminClient();
    const informer = new Informer<ConfigMap>({ client: watcher, type: Resources.ConfigMap, namespace: ns.name, backoff: { initialMs: 200, maxMs: 2000 } });
    const running = informer.start(stop.signal);
    try {
      await client.apply(configMap(ns.name, 'cm-g1', 'before'), { fieldManager: 'test' });
      await client.apply(configMap(ns.name, 'cm-g2', 'before'), { fieldManager: 'test' });
      await informer.waitForSync();
      await eventually('the first objects cached', async () => values(informer)['cm-g2'] === 'before');
      const informerVersion = Number(informer.lastResourceVersion);
      // A write elsewhere moves etcd past the informer's version; then compact up to it.
      await client.apply(configMap('default', `informer-gone-${ns.name}`, String(Date.now())), { fieldManager: 'test' });
      const compactedTo = await compactEtcd(inject('etcdEndpoint'));
      expect(compactedTo).toBeGreaterThan(informerVersion);
      const goneBefore = informer.stats.goneRelists;
      // The API server's watch cache would serve the old version from memory; a restart
      // empties it, so the informer's next watch meets the compacted revision: 410 Gone.
      await restartComponent('kube-apiserver', { dir: inject('clusterDir'), downtimeMs: 500 });
      await client.apply(configMap(ns.name, 'cm-g1', 'after'), { fieldManager: 'test' });
      await client.delete(Resources.ConfigMap, { name: 'cm-g2', namespace: ns.name });
      await client.apply(configMap(ns.name, 'cm-g3', 'new'), { fieldManager: 'test' });
      await eventually('the final state after 410 Gone', async () => {
        const v = values(informer);
        return v['cm-g1'] === 'after' && !('cm-g2' in v) && v['cm-g3'] === 'new';
      }, { timeoutMs: 60_000 });
      expect(informer.stats.goneRelists, 'watches answered 410 Gone, then relisted').toBeGreaterThan(goneBefore);
      expect(Number(informer.lastResourceVersion)).toBeGreaterThan(compactedTo);
    } finally {
      stop.abort();
      await running;
      await watcher.close();
      await client.deleteIfExists(Resources.ConfigMap, { name: `informer-gone-${ns.name}`, namespace: 'default' });
    }
  });
});

/** Compacts etcd (its JSON gateway) up to its current revision; returns that revision. */
async function compactEtcd(endpoint: string): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  const status = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = Number(status.header?.revision ?? 0);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
