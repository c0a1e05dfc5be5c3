/**
 * The informer against a real API server: it survives an API-server restart and a
 * silent (half-dead) watch connection, and ends with the final state of every object.
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
      const errorsBefore = informer.stats.errors + informer.stats.goneRelists;
      await restartComponent('kube-apiserver', { dir: inject('clusterDir'), downtimeMs: 1500 });
      await client.apply(configMap(ns.name, 'cm-r1', 'after'), { fieldManager: 'test' });
      await client.delete(Resources.ConfigMap, { name: 'cm-r2', namespace: ns.name });
      await client.apply(configMap(ns.name, 'cm-r3', 'new'), { fieldManager: 'test' });
      await eventually('the final state after the restart', async () => {
        const v = values(informer);
        return v['cm-r1'] === 'after' && !('cm-r2' in v) && v['cm-r3'] === 'new';
      }, { timeoutMs: 60_000 });
      expect(informer.stats.watches).toBeGreaterThanOrEqual(2);
      expect(informer.stats.errors + informer.stats.goneRelists).toBeGreaterThanOrEqual(errorsBefore);
    } finally {
      stop.abort();
      await running;
      await watcher.close();
    }
  });
});
