/**
 * Namespace mode (deploy/namespaced): with the cluster-wide tenant binding removed and
 * a RoleBinding in one namespace only, `manyfold operator --namespace <ns>` leads (its
 * Lease and fencing ConfigMap come from the Role manyfold-operator-self alone), brings a
 * Cell there to Ready, and has no rights in a namespace it does not serve.
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

describe.runIf(inject('clusterKind') === 'local')('namespace mode: RoleBindings instead of a ClusterRoleBinding', () => {
  let admin: KubeClient;
  let operatorIdentity: KubeClient;
  let served: { name: string; dispose: () => Promise<void> };
  let unserved: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess | undefined;
  let tenantBinding: KubeObject | undefined;

  beforeAll(async () => {
    admin = await adminClient();
    operatorIdentity = await operatorClient();
    served = await testNamespace(admin, 'served');
    unserved = await testNamespace(admin, 'unserved');
    tenantBinding = (await readManifests(join(deployDir, 'manifests', 'rbac.yaml'))).find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === TenantBinding);
    const [roleBinding] = await readManifests(join(deployDir, 'namespaced', 'rolebindings.yaml'));
    if (!tenantBinding || !roleBinding) throw new Error('rbac.yaml or namespaced/rolebindings.yaml changed shape');
    await admin.deleteIfExists(Resources.ClusterRoleBinding, { name: TenantBinding });
    await admin.apply({ ...roleBinding, metadata: { ...roleBinding.metadata, namespace: served.name } }, { fieldManager: 'test' });
    await eventually('RBAC to drop the cluster-wide tenant rights', async () => {
      const denied = await operatorIdentity.list(Resources.ConfigMap, { namespace: unserved.name }).then(() => undefined, (error: unknown) => error);
      return denied instanceof KubeApiError && denied.code === 403;
    });
    operator = startOperatorProcess(['--namespace', served.name]);
  });
  afterAll(async () => {
    await operator?.stop();
    if (tenantBinding) await admin.apply(tenantBinding, { fieldManager: 'manyfold-install' });
    await served.dispose();
    await unserved.dispose();
    await operatorIdentity.close();
    await admin.close();
  });

  it('leads and brings a Cell in its namespace to Ready', async () => {
    await operator?.waitForLog((l) => l['event'] === 'fencing_enforced', 30_000);
    await admin.apply(
      {
        apiVersion: 'manyfold.dev/v1alpha1',
        kind: 'Cell',
        metadata: { name: 'solo', namespace: served.name },
        spec: { zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { value: 'v1' } }] } },
      },
      { fieldManager: 'test-user' },
    );
    const ready = await eventually('the Cell Ready', async () => {
      const cell = await admin.get<KubeObject & { status?: CellStatus }>(CellType, 'solo', served.name);
      return cell.status?.phase === 'Ready' ? cell : undefined;
    });
    expect(ready.status?.observedGeneration).toBe(1);
    const forbidden = (operator?.logs ?? []).filter((l) => JSON.stringify(l).includes('forbidden'));
    expect(forbidden.slice(0, 3)).toEqual([]);
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
