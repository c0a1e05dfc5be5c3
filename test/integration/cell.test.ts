/**
 * The Cell controller against the real API server, kube-controller-manager and kwok
 * nodes, running with the operator's ServiceAccount (so RBAC is what
 * deploy/manifests grants): create and become Ready, roll a template change, prune,
 * leave a human's scale alone, report an invalid template while applying the rest,
 * cordon, drain, the kill switch, and garbage collection on delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellStatus } from '../../src/crds/cell.ts';
import { CellType, cellController } from '../../src/controllers/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Cell = KubeObject & { spec: Record<string, unknown>; status?: CellStatus };
type Deployment = KubeObject & { spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } }; status?: { readyReplicas?: number } };

const web = (image: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
    ...extra,
  },
});
const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { mode: 'blue' } };

describe('Cell controller', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;

  const cell = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): Cell => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name, annotations },
    spec,
  });
  const apply = (object: KubeObject) => admin.apply(object, { fieldManager: 'test-user' });
  const getCell = (name: string) => admin.get<Cell>(CellType, name, ns.name);
  const condition = (c: Cell, type: string) => c.status?.conditions?.find((x) => x.type === type);
  const untilCell = (what: string, name: string, check: (c: Cell) => boolean, timeoutMs = 60_000) =>
    eventually(what, async () => {
      const c = await getCell(name);
      return check(c) ? c : undefined;
    }, { timeoutMs });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'cell');
    operator = await startManager([cellController({ operatorNamespace: 'manyfold-system' })]);
  });
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  it('stamps the template, reports Ready, and rolls a template change', async () => {
    await apply(cell('alpha', { zone: 'zone-a', template: { resources: [web('nginx:1.27', { replicas: 2 }), svc, config] } }));
    const ready = await untilCell('alpha Ready', 'alpha', (c) => c.status?.phase === 'Ready' && condition(c, 'Ready')?.status === 'True');
    expect(ready.status?.resources?.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(['ConfigMap/alpha-settings', 'Deployment/alpha-web', 'Service/alpha-web']);
    expect(ready.status?.observedGeneration).toBe(1);
    expect(ready.status?.resources?.every((r) => r.templateGeneration === 1)).toBe(true);
    const deployment = await admin.get<Deployment>(Resources.Deployment, 'alpha-web', ns.name);
    expect(deployment.metadata.labels?.['manyfold.dev/cell']).toBe('alpha');
    expect(deployment.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Cell', name: 'alpha', controller: true });
    expect(deployment.metadata.annotations?.['manyfold.dev/epoch']).toMatch(/^\d+$/);
    expect(Number(ready.status?.epoch)).toBe(operator.manager.epoch);

    await apply(cell('alpha', { zone: 'zone-a', template: { resources: [web('nginx:1.28', { replicas: 2 }), svc, config] } }));
    const rolled = await untilCell('alpha rolled to generation 2', 'alpha', (c) => c.status?.observedGeneration === 2 && c.status.phase === 'Ready' && (c.status.resources ?? []).every((r) => r.templateGeneration === 2 && r.ready));
    expect(condition(rolled, 'Progressing')?.reason).toBe('Converged');
    const after = await admin.get<Deployment>(Resources.Deployment, 'alpha-web', ns.name);
    expect(after.spec.template.spec.containers[0]?.image).toBe('nginx:1.28');
    expect(after.metadata.generation).toBeGreaterThan(deployment.metadata.generation ?? 0);
  });

  it('prunes a resource removed from the template', async () => {
    await apply(cell('alpha', { zone: 'zone-a', template: { resources: [web('nginx:1.28', { replicas: 2 }), svc] } }));
    await eventually('the ConfigMap pruned', async () => (await admin.getOrUndefined(Resources.ConfigMap, 'alpha-settings', ns.name)) === undefined);
    const c = await untilCell('status without the ConfigMap', 'alpha', (x) => (x.status?.resources ?? []).length === 2);
    expect(c.status?.resources?.some((r) => r.kind === 'ConfigMap')).toBe(false);
  });

  it("leaves a human's scale alone when the template does not set replicas", async () => {
    await apply(cell('beta', { zone: 'zone-b', template: { resources: [web('nginx:1.28')] } }));
    await untilCell('beta Ready', 'beta', (c) => c.status?.phase === 'Ready');
    // What `kubectl scale deployment/beta-web --replicas=3` sends.
    await admin.request({
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/${ns.name}/deployments/beta-web/scale`,
      query: { fieldManager: 'kubectl-scale' },
      body: { spec: { replicas: 3 } },
      contentType: 'application/merge-patch+json',
    });
    // Any change to the Cell makes the controller re-apply the template.
    await apply(cell('beta', { zone: 'zone-b', capacity: 50, template: { resources: [web('nginx:1.28')] } }));
    await untilCell('beta re-applied at generation 2', 'beta', (c) => c.status?.observedGeneration === 2 && c.status.phase === 'Ready', 90_000);
    const d = await admin.get<Deployment>(Resources.Deployment, 'beta-web', ns.name);
    expect(d.spec.replicas).toBe(3);
  });

  it('reports an invalid template with the API server message and still applies the rest', async () => {
    await apply(cell('gamma', { zone: 'zone-c', template: { resources: [web('nginx', { replicas: -1 }), config] } }));
    const c = await untilCell('gamma InvalidTemplate', 'gamma', (x) => condition(x, 'Ready')?.reason === 'InvalidTemplate');
    expect(condition(c, 'Ready')?.status).toBe('False');
    expect(condition(c, 'Ready')?.message).toContain('spec.replicas');
    expect(c.status?.phase).toBe('Degraded');
    expect(await admin.getOrUndefined(Resources.ConfigMap, 'gamma-settings', ns.name)).toBeDefined();
  });

  it('cordons and drains', async () => {
    await apply(cell('delta', { zone: 'zone-a', state: 'Cordoned', template: { resources: [config] } }));
    const cordoned = await untilCell('delta cordoned', 'delta', (x) => condition(x, 'AcceptingPlacements')?.reason === 'Cordoned');
    expect(condition(cordoned, 'AcceptingPlacements')?.status).toBe('False');
    expect(cordoned.status?.phase).toBe('Ready');
    await apply(cell('delta', { zone: 'zone-a', state: 'Draining', template: { resources: [config] } }));
    const drained = await untilCell('delta drained', 'delta', (x) => x.status?.phase === 'Drained');
    expect(drained.status?.placements).toBe(0);
  });

  it('freezes the template while the kill switch is engaged', async () => {
    await apply(cell('eps', { zone: 'zone-a', template: { resources: [web('nginx:1.27')] } }));
    await untilCell('eps Ready', 'eps', (c) => c.status?.phase === 'Ready');
    await apply(cell('eps', { zone: 'zone-a', template: { resources: [web('nginx:1.29')] } }, { 'manyfold.dev/kill-switch': 'true' }));
    const frozen = await untilCell('eps frozen', 'eps', (c) => condition(c, 'Progressing')?.reason === 'KillSwitchEngaged');
    expect(frozen.status?.observedTemplateGeneration).toBe(1);
    expect((await admin.get<Deployment>(Resources.Deployment, 'eps-web', ns.name)).spec.template.spec.containers[0]?.image).toBe('nginx:1.27');
    await apply(cell('eps', { zone: 'zone-a', template: { resources: [web('nginx:1.29')] } }, {}));
    await eventually('the change applied once released', async () =>
      (await admin.get<Deployment>(Resources.Deployment, 'eps-web', ns.name)).spec.template.spec.containers[0]?.image === 'nginx:1.29');
  });

  it('has its children garbage-collected when deleted', async () => {
    await admin.delete(CellType, { name: 'alpha', namespace: ns.name });
    await eventually('alpha children collected', async () =>
      (await admin.getOrUndefined(Resources.Deployment, 'alpha-web', ns.name)) === undefined && (await admin.getOrUndefined(Resources.Service, 'alpha-web', ns.name)) === undefined,
      { timeoutMs: 60_000 });
  });

  it('rejects bad input at apply time, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ zone: 'zone-a', state: 'Paused' }, 'spec.state'],
      [{ zone: 'zone-a', capacity: -1 }, 'spec.capacity'],
      [{ zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', metadata: { name: 'x' } }] } }, 'spec.template.resources[0]'],
      [{ zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }] } }, 'spec.template.resources[0].metadata.name'],
      [{ zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }] } }, 'spec.template.resources[0].kind'],
      [{ zone: 'zone-a', template: { resources: [config, config] } }, 'spec.template.resources'],
    ];
    for (const [spec, field] of cases) {
      const error = await admin.create(CellType, cell('bad', spec)).catch((e: unknown) => e);
      expect(error, JSON.stringify(spec)).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).code).toBe(422);
      expect((error as KubeApiError).message).toContain(field);
    }
  });

  it('needed no permission beyond deploy/manifests (no terminal errors)', async () => {
    expect(await operator.metric('controller_runtime_terminal_reconcile_errors_total'), operator.errors.join('\n')).toBe(0);
    expect(await operator.metric('controller_runtime_reconcile_total', { controller: 'cell', result: 'success' })).toBeGreaterThan(0);
  });
});
