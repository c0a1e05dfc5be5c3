/**
 * The identity an application pod that enforces a RatePolicy has: the ServiceAccount,
 * Role and RoleBinding shipped in examples/rate-policy.yaml (read its shares ConfigMap,
 * write its report Lease), applied into a test namespace with the shares ConfigMap's
 * name of the policy under test, and a kubeconfig holding that ServiceAccount's token.
 * The integration test's limiter processes use it instead of the admin's, so a client
 * that needs a right the example Role lacks fails there.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { writeKubeconfig } from '../../src/devcluster/kubeconfig.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { sharesConfigMapName } from '../../src/legos/ratelimit/document.ts';

const example = fileURLToPath(new URL('../../examples/rate-policy.yaml', import.meta.url));
const EXAMPLE_POLICY = 'partner-api';

type Rule = { resourceNames?: string[] } & Record<string, unknown>;

/** The example's ServiceAccount, Role and RoleBinding, for `policy` in `namespace`. */
export async function exampleLimiterRbac(namespace: string, policy: string): Promise<KubeObject[]> {
  const docs = parseAllDocuments(await readFile(example, 'utf8')).map((d) => d.toJSON() as KubeObject);
  const picked = docs.filter((d) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(d.kind));
  return picked.map((d) => {
    const object = { ...d, metadata: { ...d.metadata, namespace } };
    if (d.kind === 'Role') {
      const rules = (d['rules'] as Rule[]).map((r) => (r.resourceNames ? { ...r, resourceNames: r.resourceNames.map((n) => (n === sharesConfigMapName(EXAMPLE_POLICY) ? sharesConfigMapName(policy) : n)) } : r));
      return { ...object, rules };
    }
    if (d.kind === 'RoleBinding') {
      const subjects = (d['subjects'] as Record<string, unknown>[]).map((s) => ({ ...s, namespace }));
      return { ...object, subjects };
    }
    return object;
  });
}

/** Applies the example's identity into `namespace` and returns a kubeconfig acting as its ServiceAccount. */
export async function limiterIdentity(admin: KubeClient, namespace: string, policy: string): Promise<{ user: string; kubeconfig: string; dispose(): Promise<void> }> {
  const objects = await exampleLimiterRbac(namespace, policy);
  for (const o of objects) await admin.apply(o, { fieldManager: 'ratelimit-test' });
  const account = objects.find((o) => o.kind === 'ServiceAccount')?.metadata.name;
  if (account === undefined) throw new Error(`${example} has no ServiceAccount`);
  const token = await admin.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'manyfold-limiter-'));
  let caCert = admin.connection.caFile;
  if (!caCert) {
    caCert = join(dir, 'ca.crt');
    await writeFile(caCert, admin.connection.tls.ca ?? '');
  }
  const user = `system:serviceaccount:${namespace}:${account}`;
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig({ path: kubeconfig, server: admin.server, caCert, user, credentials: { token: token.status.token }, namespace });
  return { user, kubeconfig, dispose: () => rm(dir, { recursive: true, force: true }) };
}
