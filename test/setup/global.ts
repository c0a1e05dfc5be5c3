/**
 * Vitest global setup for the cluster tiers (test/integration, test/e2e): one real
 * control plane per run.
 *
 * - default: starts the local control plane in `.manyfold/test/run-<pid>` and stops it
 *   (and removes the directory) afterwards;
 * - `MANYFOLD_TEST_REUSE=1`: uses the one running in `.manyfold/dev` (starting it if
 *   needed) and leaves it running, for fast edit-test loops;
 * - `MANYFOLD_TEST_KUBECONFIG=<path>`: uses an existing cluster (kind, say); tests that
 *   need the local etcd or process control are skipped there.
 *
 * Either way the setup installs Manyfold's CRDs, RBAC, operator config and fencing
 * policy (not the operator Deployment: tests run the operator as a local process or
 * in-process). Tests read what they need with `inject()` (see test/support/cluster.ts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { down, up, writeOperatorKubeconfig } from '../../src/devcluster/cluster.ts';
import { install } from '../../src/devcluster/install.ts';
import { KubeClient } from '../../src/kube/client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the cluster under test. */
    kubeconfig: string;
    /** Kubeconfig of the operator's ServiceAccount (non-admin). */
    operatorKubeconfig: string;
    /** etcd client URL of the local control plane ('' on an external cluster). */
    etcdEndpoint: string;
    /** 'local' when the harness runs the control plane as local processes. */
    clusterKind: 'local' | 'external';
    /** State directory of the local control plane ('' on an external cluster). */
    clusterDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);
  const external = process.env['MANYFOLD_TEST_KUBECONFIG'];
  if (external) {
    const client = await KubeClient.create({ kubeconfig: external });
    const dir = await mkdtemp(join(tmpdir(), 'manyfold-test-'));
    const operatorKubeconfig = join(dir, 'operator.kubeconfig');
    try {
      const { caFile, tls } = client.connection;
      const ca = caFile ?? join(dir, 'ca.crt');
      if (!caFile && tls.ca) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(ca, tls.ca);
      }
      await writeOperatorKubeconfig(client, { path: operatorKubeconfig, server: client.server, caCert: ca });
      await install(client);
    } finally {
      await client.close();
    }
    project.provide('kubeconfig', resolve(external));
    project.provide('operatorKubeconfig', operatorKubeconfig);
    project.provide('etcdEndpoint', '');
    project.provide('clusterKind', 'external');
    project.provide('clusterDir', '');
    return async () => undefined;
  }

  const reuse = process.env['MANYFOLD_TEST_REUSE'] === '1';
  // A directory per run, so two runs at once (two terminals, say) never share a cluster.
  const dir = resolve(reuse ? '.manyfold/dev' : `.manyfold/test/run-${process.pid}`);
  const started = Date.now();
  const state = await up({ dir, nodes: 3, log });
  log(`control plane ready in ${Math.round((Date.now() - started) / 1000)} s (${state.server})`);
  project.provide('kubeconfig', state.kubeconfig);
  project.provide('operatorKubeconfig', state.operatorKubeconfig);
  project.provide('etcdEndpoint', state.etcdEndpoint);
  project.provide('clusterKind', 'local');
  project.provide('clusterDir', dir);
  // CRDs, RBAC, the operator config and the fencing policy, as `kubectl apply -k` would.
  const admin = await KubeClient.create({ kubeconfig: state.kubeconfig });
  try {
    await install(admin);
  } finally {
    await admin.close();
  }
  await readFile(state.kubeconfig);
  return async () => {
    if (!reuse) {
      await down({ dir, log });
      await rm(dir, { recursive: true, force: true });
    }
  };
}
