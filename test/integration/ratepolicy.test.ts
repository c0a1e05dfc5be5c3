/**
 * The RatePolicy controller against the real API server, controller manager,
 * scheduler and kwok nodes, with the operator's ServiceAccount: a Deployment whose
 * replica count changes (kwok makes its pods Ready), one rate-limiter client process
 * per pod (`test/support/ratelimit-client.ts`, the real `createRateLimiter` over the
 * API server). The shares follow the Ready replicas; the clients' own share-change
 * logs, merged on this machine's clock, show that the shares in force never add up to
 * more than the limit while they move; a client asking for a limit the policy lacks is
 * told which exist; the kill switch freezes the shares. The clients run as an
 * application pod would: under the ServiceAccount and Role of examples/rate-policy.yaml
 * (read the shares ConfigMap, write report Leases), not as admin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RatePolicyType, ratePolicyController } from '../../src/controllers/ratepolicy.ts';
import type { RatePolicySpecInput, RatePolicyStatus } from '../../src/crds/ratepolicy.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import { ENFORCER_LABEL } from '../../src/legos/ratelimit/document.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { onLines } from '../../src/runtime/lines.ts';
import { hasCode } from '../../src/kube/errors.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { limiterIdentity } from '../support/ratelimit-identity.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

const clientScript = fileURLToPath(new URL('../support/ratelimit-client.ts', import.meta.url));
const LIMIT = 1000;

type Policy = KubeObject & { spec: RatePolicySpecInput; status?: RatePolicyStatus };
type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

interface ShareLine {
  at: number;
  pod: string;
  event: string;
  rps?: number;
  fallbackRps?: number;
  version?: number;
  state?: string;
  error?: string;
  message?: string;
}

/** Limiter client processes, one per pod, and every line they printed. */
class Clients {
  readonly lines: ShareLine[] = [];
  private readonly running = new Map<string, ChildProcess>();
  private readonly namespace: string;
  private readonly kubeconfig: string;
  constructor(namespace: string, kubeconfig: string) {
    this.namespace = namespace;
    this.kubeconfig = kubeconfig;
  }

  start(pod: string, limit = 'calls'): ChildProcess {
    const child = spawn(process.execPath, [clientScript, this.kubeconfig, this.namespace, 'partner', limit, pod], { stdio: ['ignore', 'pipe', 'inherit'] });
    onLines(child.stdout, (line) => {
      try {
        this.lines.push({ pod, ...(JSON.parse(line) as Omit<ShareLine, 'pod'>) });
      } catch {
        // not a JSON line
      }
    });
    this.running.set(pod, child);
    child.once('exit', () => {
      if (this.running.get(pod) === child) this.running.delete(pod);
    });
    return child;
  }

  has(pod: string): boolean {
    return this.running.has(pod);
  }

  /** Current rps per pod, from the last line of each. */
  current(): Map<string, number> {
    const out = new Map<string, number>();
    for (const l of this.lines) if (l.rps !== undefined || l.fallbackRps !== undefined) out.set(l.pod, l.rps ?? l.fallbackRps ?? 0);
    return out;
  }

  async stop(pod: string): Promise<void> {
    const child = this.running.get(pod);
    if (!child) return;
    this.running.delete(pod);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.lines.push({ at: Date.now(), pod, event: 'stopped', rps: 0 });
  }

  async stopAll(): Promise<void> {
    for (const pod of [...this.running.keys()]) await this.stop(pod);
  }

  /** The largest sum of shares in force at any moment, replaying every client's changes in time order. */
  maxSum(): number {
    const now = new Map<string, number>();
    let max = 0;
    for (const l of [...this.lines].sort((a, b) => a.at - b.at)) {
      const rps = l.rps ?? l.fallbackRps;
      if (rps === undefined) continue;
      now.set(l.pod, rps);
      max = Math.max(max, [...now.values()].reduce((a, b) => a + b, 0));
    }
    return max;
  }
}

