/**
 * Vitest global setup for the in-cluster tier (test/incluster): a local control plane
 * with one kwok node and one real node (kubelet + containerd), and the project's image
 * built from ./Dockerfile here and imported into the real node.
 *
 * Where a real node cannot run (not root, packages missing, the kubelet refused) the
 * reason is printed once and provided as `inclusterSkip`; the tier's tests skip on it.
 * The control plane lives in `.manyfold/test/incluster-<pid>` and is stopped afterwards
 * (the tier's last test stops it itself and checks nothing is left behind).
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureAssets } from '../../src/devcluster/assets.ts';
import { down, readState, up } from '../../src/devcluster/cluster.ts';
import { buildImage } from '../../src/devcluster/image/build.ts';
import { realNodeBlocker } from '../../src/devcluster/realnode/assets.ts';
import { importImage } from '../../src/devcluster/realnode/node.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the in-cluster tier cannot run here ('' when it can). */
    inclusterSkip: string;
    /** Name of the real node. */
    realNode: string;
    /** The image built from ./Dockerfile and imported into the real node. */
    image: string;
    /** kubectl of the control plane's build. */
    kubectl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`[incluster] ${line}\n`);
  const skip = (reason: string) => {
    log(`SKIPPED: ${reason}`);
    for (const key of ['kubeconfig', 'operatorKubeconfig', 'etcdEndpoint', 'clusterDir', 'realNode', 'image', 'kubectl'] as const) project.provide(key, '');
    project.provide('clusterKind', 'local');
    project.provide('inclusterSkip', reason);
  };
  const blocker = realNodeBlocker();
  if (blocker) {
    skip(blocker);
    return async () => undefined;
  }
  const dir = resolve(`.manyfold/test/incluster-${process.pid}`);
  const started = Date.now();
  const state = await up({ dir, nodes: 1, realNodes: 1, log });
  const teardown = async () => {
    if (await readState(dir)) await down({ dir, log });
    await rm(dir, { recursive: true, force: true });
  };
  if (!state.realNode) {
    skip(state.realNodeNote ?? 'the real node did not start');
    return teardown;
  }
  log(`control plane with real node ${state.realNode.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  try {
    const image = await buildImage({ log });
    const importStarted = Date.now();
    await importImage(state.realNode, image.archive);
    log(`image ${image.name}: ${(image.bytes / 1048576).toFixed(1)} MiB, built in ${image.seconds.toFixed(1)} s, imported in ${((Date.now() - importStarted) / 1000).toFixed(1)} s`);
    project.provide('image', image.name);
  } catch (error) {
    await teardown();
    throw error;
  }
  project.provide('kubeconfig', state.kubeconfig);
  project.provide('operatorKubeconfig', state.operatorKubeconfig);
  project.provide('etcdEndpoint', state.etcdEndpoint);
  project.provide('clusterKind', 'local');
  project.provide('clusterDir', dir);
  project.provide('realNode', state.realNode.name);
  project.provide('kubectl', (await ensureAssets({ build: false })).kubectl);
  project.provide('inclusterSkip', '');
  return teardown;
}
