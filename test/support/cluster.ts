/**
 * Helpers for tests against the cluster the global setup provides: clients for the
 * admin and operator identities, throw-away namespaces, and polling with a deadline.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';

export async function adminClient(): Promise<KubeClient> {
  return KubeClient.create({ kubeconfig: inject('kubeconfig') });
}

export async function operatorClient(): Promise<KubeClient> {
  return KubeClient.create({ kubeconfig: inject('operatorKubeconfig') });
}

/** A fresh namespace `<prefix>-<random>`; `dispose()` deletes it (without waiting). */
export async function testNamespace(client: KubeClient, prefix = 'test'): Promise<{ name: string; dispose: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create(Resources.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return {
    name,
    dispose: async () => {
      await client.deleteIfExists(Resources.Namespace, { name });
    },
  };
}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails after
 * `timeoutMs` with `what` and the last value seen.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/** An admin client whose connections go to `127.0.0.1:<port>` (a proxy in front of the API server). */
export async function adminClientVia(port: number): Promise<KubeClient> {
  return KubeClient.create({ kubeconfig: inject('kubeconfig'), server: `https://127.0.0.1:${port}` });
}
