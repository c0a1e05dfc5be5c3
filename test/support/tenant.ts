/**
 * A namespace user for the tenant-isolation tests: a ServiceAccount in one namespace
 * with a namespaced Role that allows the Manyfold kinds, Secrets, ConfigMaps,
 * workloads and Services in that namespace only (what a platform team would hand an
 * application team), and a client holding its token. The attacks in
 * test/integration/tenancy-*.test.ts are made with this identity, never as admin.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKubeconfig } from '../../src/devcluster/kubeconfig.ts';
import { KubeClient } from '../../src/kube/client.ts';

/** The rules of the tenant Role (namespaced; no cluster-scoped rights at all). */
export const TenantRules = [
  { apiGroups: ['manyfold.dev'], resources: ['*'], verbs: ['*'] },
  { apiGroups: [''], resources: ['secrets', 'configmaps', 'services', 'serviceaccounts', 'pods'], verbs: ['*'] },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['*'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] },
];

export interface Tenant {
  /** `system:serviceaccount:<namespace>:tenant`. */
  readonly user: string;
  readonly client: KubeClient;
  close(): Promise<void>;
}

/** Creates the tenant identity in `namespace` (with `admin`) and returns a client acting as it. */
export async function tenantClient(admin: KubeClient, namespace: string): Promise<Tenant> {
  const name = 'tenant';
  const setup = { fieldManager: 'tenancy-test' };
  await admin.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } }, setup);
  await admin.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules: TenantRules }, setup);
  await admin.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  }, setup);
  const token = await admin.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'manyfold-tenant-'));
  let caCert = admin.connection.caFile;
  if (!caCert) {
    caCert = join(dir, 'ca.crt');
    await writeFile(caCert, admin.connection.tls.ca ?? '');
  }
  const user = `system:serviceaccount:${namespace}:${name}`;
  const path = join(dir, 'kubeconfig');
  await writeKubeconfig({ path, server: admin.server, caCert, user, credentials: { token: token.status.token }, namespace });
  const client = await KubeClient.create({ kubeconfig: path });
  return {
    user,
    client,
    close: async () => {
      await client.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
