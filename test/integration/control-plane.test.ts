/**
 * The test bed itself: the local control plane serves the real Kubernetes release,
 * accepts a CRD, streams watch events, runs Deployments to Ready on kwok nodes, and
 * gives the operator identity no more than RBAC grants.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Versions } from '../../src/devcluster/assets.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { watchEvents, type WatchEvent } from '../../src/kube/watch.ts';
import { adminClient, eventually, operatorClient, testNamespace } from '../support/cluster.ts';

const Widget: ResourceType = { group: 'test.manyfold.dev', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.manyfold.dev' },
  spec: {
    group: 'test.manyfold.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } }, required: ['size'] },
              status: { type: 'object', properties: { seen: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

describe('local control plane', () => {
  let client: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };

  beforeAll(async () => {
    client = await adminClient();
    ns = await testNamespace(client, 'testbed');
  });

  afterAll(async () => {
    await ns.dispose();
    await client.close();
  });

  it('serves the real Kubernetes version', async () => {
    const version = await client.request<{ gitVersion: string; major: string; minor: string }>({ method: 'GET', path: '/version' });
    if (inject('clusterKind') === 'local') {
      expect(version.gitVersion).toBe(Versions.kubernetes);
    }
    expect(Number(version.major)).toBeGreaterThanOrEqual(1);
    expect(Number.parseInt(version.minor, 10)).toBeGreaterThanOrEqual(30);
  });

  it('installs a CRD, validates, creates and watches an object', async () => {
    await client.apply(widgetCrd, { fieldManager: 'manyfold-test' });
    await eventually('the CRD to be Established', async () => {
      const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
        Resources.CustomResourceDefinition,
        'widgets.test.manyfold.dev',
      );
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    // The schema is enforced by the real API server.
    const invalid = await client
      .create(Widget, { apiVersion: 'test.manyfold.dev/v1', kind: 'Widget', metadata: { name: 'bad', namespace: ns.name }, spec: { size: 0 } })
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(KubeApiError);
    expect((invalid as KubeApiError).code).toBe(422);
    expect((invalid as KubeApiError).message).toContain('spec.size');

    const created = await eventually('the Widget resource to be served', () =>
      client.create(Widget, { apiVersion: 'test.manyfold.dev/v1', kind: 'Widget', metadata: { name: 'w1', namespace: ns.name }, spec: { size: 3 } }),
    );
    const abort = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      for await (const event of watchEvents(client, Widget, {
        namespace: ns.name,
        resourceVersion: created.metadata.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: 60,
        signal: abort.signal,
      })) {
        events.push(event);
        if (event.type === 'MODIFIED') return;
      }
    })();
    await client.patch(Widget, { name: 'w1', namespace: ns.name }, { spec: { size: 4 } }, { type: 'merge' });
    await client.patch(Widget, { name: 'w1', namespace: ns.name }, { status: { seen: 4 } }, { type: 'merge', subresource: 'status' });
    await watching;
    abort.abort();
    const modified = events.find((e) => e.type === 'MODIFIED');
    expect((modified?.object as { spec?: { size?: number } } | undefined)?.spec?.size).toBe(4);
  });

  it("runs a Deployment's pods to Ready on kwok nodes", async () => {
    await client.apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns.name },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
      { fieldManager: 'manyfold-test' },
    );
    const ready = await eventually(
      'the Deployment to have 3 ready replicas',
      async () => {
        const d = await client.get<KubeObject & { status?: { readyReplicas?: number } }>(Resources.Deployment, 'web', ns.name);
        return d.status?.readyReplicas === 3 ? d : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(ready.status?.readyReplicas).toBe(3);
    const pods = await client.list<KubeObject & { spec: { nodeName?: string }; status: { phase?: string } }>(Resources.Pod, {
      namespace: ns.name,
      labelSelector: 'app=web',
    });
    expect(pods.items).toHaveLength(3);
    if (inject('clusterKind') === 'local') {
      for (const pod of pods.items) {
        expect(pod.spec.nodeName).toMatch(/^kwok-node-/);
        expect(pod.status.phase).toBe('Running');
      }
    }
  });

  it('gives the operator identity no admin rights', async () => {
    const operator = await operatorClient();
    try {
      const denied = await operator.list(Resources.Secret, { namespace: 'kube-system' }).catch((error: unknown) => error);
      expect(denied).toBeInstanceOf(KubeApiError);
      expect((denied as KubeApiError).code).toBe(403);
      expect((denied as KubeApiError).message).toContain('system:serviceaccount:manyfold-system:manyfold-operator');
    } finally {
      await operator.close();
    }
  });
});
