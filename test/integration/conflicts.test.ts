/**
 * A conflict storm resolves: 40 keys reconciled by 8 workers all do read-modify-write
 * on one shared ConfigMap with resourceVersion preconditions, so most writes hit 409
 * Conflict. Conflicts requeue at once (no backoff growth) and every key's update lands
 * exactly once; no reconcile is given up on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerSpec } from '../../src/runtime/controller.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { stampEpoch } from '../../src/runtime/leader/fence.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type ConfigMap = KubeObject & { data?: Record<string, string> };
const keys = 40;

describe('conflict storm', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'storm');
    await admin.create(Resources.ConfigMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', namespace: ns.name }, data: {} });
    const storm: ControllerSpec = {
      name: 'storm',
      for: Resources.ConfigMap,
      concurrency: 8,
      reconcile: async (ctx) => {
        if (ctx.namespace !== ns.name || !ctx.name.startsWith('member-')) return;
        // Read fresh (not from the cache) and write with the resourceVersion just read.
        const shared = await ctx.client.get<ConfigMap>(Resources.ConfigMap, 'shared', ns.name);
        if (shared.data?.[ctx.name] === 'in') return;
        await ctx.client.replace(Resources.ConfigMap, stampEpoch({ ...shared, data: { ...(shared.data ?? {}), [ctx.name]: 'in' } }, ctx.epoch));
      },
    };
    operator = await startManager([storm]);
  });
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  it('lands every update exactly once through a storm of 409s', async () => {
    await Promise.all(
      Array.from({ length: keys }, (_, i) =>
        admin.create(Resources.ConfigMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `member-${i}`, namespace: ns.name } }),
      ),
    );
    const shared = await eventually(
      'every member recorded in the shared ConfigMap',
      async () => {
        const cm = await admin.get<ConfigMap>(Resources.ConfigMap, 'shared', ns.name);
        return Object.keys(cm.data ?? {}).length === keys ? cm : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(Object.values(shared.data ?? {}).every((v) => v === 'in')).toBe(true);
    const conflicts = await operator.metric('controller_runtime_reconcile_total', { controller: 'storm', result: 'requeue' });
    expect(conflicts).toBeGreaterThan(0);
    expect(await operator.metric('controller_runtime_terminal_reconcile_errors_total', { controller: 'storm' }), operator.errors.join('\n')).toBe(0);
  });
});
