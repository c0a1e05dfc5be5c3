/**
 * Namespace mode (deploy/namespaced): with the cluster-wide tenant binding removed and
 * a RoleBinding in each of two namespaces only, `manyfold operator --namespace a,b`
 * leads (its Lease and fencing ConfigMap come from the Role manyfold-operator-self
 * alone), brings a Cell in each to Ready, leaves a Cell in a third namespace alone, and
 * has no rights in that namespace: its informers list and watch per namespace, so
 * namespace RoleBindings are all the rights it has, and needs, on the namespaced kinds.
 *
 * The cluster-wide binding is restored afterwards (the other tests rely on it).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import { deployDir, readManifests } from '../../src/devcluster/install.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, operatorClient, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

const TenantBinding = 'manyfold-operator-tenant';

type Namespace = { name: string; dispose: () => Promise<void> };
type CellObject = KubeObject & { status?: CellStatus };

const cell = (namespace: string) => ({
  apiVersion: 'manyfold.dev/v1alpha1',
  kind: 'Cell',
  metadata: { name: 'solo', namespace },
  spec: { zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { value: 'v1' } }] } },
});

describe.runIf(inject('clusterKind') === 'local')('namespace mode: RoleBindings in each served namespace instead of a ClusterRoleBinding', () => {
  let admin: KubeClient;
  let operatorIdentity: KubeClient;
  let served: Namespace[];
  let unserved: Namespace;
  let operator: OperatorProcess | undefined;
  let tenantBinding: KubeObject | undefined;

  beforeAll(async () => {
    admin = await adminClient();
    operatorIdentity = await operatorClient();
    served = [await testNamespace(admin, 'served-a'), await testNamespace(admin, 'served-b')];
    unserved = await testNamespace(admin, 'unserved');
    tenantBinding = (await readManifests(join(deployDir, 'manifests', 'rbac.yaml'))).find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === TenantBinding);
    const [roleBinding] = await readManifests(join(deployDir, 'namespaced', 'rolebindings.yaml'));
    if (!tenantBinding || !roleBinding) throw new Error('rbac.yaml or namespaced/rolebindings.yaml changed shape');
    await admin.deleteIfExists(Resources.ClusterRoleBinding, { name: TenantBinding });
    for (const ns of served) await admin.apply({ ...roleBinding, metadata: { ...roleBinding.metadata, namespace: ns.name } }, { fieldManager: 'test' });
    await eventually('RBAC to drop the cluster-wide tenant rights', async () => {
      const denied = await operatorIdentity.list(Resources.ConfigMap, { namespace: unserved.name }).then(() => undefined, (error: unknown) => error);
      return denied instanceof KubeApiError && denied.code === 403;
    });
    operator = startOperatorProcess(['--namespace', served.map((ns) => ns.name).join(',')]);
  });
  afterAll(async () => {
    await operator?.stop();
    if (tenantBinding) await admin.apply(tenantBinding, { fieldManager: 'manyfold-install' });
    for (const ns of served) await ns.dispose();
    await unserved.dispose();
    await operatorIdentity.close();
    await admin.close();
  });

  it('leads, brings a Cell in each served namespace to Ready, and leaves the unserved one alone', async () => {
    await operator?.waitForLog((l) => l['event'] === 'fencing_enforced', 30_000);
    for (const ns of [...served, unserved]) await admin.apply(cell(ns.name), { fieldManager: 'test-user' });
    for (const ns of served) {
      const ready = await eventually(`the Cell in ${ns.name} Ready`, async () => {
        const object = await admin.get<CellObject>(CellType, 'solo', ns.name);
        return object.status?.phase === 'Ready' ? object : undefined;
      });
      expect(ready.status?.observedGeneration).toBe(1);
      expect((await admin.get(Resources.ConfigMap, 'solo-cfg', ns.name)).metadata.ownerReferences?.[0]?.name).toBe('solo');
    }
    // Created before the served ones, it would be reconciled by now if its namespace were watched.
    const ignored = await admin.get<CellObject>(CellType, 'solo', unserved.name);
    expect(ignored.status).toBeUndefined();
    expect(await admin.getOrUndefined(Resources.ConfigMap, 'solo-cfg', unserved.name)).toBeUndefined();
    const forbidden = (operator?.logs ?? []).filter((l) => JSON.stringify(l).includes('forbidden'));
    expect(forbidden.slice(0, 3)).toEqual([]);
    expect(operator?.logs.find((l) => l['event'] === 'operator_starting')?.['namespace']).toBe(served.map((ns) => ns.name).join(','));
  });

  it('has no rights in a namespace it does not serve', async () => {
    for (const call of [
      () => operatorIdentity.list(Resources.ConfigMap, { namespace: unserved.name }),
      () => operatorIdentity.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: unserved.name } }, { fieldManager: 'manyfold', dryRun: true }),
      () => operatorIdentity.get(Resources.Secret, 'any', unserved.name),
    ]) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).code).toBe(403);
    }
  });
});
