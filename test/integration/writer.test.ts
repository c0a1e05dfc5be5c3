/**
 * FencedWriter's status writes against the real API server: a write is skipped when the
 * status would not change, judged against this writer's own last write while the
 * caller's copy still shows the version that write was made over (a lagging cache), and
 * against the caller's copy once it has moved on (caught up, or written by someone else);
 * a version someone else made between the read and the write does not hide the write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { FencedWriter } from '../../src/runtime/writer.ts';
import { adminClient, testNamespace } from '../support/cluster.ts';

type Cell = KubeObject & { status?: Record<string, unknown> };

describe('FencedWriter.applyStatus', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'writer');
  });
  afterAll(async () => {
    await ns.dispose();
    await admin.close();
  });

  it('reads its own writes while the copy is stale, and defers to the copy once it moved on', async () => {
    const created = await admin.apply<Cell>(
      { apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: 'w', namespace: ns.name }, spec: { zone: 'zone-a', template: { resources: [] } } },
      { fieldManager: 'test-user' },
    );
    const get = () => admin.get<Cell>(CellType, 'w', ns.name);
    const pending = { observedGeneration: 1, phase: 'Pending' };
    const ready = { observedGeneration: 1, phase: 'Ready' };
    // The admin identity is not fenced, so any epoch is accepted.
    const writer = new FencedWriter({ client: admin, epoch: 7 });

    expect(await writer.applyStatus(created, pending)).toBe(true);
    expect((await get()).status).toMatchObject({ ...pending, epoch: '7' });
    // `created` is now stale, like a cache that has not delivered the write yet.
    expect(writer.statusOf(created)).toEqual({ ...pending, epoch: '7' });
    expect(await writer.applyStatus(created, pending)).toBe(false);
    expect(writer.writes).toBe(1);
    // A different status is still written, from the same stale copy.
    expect(await writer.applyStatus(created, ready)).toBe(true);
    expect((await get()).status).toMatchObject(ready);

    // Caught up: the copy's own status is the reference again.
    const fresh = await get();
    expect(writer.statusOf(fresh)).toEqual(fresh.status);
    expect(await writer.applyStatus(fresh, ready)).toBe(false);

    // Someone else changes the status: the writer does not trust its memory over that.
    await admin.patch(CellType, { name: 'w', namespace: ns.name }, { status: { phase: 'Degraded' } }, { type: 'merge', subresource: 'status' });
    const changed = await get();
    expect(changed.status?.['phase']).toBe('Degraded');
    expect(await writer.applyStatus(changed, ready)).toBe(true);
    expect((await get()).status?.['phase']).toBe('Ready');
    expect(writer.writes).toBe(3);

    // Control: a writer without that memory, given the stale copy, writes again.
    const forgetful = new FencedWriter({ client: admin, epoch: 7 });
    expect(await forgetful.applyStatus(created, ready)).toBe(true);
  });

  it('keeps trusting its write over a version someone else made between its read and its write', async () => {
    const read = await admin.apply<Cell>(
      { apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name: 'race', namespace: ns.name }, spec: { zone: 'zone-a', template: { resources: [] } } },
      { fieldManager: 'test-user' },
    );
    // A label lands after the controller read the object and before its status write.
    const between = await admin.patch<Cell>(CellType, { name: 'race', namespace: ns.name }, { metadata: { labels: { touched: 'yes' } } }, { type: 'merge' });
    const writer = new FencedWriter({ client: admin, epoch: 7 });
    const nonce = { observedGeneration: 1, phase: 'Pending' };
    expect(await writer.applyStatus(read, nonce)).toBe(true);
    // The cache delivers the label change before the status write: the write is still the truth.
    expect(between.status).toBeUndefined();
    expect(writer.statusOf(between)).toEqual({ ...nonce, epoch: '7' });
    expect(await writer.applyStatus(between, nonce)).toBe(false);
    // Once the cache shows the write, the object is the reference again.
    const caughtUp = await admin.get<Cell>(CellType, 'race', ns.name);
    expect(writer.statusOf(caughtUp)).toEqual(caughtUp.status);
  });
});
