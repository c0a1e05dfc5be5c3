/**
 * What one spec update of a Cell costs, against the real API server: the children
 * applied and the reconciles run. Issue 11's refactor must not change it: one apply of
 * the changed child, one status write, and two reconciles (the update, then the child's
 * event) per update, also when updates of many Cells arrive close together and the
 * caches lag behind the writes. The writer is the manager's own; the test only counts
 * the calls the Cell controller makes through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CellStatus } from '../../src/crds/cell.ts';
import { CellType, cellController } from '../../src/controllers/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import type { ControllerSpec } from '../../src/runtime/controller.ts';
import type { FencedWriter } from '../../src/runtime/writer.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Cell = KubeObject & { spec: Record<string, unknown>; status?: CellStatus };

/** Cells updated in the sample. */
const CELLS = 40;

/** The Cell controller, with the calls its reconciles make through the writer counted. */
/** Counts, and for a failure's message the log of each counted write (Cell, what, when). */
interface Counts {
  applies: number;
  statuses: number;
  readonly trail: string[];
}

function countedCellController(counts: Counts): ControllerSpec {
  const spec = cellController({ operatorNamespace: 'manyfold-system' });
  return {
    ...spec,
    reconcile: (ctx) => {
      const real = ctx.writer;
      const writer = new Proxy(real, {
        get(target, property, receiver) {
          if (property === 'apply')
            return (...args: Parameters<FencedWriter['apply']>) => {
              counts.applies++;
              counts.trail.push(`${Date.now()} ${ctx.key} apply ${args[0].kind}/${args[0].metadata.name ?? ''} epochAnnotation=${String(args[0].metadata.annotations?.['manyfold.dev/epoch'])} tmplGen=${String(args[0].metadata.annotations?.['manyfold.dev/template-generation'])}`);
              return target.apply(...args);
            };
          if (property === 'applyStatus')
            return async (...args: Parameters<FencedWriter['applyStatus']>) => {
              const wrote = await target.applyStatus(...args);
              if (wrote) {
                counts.statuses++;
                counts.trail.push(`${Date.now()} ${ctx.key} status ${JSON.stringify(args[1]).slice(0, 300)}`);
              }
              return wrote;
            };
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      return spec.reconcile({ ...ctx, writer });
    },
  };
}

describe('Cell controller writes per spec update', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  const counts: Counts = { applies: 0, statuses: 0, trail: [] };

  const cell = (name: string, rev: number): Cell => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name },
    spec: { zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { rev: String(rev) } }] } },
  });
  const names = Array.from({ length: CELLS }, (_, i) => `w${i}`);
  const reconciles = () => operator.metric('controller_runtime_reconcile_total', { controller: 'cell' });
  /** Waits until every Cell reports `generation` and no reconcile ran for 3 s. */
  const settled = async (generation: number) => {
    await eventually(`all Cells at generation ${generation}`, async () => {
      const list = await admin.list<Cell>(CellType, { namespace: ns.name });
      return list.items.length === CELLS && list.items.every((c) => c.status?.observedGeneration === generation && c.status.phase === 'Ready');
    }, { timeoutMs: 120_000 });
    let last = -1;
    for (let now = await reconciles(); now !== last; now = await reconciles()) {
      last = now;
      await sleep(3000);
    }
  };

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'cellw');
    operator = await startManager([countedCellController(counts)]);
    for (const name of names) await admin.apply(cell(name, 1), { fieldManager: 'test-user' });
    await settled(1);
  }, 180_000);
  afterAll(async () => {
    await operator.stop();
    await ns.dispose();
    await admin.close();
  });

  it('applies the changed child once, writes status once and reconciles twice per update', async () => {
    const before = { applies: counts.applies, statuses: counts.statuses, reconciles: await reconciles(), trail: counts.trail.length };
    // Updates close together (about 20/s), so reconciles overlap the informers' delivery.
    for (const name of names) {
      await admin.apply(cell(name, 2), { fieldManager: 'test-user' });
      await sleep(50);
    }
    await settled(2);
    const applies = counts.applies - before.applies;
    const statuses = counts.statuses - before.statuses;
    const perUpdate = (await reconciles() - before.reconciles) / CELLS;
    const twice = names.filter((n) => counts.trail.slice(before.trail).filter((l) => l.includes(`/${n} apply`)).length > 1);
    const trail = counts.trail.slice(before.trail).filter((l) => twice.some((n) => l.includes(`/${n} `)));
    expect({ applies, statuses }, `Cells written more than once:\n${trail.join('\n')}`).toEqual({ applies: CELLS, statuses: CELLS });
    // Two per update: the spec change, then the event of the status write (a no-op). A
    // third, also a no-op, when the child's own watch event reaches the queue after that
    // second reconcile instead of merging with it: a race between two watches. CI saw
    // 2.3 once (locally 2.0-2.2); writes, not reconciles, are what must not repeat.
    expect(perUpdate, `reconciles per update: ${perUpdate}`).toBeLessThanOrEqual(2.5);
    expect(operator.errors).toEqual([]);
  }, 180_000);
});
