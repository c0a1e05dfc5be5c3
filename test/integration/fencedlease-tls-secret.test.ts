/**
 * A FencedLease whose etcd TLS Secret is broken, against the real API server (operator
 * ServiceAccount) and a real etcd serving mutual TLS with certificates made by openssl:
 * malformed PEM in ca.crt or tls.crt, a tls.key that does not match tls.crt, a pair
 * half there, and a well-formed CA that did not sign etcd's certificate. Each must give
 * `Ready=False` with a message naming the Secret and the key (reason `InvalidTLSSecret`,
 * or `EtcdUnavailable` naming the Secret for the CA that only a handshake can refute),
 * one Warning event per outage, a retry that backs off instead of spinning, a manager
 * that keeps serving the healthy lease, and recovery once the Secret is fixed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedLeaseType, fencedLeaseController } from '../../src/controllers/fencedlease.ts';
import type { FencedLeaseStatus } from '../../src/crds/fencedlease.ts';
import { ensurePki, type Pki } from '../../src/devcluster/pki.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { createLeaseClient } from '../../src/legos/lease/index.ts';
import { DefaultFencedLeasePolicy } from '../../src/reconcilers/fencedlease-target.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { EtcdCluster } from '../support/etcd.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Lease = KubeObject & { spec: Record<string, unknown>; status?: FencedLeaseStatus };
type Event = KubeObject & { reason?: string; note?: string; regarding?: { name?: string } };

describe('FencedLease with a broken etcd TLS Secret', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  let etcd: EtcdCluster;
  let dirs: string[] = [];
  let pki: Pki;
  let pem: { ca: string; cert: string; key: string; otherKey: string; otherCa: string };

  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const secret = (name: string, data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns.name },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  const lease = (name: string, secretName: string): Lease => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'FencedLease',
    metadata: { name, namespace: ns.name },
    spec: { ttlSeconds: 10, etcd: { endpoints: etcd.endpoints, tls: { secretName } } },
  });
  const ready = (l: Lease) => l.status?.conditions?.find((c) => c.type === 'Ready');
  const untilReady = (name: string, check: (c: NonNullable<ReturnType<typeof ready>>) => boolean, timeoutMs = 60_000) =>
    eventually(`${name}: Ready as expected`, async () => {
      const c = ready(await admin.get<Lease>(FencedLeaseType, name, ns.name));
      return c && check(c) ? c : undefined;
    }, { timeoutMs });
  const warnings = async (name: string, reason: string) =>
    (await admin.list<Event>(Resources.EventsV1, { namespace: ns.name })).items.filter((e) => e.regarding?.name === name && e.reason === reason);
  const reconciles = () => operator.metric('controller_runtime_reconcile_total', { controller: 'fencedlease' });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'flease-pem');
    const dir = await mkdtemp(join(tmpdir(), 'manyfold-flease-pem-'));
    const otherDir = await mkdtemp(join(tmpdir(), 'manyfold-flease-pem-other-'));
    dirs = [dir, otherDir];
    pki = await ensurePki(dir, [{ file: 'etcd-client', user: 'flease-client', groups: [] }, { file: 'other', user: 'someone-else', groups: [] }]);
    const other = await ensurePki(otherDir, []);
    const client = pki.clients['etcd-client']!;
    etcd = await EtcdCluster.start({
      name: 'flease-pem',
      tls: { caCert: pki.caCert, serverCert: pki.serverCert, serverKey: pki.serverKey, clientCert: client.cert, clientKey: client.key },
    });
    const text = (path: string) => readFile(path, 'utf8');
    pem = { ca: await text(pki.caCert), cert: await text(client.cert), key: await text(client.key), otherKey: await text(pki.clients['other']!.key), otherCa: await text(other.caCert) };
    const policy = { ...DefaultFencedLeasePolicy, allowedEndpoints: etcd.endpoints };
    operator = await startManager([fencedLeaseController({ defaultEndpoints: [], policy, operatorNamespace: 'manyfold-system', clientDefaults: { requestTimeoutMs: 2000 } })]);
  });
  afterAll(async () => {
    await operator?.stop();
    await etcd?.stop();
    await ns?.dispose();
    await admin?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('names the Secret and key of each malformed or mismatched part, backs off, and keeps serving the good lease', async () => {
    const good = { 'ca.crt': pem.ca, 'tls.crt': pem.cert, 'tls.key': pem.key };
    const cases = [
      { name: 'badca', data: { ...good, 'ca.crt': 'this is not PEM' }, message: `Secret ${ns.name}/tls-badca (spec.etcd.tls.secretName): key ca.crt holds no PEM block` },
      {
        name: 'badcert',
        data: { ...good, 'tls.crt': pem.cert.replace(/\n[A-Za-z0-9+/]{16}/, '\n****************') },
        message: `Secret ${ns.name}/tls-badcert (spec.etcd.tls.secretName): key tls.crt certificate 1 of 1 does not parse`,
      },
      {
        name: 'cutkey',
        data: { ...good, 'tls.key': pem.key.slice(0, 60) },
        message: `Secret ${ns.name}/tls-cutkey (spec.etcd.tls.secretName): key tls.key has a "-----BEGIN`,
      },
      {
        name: 'mismatch',
        data: { ...good, 'tls.key': pem.otherKey },
        message: `Secret ${ns.name}/tls-mismatch (spec.etcd.tls.secretName): key tls.key does not match the client certificate CN=flease-client`,
      },
      { name: 'nokey', data: { 'ca.crt': pem.ca, 'tls.crt': pem.cert }, message: `Secret ${ns.name}/tls-nokey (spec.etcd.tls.secretName): key tls.key is missing` },
    ];
    await admin.create(Resources.Secret, secret('tls-good', good));
    for (const c of cases) await admin.create(Resources.Secret, secret(`tls-${c.name}`, c.data));
    await admin.apply(lease('good', 'tls-good'), { fieldManager: 'test-user' });
    for (const c of cases) await admin.apply(lease(c.name, `tls-${c.name}`), { fieldManager: 'test-user' });

    for (const c of cases) {
      const condition = await untilReady(c.name, (r) => r.reason === 'InvalidTLSSecret');
      expect(condition.status).toBe('False');
      expect(condition.message).toContain(c.message);
    }
    await untilReady('good', (r) => r.status === 'True');

    // No hot retry: over 10 s, the five broken leases are looked at a few times each
    // (1 s growing towards 30 s), not hundreds; the manager stayed up and leading.
    const before = await reconciles();
    await sleep(10_000);
    const during = (await reconciles()) - before;
    expect(during).toBeLessThanOrEqual(cases.length * 10);
    expect(operator.manager.leading).toBe(true);
    for (const c of cases) expect(await warnings(c.name, 'InvalidTLSSecret')).toHaveLength(1);

    // The good lease still follows its holder meanwhile.
    const app = createLeaseClient({ endpoints: etcd.endpoints, tls: { ca: pem.ca, cert: pem.cert, key: pem.key } });
    try {
      const h = await app.acquire('good', { key: `/manyfold/fencedleases/${ns.name}/good`, ttlSeconds: 10, identity: 'app-good' });
      await eventually('good held by app-good', async () => (await admin.get<Lease>(FencedLeaseType, 'good', ns.name)).status?.holder === 'app-good');
      await h.release();
    } finally {
      await app.close();
    }
    expect(operator.errors.filter((line) => line.includes('fencedlease'))).toEqual([]);
  });

  it('recovers once the Secret is fixed, without touching the FencedLease', async () => {
    const fixedAt = Date.now();
    await admin.patch(Resources.Secret, { name: 'tls-mismatch', namespace: ns.name }, { data: { 'tls.key': b64(pem.key) } }, { type: 'merge' });
    await admin.patch(Resources.Secret, { name: 'tls-nokey', namespace: ns.name }, { data: { 'tls.key': b64(pem.key) } }, { type: 'merge' });
    // The retry interval is capped at 30 s: the fix is seen within that (plus slack for a loaded machine).
    await untilReady('mismatch', (r) => r.status === 'True' && r.reason === 'Observed', 60_000);
    await untilReady('nokey', (r) => r.status === 'True' && r.reason === 'Observed', 60_000);
    expect(Date.now() - fixedAt).toBeLessThan(60_000);
    expect((await warnings('mismatch', 'EtcdAvailable')).length).toBeGreaterThanOrEqual(1);
    // The ones not fixed stay as they were.
    expect((await untilReady('badca', (r) => r.reason === 'InvalidTLSSecret')).status).toBe('False');
  });

  it('reports a well-formed CA that did not sign etcd\'s certificate as a failed handshake naming the Secret', async () => {
    await admin.create(Resources.Secret, secret('tls-wrongca', { 'ca.crt': pem.otherCa, 'tls.crt': pem.cert, 'tls.key': pem.key }));
    await admin.apply(lease('wrongca', 'tls-wrongca'), { fieldManager: 'test-user' });
    const condition = await untilReady('wrongca', (r) => r.status === 'False');
    expect(condition.reason).toBe('EtcdUnavailable');
    expect(condition.message).toContain(`TLS handshake failed with Secret ${ns.name}/tls-wrongca (spec.etcd.tls.secretName)`);
    expect(condition.message).not.toContain('--use-system-ca');
  });
});
