/**
 * Watches between kinds, against the real API server: a Cell's `status.placements` is
 * fed by a declared placement provider (here one reading a ShardMap's
 * `status.members[].replicas`, as the ShardMap controller will publish them), and a
 * Draining Cell turns Drained as soon as the provider object stops assigning it
 * anything: the provider's watch enqueues the Cell, with no resync in between (the
 * Cell controller's resync is 10 minutes; the test waits at most 30 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellStatus } from '../../src/crds/cell.ts';
import { ManyfoldResources } from '../../src/crds/index.ts';
import { CellType, cellController } from '../../src/controllers/cell.ts';
import type { PlacementProvider } from '../../src/controllers/placements.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Cell = KubeObject & { status?: CellStatus };
type ShardMap = KubeObject & { status?: { members?: { cell: string; replicas?: number }[] } };

const shardMapPlacements: PlacementProvider = {
  type: ManyfoldResources.ShardMap,
  placements: (map) => new Map(((map as ShardMap).status?.members ?? []).map((m) => [m.cell, m.replicas ?? 0])),
};

describe('Cell placements from a watched provider', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'placements');
    operator = await startManager([cellController({ operatorNamespace: 'manyfold-system', placementProviders: [shardMapPlacements] })]);
  });
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  const untilCell = (what: string, check: (c: Cell) => boolean) =>
    eventually(what, async () => {
      const c = await admin.get<Cell>(CellType, 'drain-me', ns.name);
      return check(c) ? c : undefined;
    }, { timeoutMs: 30_000 });
  const setMembers = (members: { cell: string; replicas: number }[]) =>
    admin.apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'keys', namespace: ns.name }, status: { members } }, { fieldManager: 'test-shardmap', force: true, subresource: 'status' });

  it('counts the provider placements and turns Drained on the provider event that removes the last one', async () => {
    await admin.apply({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', metadata: { name: 'keys', namespace: ns.name }, spec: { shards: 8, replicas: 1 } }, { fieldManager: 'test-user' });
    await setMembers([{ cell: 'drain-me', replicas: 3 }, { cell: 'other', replicas: 5 }]);
    await admin.apply(
      { apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: 'drain-me', namespace: ns.name }, spec: { zone: 'zone-a', state: 'Draining', template: { resources: [] } } },
      { fieldManager: 'test-user' },
    );
    const draining = await untilCell('Cell Draining with 3 placements', (c) => c.status?.phase === 'Draining');
    expect(draining.status?.placements).toBe(3);

    await setMembers([{ cell: 'drain-me', replicas: 1 }, { cell: 'other', replicas: 7 }]);
    await untilCell('placements follow the provider', (c) => c.status?.placements === 1);

    await setMembers([{ cell: 'other', replicas: 8 }]);
    const drained = await untilCell('Cell Drained once the provider moved everything off', (c) => c.status?.phase === 'Drained');
    expect(drained.status?.placements).toBe(0);
  });
});