describe('RatePolicy controller with limiter processes', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let running: RunningManager;
  let clients: Clients;
  let identity: Awaited<ReturnType<typeof limiterIdentity>>;

  const deployment = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: ns.name },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api', [ENFORCER_LABEL]: 'true' } },
        spec: { containers: [{ name: 'api', image: 'registry.invalid/api:1' }], tolerations: [{ operator: 'Exists' }] },
      },
    },
  });
  const readyPods = async () =>
    (await admin.list<Pod>(Resources.Pod, { namespace: ns.name, labelSelector: 'app=api' })).items
      .filter((p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.metadata.name ?? '')
      .sort();
  const policy = () => admin.get<Policy>(RatePolicyType, 'partner', ns.name);
  const scale = (replicas: number) => admin.apply(deployment(replicas), { fieldManager: 'test' });
  /** Starts a client for every Ready pod without one; stops those of pods that left. */
  const followPods = async (expected: number) => {
    const pods = await eventually(`${expected} Ready pods`, async () => {
      const ready = await readyPods();
      return ready.length === expected && ready;
    });
    for (const pod of pods) if (!clients.has(pod)) clients.start(pod);
    return pods;
  };
  const converged = (replicas: number) =>
    eventually(`shares converged over ${replicas} replicas`, async () => {
      const p = await policy();
      const shares = clients.current();
      const pods = await readyPods();
      const each = LIMIT / replicas;
      return (
        p.status?.replicas === replicas &&
        p.status.converged === true &&
        pods.every((pod) => Math.abs((shares.get(pod) ?? 0) - each) < 0.01) &&
        p
      );
    }, { timeoutMs: 60_000 });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'rpol');
    identity = await limiterIdentity(admin, ns.name, 'partner');
    clients = new Clients(ns.name, identity.kubeconfig);
    running = await startManager([ratePolicyController({ operatorNamespace: 'manyfold-system' })]);
    await scale(2);
    await admin.apply(
      {
        apiVersion: 'manyfold.dev/v1alpha1',
        kind: 'RatePolicy',
        metadata: { name: 'partner', namespace: ns.name },
        spec: {
          selector: { matchLabels: { app: 'api' } },
          limits: [{ name: 'calls', key: 'customer', requestsPerSecond: LIMIT, burst: 100 }, { name: 'per-pod', key: 'path', requestsPerSecond: 20, scope: 'PerReplica' }],
          leaseSeconds: 6,
          refreshIntervalMilliseconds: 200,
        } satisfies RatePolicySpecInput,
      },
      { fieldManager: 'test' },
    );
  });

  afterAll(async () => {
    await clients?.stopAll();
    await running?.stop();
    await ns?.dispose();
    await identity?.dispose();
  });

  it('splits the limit over the Ready pods and publishes it for the clients', async () => {
    await followPods(2);
    const p = await converged(2);
    expect(p.status?.configMap).toBe('partner-shares');
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'SharesPublished' });
    expect(p.status?.shares?.find((s) => s.name === 'per-pod')).toMatchObject({ requestsPerSecond: 20, scope: 'PerReplica' });
    expect(await running.metric('ratepolicy_replicas', { namespace: ns.name, name: 'partner' })).toBe(2);
    expect(await running.metric('ratepolicy_share_rps', { namespace: ns.name, name: 'partner', limit: 'calls' })).toBe(500);
  });

  it('follows a scale-up and a scale-down without the shares in force ever exceeding the limit', async () => {
    const before = (await policy()).status?.version ?? 0;
    await scale(4);
    await followPods(4);
    const four = await converged(4);
    expect(four.status?.version).toBeGreaterThan(before);
    await scale(1);
    const remaining = await eventually('3 pods gone', async () => {
      const ready = await readyPods();
      return ready.length === 1 && ready;
    });
    for (const pod of [...clients.current().keys()]) if (!remaining.includes(pod)) await clients.stop(pod);
    await converged(1);
    expect(clients.maxSum()).toBeLessThanOrEqual(LIMIT + 1e-6);
    expect(clients.lines.filter((l) => l.event === 'share_changed').length).toBeGreaterThan(4);
    expect(running.errors).toEqual([]);
  });

  it('the clients’ identity (the example Role) reads its shares and nothing else', async () => {
    const asApp = await KubeClient.create({ kubeconfig: identity.kubeconfig });
    try {
      const shares = await asApp.get<KubeObject>(Resources.ConfigMap, 'partner-shares', ns.name);
      expect(shares.metadata.name).toBe('partner-shares');
      await admin.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: ns.name }, data: { a: 'b' } }, { fieldManager: 'test' });
      const refused = async (call: Promise<unknown>) => call.then(() => 'allowed', (error: unknown) => (hasCode(error, 403) ? 'forbidden' : String(error)));
      expect(await refused(asApp.get(Resources.ConfigMap, 'other', ns.name))).toBe('forbidden');
      expect(await refused(asApp.list(Resources.Pod, { namespace: ns.name }))).toBe('forbidden');
      expect(await refused(asApp.list(Resources.ConfigMap, { namespace: ns.name }))).toBe('forbidden');
      expect(await refused(asApp.patch(RatePolicyType, { name: 'partner', namespace: ns.name }, { metadata: { labels: { x: 'y' } } }, { type: 'merge' }))).toBe('forbidden');
    } finally {
      await asApp.close();
    }
  });

  it('tells a client asking for a limit the policy lacks which limits exist', async () => {
    const child = clients.start('stray', 'nope');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(3);
    const line = clients.lines.find((l) => l.pod === 'stray' && l.error !== undefined);
    expect(line?.message).toContain("has no limit named 'nope'; its limits are: calls, per-pod");
  });

  it('freezes the shares under the kill switch', async () => {
    const frozenAt = (await policy()).status?.version;
    await admin.patch(RatePolicyType, { name: 'partner', namespace: ns.name }, { metadata: { annotations: { 'manyfold.dev/kill-switch': 'true' } } }, { type: 'merge' });
    await eventually('KillSwitchEngaged', async () => (await policy()).status?.conditions?.some((c) => c.type === 'Converging' && c.reason === 'KillSwitchEngaged'));
    await scale(2);
    await followPods(2);
    await new Promise((r) => setTimeout(r, 3000));
    const p = await policy();
    expect(p.status?.version).toBe(frozenAt);
    const cm = await admin.get<KubeObject & { data: Record<string, string> }>(Resources.ConfigMap, 'partner-shares', ns.name);
    expect(JSON.parse(cm.data['shares.json'] ?? '{}')).toMatchObject({ version: frozenAt, frozen: true });
    await admin.patch(RatePolicyType, { name: 'partner', namespace: ns.name }, { metadata: { annotations: { 'manyfold.dev/kill-switch': null } } }, { type: 'merge' });
    await converged(2);
    expect(clients.maxSum()).toBeLessThanOrEqual(LIMIT + 1e-6);
  });
});
