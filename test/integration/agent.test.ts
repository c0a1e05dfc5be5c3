/**
 * `manyfold agent` against the real API server: a real agent process with a kubeconfig
 * writes its heartbeat Lease exactly as the SensorFleet contract says (name, labels,
 * annotations, holder, duration), renews it every heartbeatIntervalSeconds, reflects
 * its health, and exits 0 on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';

const BIN = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));

type Lease = KubeObject & { spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string } };

describe('agent heartbeat Lease', () => {
  let client: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let dir: string;
  let agent: ChildProcess | undefined;

  beforeAll(async () => {
    client = await adminClient();
    ns = await testNamespace(client, 'agent');
    dir = mkdtempSync(join(tmpdir(), 'manyfold-agent-it-'));
  });

  afterAll(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await ns.dispose();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the Lease with the contract fields, renews it, reports health and backlog, and stops on SIGTERM', async () => {
    const config = {
      version: 1,
      fleet: { namespace: ns.name, name: 'plant', uid: 'u-1', generation: 1 },
      sensors: [
        { name: 'temp', source: { type: 'simulated' }, intervalMs: 100 },
        { name: 'door', source: { type: 'file', path: join(dir, 'missing') }, intervalMs: 100 },
      ],
      spool: { maxBytes: 1048576, maxAgeSeconds: 3600, overflow: 'dropOldest' },
      sink: { type: 'http', url: 'http://127.0.0.1:9/ingest', timeoutMs: 200 }, // down: a backlog builds up
      staleAfterSeconds: 3,
      heartbeatIntervalSeconds: 1,
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--config', join(dir, 'config.json'), '--spool-dir', join(dir, 'spool'), '--kubeconfig', inject('kubeconfig'), '--metrics-bind-address', '0', '--shutdown-timeout', '1s'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_NAME: 'edge-node-1' } },
    );
    agent = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const lease = await eventually('the heartbeat Lease', async () => {
      const found = await client.getOrUndefined<Lease>(Resources.Lease, 'plant-edge-node-1', ns.name);
      return found && Number(found.metadata.annotations?.['manyfold.dev/backlog-records'] ?? 0) > 0 ? found : undefined;
    }, { timeoutMs: 60_000 });
    expect(lease.metadata.labels).toMatchObject({ 'manyfold.dev/sensorfleet': 'plant', 'manyfold.dev/node': 'edge-node-1' });
    expect(lease.spec.holderIdentity).toBe('edge-node-1');
    expect(lease.spec.leaseDurationSeconds).toBe(3);
    expect(lease.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const annotations = lease.metadata.annotations ?? {};
    expect(annotations['manyfold.dev/agent-version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(annotations['manyfold.dev/last-sample-time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Number(annotations['manyfold.dev/backlog-bytes'])).toBeGreaterThan(0);
    // The file sensor keeps failing: error, naming the sensor.
    await eventually('health error for the failing sensor', async () => {
      const current = await client.get<Lease>(Resources.Lease, 'plant-edge-node-1', ns.name);
      return current.metadata.annotations?.['manyfold.dev/health'] === 'error' && (current.metadata.annotations['manyfold.dev/health-message'] ?? '').includes('sensor door');
    }, { timeoutMs: 30_000 });

    const renewed = await eventually('a renewal', async () => {
      const current = await client.get<Lease>(Resources.Lease, 'plant-edge-node-1', ns.name);
      return Date.parse(current.spec.renewTime ?? '') > Date.parse(lease.spec.renewTime ?? '') ? current : undefined;
    }, { timeoutMs: 30_000 });
    expect(renewed.spec.acquireTime).toBe(lease.spec.acquireTime);
    expect(Number(renewed.metadata.resourceVersion)).toBeGreaterThan(Number(lease.metadata.resourceVersion));

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
