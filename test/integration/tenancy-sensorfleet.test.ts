/**
 * Tenant isolation, SensorFleets (issue 15, item 1): a namespace user (a ServiceAccount
 * with a namespaced Role, test/support/tenant.ts) tries to get root on the nodes
 * through a SensorFleet: its own image, every host path it likes, tolerating every
 * taint, another fleet's spool. The operator runs the SensorFleet controller with its
 * ServiceAccount and the default policy (no administrator settings).
 *
 * - the attacks end as `Ready=False` reason `NotPermitted` naming each field, and no
 *   DaemonSet (nor any other child) is created;
 * - an allowed fleet's DaemonSet has no root container at all and mounts only its own
 *   spool directory, `<root>/<namespace>/<fleet>`;
 * - Pod Security: the API server's own admission, in namespaces that enforce the
 *   `restricted` and `baseline` standards, refuses the agent pod for exactly one
 *   reason, its hostPath volumes; the same pod with those volumes swapped for
 *   emptyDirs passes `restricted`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SensorFleetType, sensorFleetController } from '../../src/controllers/sensorfleet.ts';
import type { SensorFleetStatus } from '../../src/crds/sensorfleet.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';
import { tenantClient, type Tenant } from '../support/tenant.ts';

type Fleet = KubeObject & { spec: Record<string, unknown>; status?: SensorFleetStatus };
type PodSpec = Record<string, unknown> & {
  initContainers?: unknown[];
  containers: (Record<string, unknown> & { volumeMounts: { name: string; mountPath: string; subPath?: string }[] })[];
  volumes: (Record<string, unknown> & { name: string; hostPath?: { path: string; type?: string } })[];
};
type DaemonSet = KubeObject & { spec: { template: { metadata: Record<string, unknown>; spec: PodSpec } } };

/** The checks Pod Security admission names in its refusal (`violates PodSecurity "<level>:<version>": a, b, c`). */
function failedChecks(message: string): string[] {
  const match = /violates PodSecurity "[^"]+": (.*)$/.exec(message);
  if (!match?.[1]) throw new Error(`not a Pod Security refusal: ${message}`);
  // Checks are joined by ", " and each may carry a parenthesised detail containing commas.
  const checks: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of match[1]) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      checks.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) checks.push(current.trim());
  return checks;
}

describe('tenant isolation: SensorFleets hand out no root on nodes', () => {
  let admin: KubeClient;
  let tenant: Tenant;
  let ns: { name: string; dispose: () => Promise<void> };
  const psaNamespaces: { name: string; dispose: () => Promise<void> }[] = [];
  let operator: RunningManager;

  const fleet = (name: string, spec: Record<string, unknown>): Fleet => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'SensorFleet',
    metadata: { name, namespace: ns.name },
    spec: { sensors: [{ name: 'temp', source: { type: 'simulated' } }], sink: { type: 'stdout' }, ...spec },
  });
  const ready = (f: Fleet) => f.status?.conditions?.find((c) => c.type === 'Ready');

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'tenancy-sfleet');
    tenant = await tenantClient(admin, ns.name);
    operator = await startManager([sensorFleetController({ operatorNamespace: 'manyfold-system', image: 'ghcr.io/manyfold-dev/manyfold:0.1.0' })]);
  });
  afterAll(async () => {
    await operator?.stop();
    await tenant?.close();
    for (const n of psaNamespaces) await n.dispose();
    await ns.dispose();
    await admin.close();
  });

  it('refuses a foreign image, any host path, tolerating every taint and another spool, naming each field; creates nothing', async () => {
    await tenant.client.create(SensorFleetType, fleet('root-me', {
      image: 'docker.io/library/busybox:latest',
      tolerations: [{ operator: 'Exists' }, { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      sensors: [{ name: 'shadow', source: { type: 'file', path: '/var/lib/kubelet/pki/kubelet-client-current.pem' } }],
      sink: { type: 'file', path: '/root/.ssh/authorized_keys' },
      spool: { path: '/var/lib/manyfold/spool/kube-system' },
    }));
    const refused = await eventually('root-me NotPermitted', async () => {
      const f = await tenant.client.get<Fleet>(SensorFleetType, 'root-me', ns.name);
      return ready(f)?.reason === 'NotPermitted' ? f : undefined;
    });
    const message = ready(refused)?.message ?? '';
    for (const field of ['spec.image', 'spec.tolerations[0]', 'spec.tolerations[1].key', 'spec.sensors[0].source.path', 'spec.sink.path', 'spec.spool.path']) {
      expect(message).toContain(`${field}: `);
    }
    expect(message).toContain('docker.io/library/busybox:latest is not an image the administrator allows');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const type of [Resources.DaemonSet, Resources.ConfigMap, Resources.ServiceAccount]) {
      expect(await admin.getOrUndefined(type, 'root-me-agent', ns.name)).toBeUndefined();
    }
  });

  let template: DaemonSet['spec']['template'] | undefined;

  it("runs an allowed fleet with no root container, mounting only its own spool directory", async () => {
    await tenant.client.create(SensorFleetType, fleet('edge', { tolerations: [{ key: 'manyfold.dev/edge', operator: 'Exists', effect: 'NoSchedule' }] }));
    const ds = await eventually('the edge DaemonSet', () => admin.getOrUndefined<DaemonSet>(Resources.DaemonSet, 'edge-agent', ns.name));
    const pod = ds.spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 });
    for (const c of pod.containers) {
      expect(c['securityContext']).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    }
    const spool = pod.volumes.find((v) => v.name === 'spool');
    expect(spool?.hostPath).toEqual({ path: '/var/lib/manyfold/spool', type: 'Directory' });
    expect(pod.containers[0]?.volumeMounts.find((m) => m.name === 'spool')?.subPath).toBe(`${ns.name}/edge`);
    expect(pod.volumes.filter((v) => v.hostPath).map((v) => v.name)).toEqual(['spool']);
    template = ds.spec.template;
  });

  it.each([
    ['restricted', 'restricted volume types (volume "spool" uses restricted volume type "hostPath")'],
    ['baseline', 'hostPath volumes (volume "spool")'],
  ])('passes Pod Security "%s" in every check but hostPath volumes (the API server says so)', async (level, verdict) => {
    if (!template) throw new Error('needs the DaemonSet of the previous test');
    const psa = await testNamespace(admin, `psa-${level}`);
    psaNamespaces.push(psa);
    await admin.patch(Resources.Namespace, { name: psa.name }, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': level, 'pod-security.kubernetes.io/enforce-version': 'latest' } } }, { type: 'merge' });
    await admin.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'edge-agent', namespace: psa.name } }, { fieldManager: 'tenancy-test' });
    const spec = template.spec;
    const pod = (volumes: PodSpec['volumes']) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-probe', namespace: psa.name, labels: template?.metadata['labels'] as Record<string, string> },
      spec: { ...spec, automountServiceAccountToken: false, volumes },
    });
    const dryRun = (body: object) => admin.request({ method: 'POST', path: `/api/v1/namespaces/${psa.name}/pods`, query: { dryRun: 'All' }, body });
    const error = await dryRun(pod(spec.volumes)).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    const checks = failedChecks((error as KubeApiError).message);
    // Exactly one failed check: the hostPath volumes the agent needs (its spool).
    expect(checks).toEqual([verdict]);
    // And nothing else would fail: the same pod with emptyDirs instead is admitted.
    const withoutHostPaths = spec.volumes.map((v) => (v.hostPath ? { name: v.name, emptyDir: {} } : v));
    await dryRun(pod(withoutHostPaths));
  });
});
