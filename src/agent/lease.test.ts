import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { desiredLease, heartbeatLeaseName, type HeartbeatReport, type LeaseObject, nodeLabelValue } from './lease.ts';

const report: HeartbeatReport = {
  namespace: 'edge',
  fleet: 'plant-a',
  node: 'node-1',
  staleAfterSeconds: 30,
  health: 'ok',
  message: '',
  backlogRecords: 12,
  backlogBytes: 3456,
  lastSampleTimeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
  agentVersion: '0.1.0',
};
const now = Date.UTC(2026, 0, 2, 3, 4, 6, 789);

describe('heartbeat Lease names and labels', () => {
  it('is <fleet>-<node>, or 240 characters, a dash and 12 hex of its sha256 beyond 253', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,200}$/), fc.stringMatching(/^[a-z0-9.-]{1,253}$/), (fleet, node) => {
        const full = `${fleet}-${node}`;
        const name = heartbeatLeaseName(fleet, node);
        if (full.length <= 253) expect(name).toBe(full);
        else expect(name).toBe(`${full.slice(0, 240)}-${createHash('sha256').update(full).digest('hex').slice(0, 12)}`);
        expect(name.length).toBeLessThanOrEqual(253);
      }),
    );
  });

  it('uses the node name as label when it is a valid label value, else its 12-hex sha256 prefix', () => {
    expect(nodeLabelValue('node-1')).toEqual({ value: 'node-1', hashed: false });
    const long = `${'n'.repeat(70)}.example.com`;
    expect(nodeLabelValue(long)).toEqual({ value: createHash('sha256').update(long).digest('hex').slice(0, 12), hashed: true });
    expect(nodeLabelValue('-edge-').hashed).toBe(true);
  });
});

describe('desiredLease', () => {
  it('creates the Lease with the contract labels, annotations and spec', () => {
    const lease = desiredLease(undefined, report, now);
    expect(lease).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'plant-a-node-1',
        namespace: 'edge',
        labels: { 'manyfold.dev/sensorfleet': 'plant-a', 'manyfold.dev/node': 'node-1' },
        annotations: {
          'manyfold.dev/health': 'ok',
          'manyfold.dev/health-message': '',
          'manyfold.dev/backlog-records': '12',
          'manyfold.dev/backlog-bytes': '3456',
          'manyfold.dev/last-sample-time': '2026-01-02T03:04:05Z',
          'manyfold.dev/agent-version': '0.1.0',
        },
      },
      spec: { holderIdentity: 'node-1', leaseDurationSeconds: 30, acquireTime: '2026-01-02T03:04:06.789000Z', renewTime: '2026-01-02T03:04:06.789000Z' },
    });
  });

  it('updates an existing Lease in place: keeps resourceVersion, acquireTime and foreign metadata, drops a stale last-sample-time', () => {
    const existing: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'plant-a-node-1', namespace: 'edge', resourceVersion: '42', uid: 'x', labels: { team: 'ops' }, annotations: { note: 'keep', 'manyfold.dev/last-sample-time': 'old' } },
      spec: { holderIdentity: 'node-1', acquireTime: '2025-12-31T00:00:00.000000Z', renewTime: '2025-12-31T00:00:00.000000Z', leaseDurationSeconds: 60 },
    };
    const lease = desiredLease(existing, { ...report, lastSampleTimeMs: undefined, health: 'error', message: 'x'.repeat(400) }, now);
    expect(lease.metadata.resourceVersion).toBe('42');
    expect(lease.metadata.labels).toEqual({ team: 'ops', 'manyfold.dev/sensorfleet': 'plant-a', 'manyfold.dev/node': 'node-1' });
    expect(lease.metadata.annotations?.['note']).toBe('keep');
    expect(lease.metadata.annotations?.['manyfold.dev/last-sample-time']).toBeUndefined();
    expect(lease.metadata.annotations?.['manyfold.dev/health']).toBe('error');
    expect(lease.metadata.annotations?.['manyfold.dev/health-message']?.length).toBe(256);
    expect(lease.spec).toMatchObject({ acquireTime: '2025-12-31T00:00:00.000000Z', renewTime: '2026-01-02T03:04:06.789000Z', leaseDurationSeconds: 30 });
  });

  it('carries the real node name in an annotation when the label had to be hashed', () => {
    const node = `${'n'.repeat(70)}.example.com`;
    const lease = desiredLease(undefined, { ...report, node }, now);
    expect(lease.metadata.labels?.['manyfold.dev/node']).toHaveLength(12);
    expect(lease.metadata.annotations?.['manyfold.dev/node-name']).toBe(node);
    expect(lease.spec?.holderIdentity).toBe(node);
  });
});
