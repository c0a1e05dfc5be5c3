/**
 * Least privilege, attacked with the operator's own identity (the ServiceAccount token
 * of `operator.kubeconfig`, exactly what deploy/manifests grants it): the API server
 * refuses its writes in kube-system, kube-public, kube-node-lease and in its own
 * namespace (except its Lease, fencing ConfigMap and Events) by the
 * ValidatingAdmissionPolicy `manyfold-confinement`, and RBAC refuses the rights the
 * code does not use. The other integration tests, which run every controller under this
 * identity, show the rights it keeps are enough.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, operatorClient, testNamespace } from '../support/cluster.ts';

const OperatorUser = 'system:serviceaccount:manyfold-system:manyfold-operator';
/** A stamp newer than any epoch a test publishes, so the fencing policy lets the write through. */
const FreshEpoch = String(Number.MAX_SAFE_INTEGER);

const configMap = (namespace: string, name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, annotations: { 'manyfold.dev/epoch': FreshEpoch } },
  data: { epoch: '1' },
});

/** The error a call failed with (fails the test when it succeeded). */
async function refusal(call: () => Promise<unknown>): Promise<KubeApiError> {
  const outcome = await call().then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof KubeApiError)) throw new Error(`expected the API server to refuse, got ${outcome === undefined ? 'success' : outcome instanceof Error ? outcome.message : 'a non-error rejection'}`);
  return outcome;
}

describe('the operator identity (least privilege)', () => {
  let operator: KubeClient;
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };

  beforeAll(async () => {
    operator = await operatorClient();
    admin = await adminClient();
    ns = await testNamespace(admin, 'leastpriv');
  });
  afterAll(async () => {
    await ns.dispose();
    await operator.close();
    await admin.close();
  });

  it.each(['kube-system', 'kube-public', 'kube-node-lease'])('is refused by the API server when it writes a ConfigMap in %s', async (namespace) => {
    // RBAC allows ConfigMap writes in every namespace the operator serves; admission refuses these.
    const error = await refusal(() => operator.apply(configMap(namespace, 'manyfold-epoch-carrier'), { fieldManager: 'manyfold', dryRun: true }));
    expect(error.code).toBe(403);
    expect(error.message).toContain('manyfold-confinement');
    expect(error.message).toContain(`may not write in the system namespace ${namespace}`);
  });

  it('is refused when it writes a Lease in kube-node-lease or deletes a Lease in kube-system', async () => {
    const lease: KubeObject = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'kwok-node-0', namespace: 'kube-node-lease', annotations: { 'manyfold.dev/epoch': FreshEpoch } } };
    const write = await refusal(() => operator.apply(lease, { fieldManager: 'manyfold', dryRun: true }));
    expect(write.code).toBe(403);
    expect(write.message).toContain('manyfold-confinement');
    // A delete of something that exists or not: admission (or NotFound) runs after RBAC; either way, nothing is deleted.
    const del = await refusal(() => operator.delete(Resources.Lease, { name: 'kube-controller-manager', namespace: 'kube-system' }, { preconditions: { uid: 'not-a-real-uid' } }));
    expect([403, 404]).toContain(del.code);
  });

  it('writes in its own namespace only its fencing ConfigMap, and nothing else there', async () => {
    // Allowed: the fencing ConfigMap (dry run, stamped with a fresh epoch so fencing lets it through).
    await operator.apply(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'manyfold-fencing', namespace: 'manyfold-system', annotations: { 'manyfold.dev/epoch': FreshEpoch } } },
      { fieldManager: 'manyfold-probe', dryRun: true },
    );
    // Refused: its own config (the administrator's kill switch), any other object.
    for (const name of ['manyfold-config', 'something-else']) {
      const error = await refusal(() => operator.apply(configMap('manyfold-system', name), { fieldManager: 'manyfold', dryRun: true }));
      expect(error.code).toBe(403);
      expect(error.message).toContain('may write only its Lease, its fencing ConfigMap and Events');
    }
  });

  it('still writes in a namespace it serves', async () => {
    const stored = await operator.apply(configMap(ns.name, 'allowed'), { fieldManager: 'manyfold', dryRun: true });
    expect(stored.metadata.namespace).toBe(ns.name);
  });

  it.each<[string, () => Promise<unknown>]>([
    ['list Secrets', () => operator.list(Resources.Secret, { namespace: 'default' })],
    ['create a Pod', () => operator.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] } }, { fieldManager: 'manyfold', dryRun: true })],
    ['patch a ShardMap (the operator writes only its status)', () => operator.patch(shardMaps, { name: 'x', namespace: 'default' }, { metadata: { labels: { a: 'b' } } }, { type: 'merge' })],
    ['create a ClusterRole', () => operator.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'manyfold-escalate' }, rules: [] }, { fieldManager: 'manyfold', dryRun: true })],
    ['update a Deployment (it only applies)', () => operator.replace(Resources.Deployment, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', namespace: 'default' } })],
    ['delete a Namespace', () => operator.delete(Resources.Namespace, { name: ns.name })],
    ['get a Node', () => operator.get(Resources.Node, 'kwok-node-0')],
  ])('is refused by RBAC to %s', async (_what, call) => {
    const error = await refusal(call);
    expect(error.code).toBe(403);
    expect(error.message).toContain(OperatorUser);
  });
});

const shardMaps: ResourceType = { group: 'manyfold.dev', version: 'v1alpha1', plural: 'shardmaps', kind: 'ShardMap', namespaced: true };
