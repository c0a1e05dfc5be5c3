/**
 * Tenant isolation, Cells (issue 15, item 3): a namespace user tries to make the
 * operator take over objects it does not own. The Cell controller runs with the
 * operator's ServiceAccount; the attacks are made by a tenant ServiceAccount with a
 * namespaced Role (test/support/tenant.ts).
 *
 * - an object the user made by hand with a child's name is not adopted: the Cell says
 *   `Ready=False` reason `ChildConflict` naming it, and the object keeps its content and
 *   gains no owner; the annotation `manyfold.dev/adopt-by-cell` opts in;
 * - two Cells whose children's names collide (`shop` + `a-web`, `shop-a` + `web`) do
 *   not fight: the loser reports the winner, and the contested object's
 *   resourceVersion stays still for several seconds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellStatus } from '../../src/crds/cell.ts';
import { CellType, cellController } from '../../src/controllers/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';
import { tenantClient, type Tenant } from '../support/tenant.ts';

type Cell = KubeObject & { spec: Record<string, unknown>; status?: CellStatus };
type ConfigMap = KubeObject & { data?: Record<string, string> };

describe('tenant isolation: Cells take over nothing they do not own', () => {
  let admin: KubeClient;
  let tenant: Tenant;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;

  const configMap = (name: string, data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });
  const cell = (name: string, resources: unknown[]): Cell => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name },
    spec: { zone: 'zone-a', template: { resources } },
  });
  const ready = (c: Cell) => c.status?.conditions?.find((x) => x.type === 'Ready');
  const untilCell = (what: string, name: string, check: (c: Cell) => boolean) =>
    eventually(what, async () => {
      const c = await tenant.client.get<Cell>(CellType, name, ns.name);
      return check(c) ? c : undefined;
    });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'tenancy-cell');
    tenant = await tenantClient(admin, ns.name);
    operator = await startManager([cellController({ operatorNamespace: 'manyfold-system' })]);
  });
  afterAll(async () => {
    await operator.stop();
    await tenant.close();
    await ns.dispose();
    await admin.close();
  });

  it('does not adopt an object the user made by hand; adopts it once the object opts in', async () => {
    await tenant.client.create(Resources.ConfigMap, { ...configMap('mine-web', { owner: 'a human' }), metadata: { name: 'mine-web', namespace: ns.name } });
    await tenant.client.create(CellType, cell('mine', [configMap('web', { owner: 'the cell' })]));
    const conflicted = await untilCell('mine reports ChildConflict', 'mine', (c) => ready(c)?.reason === 'ChildConflict');
    expect(ready(conflicted)?.status).toBe('False');
    expect(ready(conflicted)?.message).toContain('ConfigMap mine-web already exists without an owner');
    expect(ready(conflicted)?.message).toContain('manyfold.dev/adopt-by-cell=mine');
    await sleep(2000); // a few more reconciles would have had their chance to write
    const untouched = await tenant.client.get<ConfigMap>(Resources.ConfigMap, 'mine-web', ns.name);
    expect(untouched.data).toEqual({ owner: 'a human' });
    expect(untouched.metadata.ownerReferences ?? []).toEqual([]);
    expect(untouched.metadata.labels?.['manyfold.dev/cell']).toBeUndefined();

    // The explicit opt-in, by someone who may write the object.
    await tenant.client.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mine-web', namespace: ns.name, annotations: { 'manyfold.dev/adopt-by-cell': 'mine' } } }, { fieldManager: 'tenant' });
    await eventually('the opted-in object is adopted', async () => {
      // The recheck runs every 30 s; a change to the Cell wakes it sooner.
      await tenant.client.apply({ ...cell('mine', [configMap('web', { owner: 'the cell' })]), metadata: { name: 'mine', namespace: ns.name, labels: { poke: String(Date.now()) } } }, { fieldManager: 'tenant' });
      const cm = await tenant.client.get<ConfigMap>(Resources.ConfigMap, 'mine-web', ns.name);
      return cm.data?.['owner'] === 'the cell' && cm.metadata.ownerReferences?.some((r) => r.kind === 'Cell' && r.name === 'mine' && r.controller === true);
    });
    await untilCell('mine Ready after adoption', 'mine', (c) => ready(c)?.status === 'True');
  });

  it('lets two Cells with colliding child names not fight: the loser reports the winner, the object stays still', async () => {
    await tenant.client.create(CellType, cell('shop', [configMap('a-web', { from: 'shop' })]));
    await untilCell('shop Ready', 'shop', (c) => ready(c)?.status === 'True');
    await tenant.client.create(CellType, cell('shop-a', [configMap('web', { from: 'shop-a' })]));
    const loser = await untilCell('shop-a reports ChildConflict', 'shop-a', (c) => ready(c)?.reason === 'ChildConflict');
    expect(ready(loser)?.message).toContain('ConfigMap shop-a-web already exists and is controlled by Cell/shop');
    const before = await tenant.client.get<ConfigMap>(Resources.ConfigMap, 'shop-a-web', ns.name);
    await sleep(5000);
    const after = await tenant.client.get<ConfigMap>(Resources.ConfigMap, 'shop-a-web', ns.name);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.data).toEqual({ from: 'shop' });
    expect(after.metadata.ownerReferences?.map((r) => r.name)).toEqual(['shop']);
    const winner = await tenant.client.get<Cell>(CellType, 'shop', ns.name);
    expect(ready(winner)?.status).toBe('True');
  });

  it('refuses an object controlled by another controller even with the opt-in annotation', async () => {
    const owner = await tenant.client.create<ConfigMap>(Resources.ConfigMap, { ...configMap('anchor', {}), metadata: { name: 'anchor', namespace: ns.name } });
    await tenant.client.create(Resources.ConfigMap, {
      ...configMap('held-web', { owner: 'anchor' }),
      metadata: {
        name: 'held-web',
        namespace: ns.name,
        annotations: { 'manyfold.dev/adopt-by-cell': 'held' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'anchor', uid: owner.metadata.uid ?? '', controller: true }],
      },
    });
    await tenant.client.create(CellType, cell('held', [configMap('web', { owner: 'the cell' })]));
    const c = await untilCell('held reports ChildConflict', 'held', (x) => ready(x)?.reason === 'ChildConflict');
    expect(ready(c)?.message).toContain('ConfigMap held-web already exists and is controlled by ConfigMap/anchor');
    expect((await tenant.client.get<ConfigMap>(Resources.ConfigMap, 'held-web', ns.name)).data).toEqual({ owner: 'anchor' });
  });
});
