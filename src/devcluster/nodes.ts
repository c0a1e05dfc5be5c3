/**
 * Fake nodes for the local control plane. kwok manages every Node annotated
 * `kwok.x-k8s.io/node: fake`: it marks it Ready, renews its lease and runs the
 * lifecycle of pods scheduled onto it (no containers run).
 *
 * Nodes are spread over three zones (`topology.kubernetes.io/zone`: zone-a, zone-b,
 * zone-c) so that zone-aware placement can be tried locally.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../kube/client.ts';
import { isAlreadyExists } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';

export const KwokNodeAnnotation = 'kwok.x-k8s.io/node';
export const NodePrefix = 'kwok-node-';
export const Zones = ['zone-a', 'zone-b', 'zone-c'] as const;

export function nodeName(index: number): string {
  return `${NodePrefix}${index}`;
}

/** The Node object for fake node `index`. */
export function fakeNode(index: number): KubeObject {
  const name = nodeName(index);
  const resources = { cpu: '32', memory: '256Gi', pods: '110', 'ephemeral-storage': '100Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KwokNodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'node-role.kubernetes.io/agent': '',
        'topology.kubernetes.io/zone': Zones[index % Zones.length] ?? 'zone-a',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        architecture: 'amd64',
        operatingSystem: 'linux',
        kubeletVersion: 'fake',
        kubeProxyVersion: 'fake',
        containerRuntimeVersion: 'kwok',
        osImage: 'kwok',
        kernelVersion: 'kwok',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
      phase: 'Running',
    },
  };
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

interface NodeStatus {
  status?: { conditions?: { type: string; status: string }[] };
}

function isReady(node: KubeObject & NodeStatus): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Makes exactly `count` fake nodes exist (creating `kwok-node-0..count-1`, deleting
 * higher-numbered ones) and waits until all of them are Ready.
 */
export async function ensureNodes(client: KubeClient, count: number, options: { timeoutMs?: number } = {}): Promise<void> {
  const existing = await client.listAll(Resources.Node);
  const names = new Set(existing.items.map((n) => n.metadata.name));
  const wanted = Array.from({ length: count }, (_, i) => i).filter((i) => !names.has(nodeName(i)));
  await pool(wanted, 16, async (i) => {
    try {
      await client.create(Resources.Node, fakeNode(i));
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
  });
  const extra = existing.items
    .map((n) => n.metadata.name ?? '')
    .filter((name) => name.startsWith(NodePrefix) && Number(name.slice(NodePrefix.length)) >= count);
  await pool(extra, 16, async (name) => {
    await client.deleteIfExists(Resources.Node, { name });
  });
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const nodes = await client.listAll<KubeObject & NodeStatus>(Resources.Node);
    const ours = nodes.items.filter((n) => n.metadata.annotations?.[KwokNodeAnnotation] === 'fake');
    const ready = ours.filter(isReady).length;
    if (ready >= count && ours.length === count) return;
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${count} kwok nodes became Ready`);
    await sleep(250);
  }
}

/** Counts fake nodes and Ready fake nodes. */
export async function countNodes(client: KubeClient): Promise<{ total: number; ready: number }> {
  const nodes = await client.listAll<KubeObject & NodeStatus>(Resources.Node);
  return { total: nodes.items.length, ready: nodes.items.filter(isReady).length };
}
