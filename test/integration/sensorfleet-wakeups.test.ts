/**
 * What wakes a SensorFleet, against the real API server: a burst of heartbeat renewals
 * (the agents' Leases) is folded into about one reconcile per batch interval, and the
 * last renewal is still seen; a Node's status updates (kubelet/kwok heartbeats) do not
 * wake the fleets selecting it, while a label change does. Reconciles are counted from
 * the manager's `controller_runtime_reconcile_total`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SensorFleetType, sensorFleetController } from '../../src/controllers/sensorfleet.ts';
import type { SensorFleetStatus } from '../../src/crds/sensorfleet.ts';
import { fakeNode } from '../../src/devcluster/nodes.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { microTime } from '../../src/legos/clock.ts';
import { FleetLabel, HeartbeatAnnotations, heartbeatLeaseName } from '../../src/reconcilers/sensorfleet-agent.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Fleet = KubeObject & { status?: SensorFleetStatus };
const BATCH_MS = 1000;
const RENEWALS = 40;

describe('SensorFleet wake-ups', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  const node = fakeNode(931);
  const nodeName = node.metadata.name ?? '';
  const selectorKey = 'manyfold.dev/sfleet-wakeups';

  const reconciles = () => operator.metric('controller_runtime_reconcile_total', { controller: 'sensorfleet' });
  /** Waits until no reconcile happened for `quietMs`, so a count starts from rest. */
  const settle = async (quietMs = 2500) => {
    let last = await reconciles();
    for (let i = 0; i < 40; i++) {
      await sleep(quietMs);
      const now = await reconciles();
      if (now === last) return;
      last = now;
    }
    throw new Error('the fleet never stopped reconciling');
  };
  const lease = (renewMs: number, backlog: number): KubeObject => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: heartbeatLeaseName('burst', nodeName),
      namespace: ns.name,
      labels: { [FleetLabel]: 'burst' },
      annotations: { [HeartbeatAnnotations.nodeName]: nodeName, [HeartbeatAnnotations.health]: 'ok', [HeartbeatAnnotations.backlogRecords]: String(backlog) },
    },
    spec: { holderIdentity: nodeName, renewTime: microTime(renewMs), leaseDurationSeconds: 60 },
  });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'sfleet-wake');
    await admin.deleteIfExists(Resources.Node, { name: nodeName });
    await admin.create(Resources.Node, { ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, [selectorKey]: ns.name } } });
    operator = await startManager([sensorFleetController({ operatorNamespace: 'manyfold-system', heartbeatBatchMs: BATCH_MS })]);
    await admin.apply(
      {
        apiVersion: 'manyfold.dev/v1alpha1',
        kind: 'SensorFleet',
        metadata: { name: 'burst', namespace: ns.name },
        spec: { nodeSelector: { [selectorKey]: ns.name }, sensors: [{ name: 't', source: { type: 'simulated' } }], sink: { type: 'stdout' }, staleAfterSeconds: 60 },
      },
      { fieldManager: 'test-user' },
    );
    await eventually('the fleet reconciled', async () => (await admin.get<Fleet>(SensorFleetType, 'burst', ns.name)).status?.observedGeneration === 1);
  });
  afterAll(async () => {
    await operator?.stop();
    await admin?.deleteIfExists(Resources.Node, { name: nodeName });
    await ns?.dispose();
    await admin?.close();
  });

  it(`folds ${RENEWALS} heartbeat renewals into about one reconcile per ${BATCH_MS} ms, and the last one shows`, async () => {
    await admin.apply(lease(Date.now(), 0), { fieldManager: 'agent' });
    await eventually('the node reporting', async () => (await admin.get<Fleet>(SensorFleetType, 'burst', ns.name)).status?.reportingNodes === 1);
    await settle();
    const before = await reconciles();
    const started = performance.now();
    for (let i = 1; i <= RENEWALS; i++) await admin.apply(lease(Date.now(), i), { fieldManager: 'agent' });
    const burstMs = performance.now() - started;
    // The last renewal's backlog reaches status (written at most every 2 s for backlog alone).
    await eventually('the last renewal in status', async () => (await admin.get<Fleet>(SensorFleetType, 'burst', ns.name)).status?.backlogRecords === RENEWALS, { timeoutMs: 20_000 });
    await sleep(BATCH_MS + 500);
    const during = (await reconciles()) - before;
    // One per interval the burst spanned, one at its end, and the decider's own timers (the
    // backlog write it deferred): a handful, where each renewal used to cost one.
    const bound = Math.ceil(burstMs / BATCH_MS) + 4;
    expect(during, `${RENEWALS} renewals in ${burstMs.toFixed(0)} ms`).toBeLessThanOrEqual(bound);
    expect(during).toBeLessThan(RENEWALS / 2);
    expect(during).toBeGreaterThanOrEqual(1);
  });

  it("does not wake the fleet for a Node's status updates, but does for a label change", async () => {
    await settle();
    const before = await reconciles();
    for (let i = 0; i < 20; i++) {
      await admin.patch(
        Resources.Node,
        { name: nodeName },
        { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: `beat ${i}`, lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } },
        { type: 'strategic', subresource: 'status' },
      );
    }
    await sleep(1500);
    expect((await reconciles()) - before).toBe(0);
    await admin.patch(Resources.Node, { name: nodeName }, { metadata: { labels: { [selectorKey]: 'elsewhere' } } }, { type: 'merge' });
    await eventually('the fleet reconciled for the label change', async () => (await reconciles()) > before);
    await eventually('no node selected any more', async () => (await admin.get<Fleet>(SensorFleetType, 'burst', ns.name)).status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'NoNodesSelected');
  });
});
