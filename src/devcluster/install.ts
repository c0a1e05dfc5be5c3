/**
 * Installs Manyfold into a cluster from the checked-in manifests: the CRDs of
 * `deploy/crds` and the cluster-side pieces of `deploy/manifests` (namespace, RBAC,
 * operator config, fencing policy) — everything but the operator Deployment, for when
 * the operator runs as a local process. Server-side apply as `manyfold-install`, then
 * waits until every CRD is Established.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';

export const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));

/** Parses every document of a multi-document YAML file (empty documents skipped). */
export async function readManifests(path: string): Promise<KubeObject[]> {
  const docs = parseAllDocuments(await readFile(path, 'utf8'));
  return docs.map((d) => d.toJSON() as KubeObject | null).filter((o): o is KubeObject => o !== null && typeof o === 'object' && 'kind' in o);
}

/** The objects to install (CRDs first), optionally with the operator Deployment. */
export async function manifests(options: { withOperator?: boolean } = {}): Promise<KubeObject[]> {
  const crdFiles = (await readdir(join(deployDir, 'crds'))).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  const files = [
    ...crdFiles.map((f) => join(deployDir, 'crds', f)),
    ...['namespace.yaml', 'rbac.yaml', 'config.yaml', 'fencing-policy.yaml', ...(options.withOperator ? ['deployment.yaml'] : [])].map((f) => join(deployDir, 'manifests', f)),
  ];
  const out: KubeObject[] = [];
  for (const file of files) out.push(...(await readManifests(file)));
  return out;
}

/** Applies the manifests and waits for the CRDs to be Established. */
export async function install(client: KubeClient, options: { withOperator?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const objects = await manifests(options);
  for (const object of objects) await client.apply(object, { fieldManager: 'manyfold-install', force: true });
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name ?? '');
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (const name of crds) {
    for (;;) {
      const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(Resources.CustomResourceDefinition, name);
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established`);
      await sleep(100);
    }
  }
}
