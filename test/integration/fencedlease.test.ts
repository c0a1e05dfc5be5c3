/**
 * The FencedLease controller against the real API server (operator ServiceAccount, so
 * RBAC is what deploy/manifests grants) and real etcd: a lease backend of its own that
 * the test stops and starts, and the control plane's etcd as the operator default.
 * Applications acquire with the client library; the status must follow etcd (holder,
 * token, times, transitions), revoke once per nonce, revoke holders outside
 * allowedHolders, hold revokes back under the kill switch, connect over mutual TLS,
 * report an unreachable etcd without stopping the manager, and clean up (or give up
 * cleaning after the grace period) on deletion.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FencedLeaseType, fencedLeaseController } from '../../src/controllers/fencedlease.ts';
import { ensurePki } from '../../src/devcluster/pki.ts';
import type { FencedLeaseStatus } from '../../src/crds/fencedlease.ts';
import { createLeaseClient, type LeaseClient, type LeaseHandle } from '../../src/legos/lease/index.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { EtcdCluster } from '../support/etcd.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Lease = KubeObject & { spec: Record<string, unknown>; status?: FencedLeaseStatus };
type Event = KubeObject & { reason?: string; note?: string; type?: string; regarding?: { name?: string } };

const CLEANUP_GRACE_MS = 8000;

describe('FencedLease controller', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  let etcd: EtcdCluster;
  let apps: LeaseClient;
  let raw: Etcd3;
  const handles: LeaseHandle[] = [];

  const lease = (name: string, spec: Record<string, unknown>): Lease => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'FencedLease', metadata: { name, namespace: ns.name }, spec });
  const onEtcd = (extra: Record<string, unknown> = {}) => ({ ttlSeconds: 10, etcd: { endpoints: etcd.endpoints }, ...extra });
  const keyOf = (name: string) => `/manyfold/fencedleases/${ns.name}/${name}`;
  const apply = (object: KubeObject) => admin.apply(object, { fieldManager: 'test-user' });
  const annotate = (name: string, annotations: Record<string, string>) => admin.patch(FencedLeaseType, { name, namespace: ns.name }, { metadata: { annotations } }, { type: 'merge' });
  const condition = (l: Lease, type: string) => l.status?.conditions?.find((c) => c.type === type);
  const untilLease = (what: string, name: string, check: (l: Lease) => boolean, timeoutMs = 60_000) =>
    eventually(what, async () => {
      const l = await admin.get<Lease>(FencedLeaseType, name, ns.name);
      return check(l) ? l : undefined;
    }, { timeoutMs });
  const acquire = async (client: LeaseClient, name: string, identity: string, ttlSeconds = 10) => {
    const handle = await client.acquire(name, { key: keyOf(name), ttlSeconds, identity, signal: AbortSignal.timeout(60_000) });
    handles.push(handle);
    return handle;
  };
  const events = async (name: string, reason: string) =>
    (await admin.list<Event>(Resources.EventsV1, { namespace: ns.name })).items.filter((e) => e.regarding?.name === name && e.reason === reason);
  const reconciles = () => operator.metric('controller_runtime_reconcile_total', { controller: 'fencedlease' });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'flease');
    etcd = await EtcdCluster.start({ name: 'flease' });
    raw = new Etcd3({ hosts: etcd.endpoints });
    apps = createLeaseClient({ endpoints: etcd.endpoints });
    const defaults = inject('etcdEndpoint') ? [inject('etcdEndpoint')] : etcd.endpoints;
    operator = await startManager([fencedLeaseController({ defaultEndpoints: defaults, operatorNamespace: 'manyfold-system', cleanupGraceMs: CLEANUP_GRACE_MS, clientDefaults: { requestTimeoutMs: 2000 } })]);
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.release()));
    await apps?.close();
    await operator?.stop();
    raw?.close();
    await etcd?.stop();
    await ns?.dispose();
    await admin?.close();
  });

  it('mirrors the holder, its fencing token and times, and reports Ready', async () => {
    await apply(lease('alpha', onEtcd()));
    const free = await untilLease('alpha observed free', 'alpha', (l) => condition(l, 'Held')?.reason === 'Free');
    expect(condition(free, 'Ready')).toMatchObject({ status: 'True', reason: 'Observed' });
    expect(free.metadata.finalizers).toContain('manyfold.dev/fencedlease-cleanup');
    const h1 = await acquire(apps, 'alpha', 'app-1');
    const held = await untilLease('alpha held by app-1', 'alpha', (l) => l.status?.holder === 'app-1' && l.status.acquireTime !== undefined);
    expect(held.status?.fencingToken).toBe(h1.fencingToken.toString());
    expect(held.status?.expireTime).toBeDefined();
    expect(held.status?.renewTime).toBeDefined();
    expect(Date.parse(held.status?.expireTime ?? '') - Date.parse(held.status?.renewTime ?? '')).toBe(10_000);
    expect(Date.parse(held.status?.expireTime ?? '')).toBeGreaterThan(Date.now() - 1000);
    expect(condition(held, 'Ready')?.status).toBe('True');
    expect(condition(held, 'Held')).toMatchObject({ status: 'True', reason: 'Held' });
    expect(Number(held.status?.epoch)).toBe(operator.manager.epoch);
  });

  it('counts a transition when another holder takes over, with a larger token', async () => {
    const before = await admin.get<Lease>(FencedLeaseType, 'alpha', ns.name);
    const h1 = handles.at(-1) as LeaseHandle;
    await h1.release();
    const h2 = await acquire(apps, 'alpha', 'app-2');
    expect(h2.fencingToken).toBeGreaterThan(h1.fencingToken);
    const after = await untilLease('alpha held by app-2', 'alpha', (l) => l.status?.holder === 'app-2' && l.status.fencingToken === h2.fencingToken.toString());
    expect(after.status?.transitions).toBe((before.status?.transitions ?? 0) + 1);
  });

  it('revokes the holder once per manyfold.dev/revoke nonce', async () => {
    const h2 = handles.at(-1) as LeaseHandle;
    await annotate('alpha', { 'manyfold.dev/revoke': 'n1' });
    await eventually('app-2 revoked', async () => h2.signal.aborted);
    await untilLease('nonce n1 recorded', 'alpha', (l) => l.status?.lastRevokeNonce === 'n1');
    expect((await h2.fencedPut('/test/flease/alpha', 'stale')).committed).toBe(false);

    const h3 = await acquire(apps, 'alpha', 'app-3');
    await untilLease('alpha held by app-3', 'alpha', (l) => l.status?.holder === 'app-3');
    // Re-apply the same nonce (with another change so the object is reconciled again).
    const count = await reconciles();
    await annotate('alpha', { 'manyfold.dev/revoke': 'n1', 'example.com/touched': '1' });
    await eventually('alpha reconciled again', async () => (await reconciles()) > count);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(h3.signal.aborted).toBe(false);
    expect((await h3.fencedPut('/test/flease/alpha', 'fresh')).committed).toBe(true);
    const l = await admin.get<Lease>(FencedLeaseType, 'alpha', ns.name);
    expect(l.status).toMatchObject({ holder: 'app-3', fencingToken: h3.fencingToken.toString(), lastRevokeNonce: 'n1' });
    expect(await events('alpha', 'Revoked')).toHaveLength(1);
  });

  it('hands a revoked lease to the next waiter, which keeps it (the nonce does not act twice)', async () => {
    await apply(lease('zeta', onEtcd()));
    const first = await acquire(apps, 'zeta', 'app-z1');
    const next = acquire(apps, 'zeta', 'app-z2');
    await untilLease('zeta held with a waiter', 'zeta', (l) => l.status?.holder === 'app-z1' && condition(l, 'Held')?.message.includes('1 waiting') === true);
    await annotate('zeta', { 'manyfold.dev/revoke': 'z1' });
    const second = await next;
    await eventually('app-z1 revoked', async () => first.signal.aborted);
    await untilLease('zeta held by app-z2', 'zeta', (l) => l.status?.holder === 'app-z2' && l.status.lastRevokeNonce === 'z1');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(second.signal.aborted).toBe(false);
    expect(await events('zeta', 'Revoked')).toHaveLength(1);
  });

  it('revokes a holder that is not in allowedHolders and reports HolderNotAllowed', async () => {
    await apply(lease('beta', onEtcd({ allowedHolders: ['app-1'] })));
    await untilLease('beta observed', 'beta', (l) => condition(l, 'Ready')?.status === 'True');
    const intruder = await acquire(apps, 'beta', 'intruder');
    await eventually('intruder revoked', async () => intruder.signal.aborted);
    const reported = await eventually('HolderNotAllowed event', async () => (await events('beta', 'HolderNotAllowed'))[0]);
    expect(reported.type).toBe('Warning');
    expect(reported.note).toContain('intruder');
    const allowed = await acquire(apps, 'beta', 'app-1');
    const l = await untilLease('beta held by app-1', 'beta', (x) => x.status?.holder === 'app-1');
    expect(condition(l, 'HolderAllowed')).toMatchObject({ status: 'True', reason: 'Allowed' });
    expect(allowed.signal.aborted).toBe(false);
  });

  it('holds a revoke back while the kill switch is engaged on the namespace, and makes it once released', async () => {
    const killSwitch = (value: string | null) =>
      admin.patch(Resources.Namespace, { name: ns.name }, { metadata: { annotations: { 'manyfold.dev/kill-switch': value } } }, { type: 'merge' });
    await apply(lease('kappa', onEtcd()));
    const holder = await acquire(apps, 'kappa', 'app-k1');
    await untilLease('kappa held by app-k1', 'kappa', (l) => l.status?.holder === 'app-k1');
    try {
      await killSwitch('true');
      const halted = await untilLease('kappa halted', 'kappa', (l) => condition(l, 'Enforcing')?.reason === 'KillSwitchEngaged');
      expect(condition(halted, 'Enforcing')).toMatchObject({ status: 'False' });
      expect(condition(halted, 'Enforcing')?.message).toContain(`namespace ${ns.name}`);
      await annotate('kappa', { 'manyfold.dev/revoke': 'k1' });
      const waiting = await untilLease('the nonce waits', 'kappa', (l) => condition(l, 'Enforcing')?.message.includes('manyfold.dev/revoke=k1') === true);
      expect(waiting.status?.lastRevokeNonce).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(holder.signal.aborted).toBe(false);
      expect((await holder.fencedPut('/test/flease/kappa', 'still held')).committed).toBe(true);
      expect(await events('kappa', 'KillSwitchEngaged')).toHaveLength(1);
    } finally {
      await killSwitch(null);
    }
    await eventually('app-k1 revoked once released', async () => holder.signal.aborted);
    const released = await untilLease('kappa enforcing again', 'kappa', (l) => condition(l, 'Enforcing')?.status === 'True' && l.status?.lastRevokeNonce === 'k1');
    expect(condition(released, 'Enforcing')?.reason).toBe('Enforcing');
    expect(await events('kappa', 'Revoked')).toHaveLength(1);
    expect(await events('kappa', 'KillSwitchReleased')).toHaveLength(1);
  });

  it('reports a spec valid in shape but not in meaning, and missing credentials', async () => {
    await apply(lease('noport', { ttlSeconds: 10, etcd: { endpoints: ['http://127.0.0.1'] } }));
    const invalid = await untilLease('noport InvalidSpec', 'noport', (l) => condition(l, 'Ready')?.reason === 'InvalidSpec');
    expect(condition(invalid, 'Ready')?.message).toContain('spec.etcd.endpoints[0]');
    await apply(lease('nocreds', onEtcd({ etcd: { endpoints: etcd.endpoints, auth: { secretName: 'etcd-user' } } })));
    const missing = await untilLease('nocreds CredentialsUnavailable', 'nocreds', (l) => condition(l, 'Ready')?.reason === 'CredentialsUnavailable');
    expect(condition(missing, 'Ready')?.message).toContain(`Secret ${ns.name}/etcd-user (spec.etcd.auth.secretName) not found`);
  });

  it('connects with the user and password of a Secret, and reports refused credentials', async () => {
    const secured = await EtcdCluster.start({ name: 'flease-auth' });
    const setup = new Etcd3({ hosts: secured.endpoints });
    const user = { username: 'root', password: 'lease-pw' };
    try {
      await setup.role('root').create().catch(() => undefined);
      await setup.user('root').create(user.password);
      await setup.user('root').addRole('root');
      await setup.auth.authEnable();
      const secret = (name: string, password: string) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: ns.name },
        data: { username: Buffer.from(user.username).toString('base64'), password: Buffer.from(password).toString('base64') },
      });
      await admin.create(Resources.Secret, secret('etcd-root', user.password));
      await admin.create(Resources.Secret, secret('etcd-wrong', 'nope'));
      await apply(lease('secured', { ttlSeconds: 10, etcd: { endpoints: secured.endpoints, auth: { secretName: 'etcd-root' } } }));
      await apply(lease('refused', { ttlSeconds: 10, etcd: { endpoints: secured.endpoints, auth: { secretName: 'etcd-wrong' } } }));
      const app = createLeaseClient({ endpoints: secured.endpoints, auth: user });
      try {
        const h = await app.acquire('secured', { key: keyOf('secured'), ttlSeconds: 10, identity: 'app-s' });
        await untilLease('secured held by app-s', 'secured', (l) => l.status?.holder === 'app-s' && l.status.fencingToken === h.fencingToken.toString());
        await h.release();
      } finally {
        await app.close();
      }
      const refused = await untilLease('refused EtcdAccessDenied', 'refused', (l) => condition(l, 'Ready')?.reason === 'EtcdAccessDenied');
      expect(condition(refused, 'Ready')?.status).toBe('False');
      // Both leave: the refused one cannot clean up and goes after the grace period.
      await admin.delete(FencedLeaseType, { name: 'secured', namespace: ns.name });
      await admin.delete(FencedLeaseType, { name: 'refused', namespace: ns.name });
      await eventually('secured and refused gone', async () =>
        (await admin.getOrUndefined(FencedLeaseType, 'secured', ns.name)) === undefined && (await admin.getOrUndefined(FencedLeaseType, 'refused', ns.name)) === undefined,
        { timeoutMs: CLEANUP_GRACE_MS + 60_000 });
    } finally {
      setup.close();
      await secured.stop();
    }
  });

  it('connects over mutual TLS with the certificates of a Secret, and reports a client without one', async () => {
    const pkiDir = await mkdtemp(join(tmpdir(), 'manyfold-flease-pki-'));
    const pki = await ensurePki(pkiDir, [{ file: 'etcd-client', user: 'flease-client', groups: [] }]);
    const client = pki.clients['etcd-client']!;
    const secured = await EtcdCluster.start({
      name: 'flease-tls',
      tls: { caCert: pki.caCert, serverCert: pki.serverCert, serverKey: pki.serverKey, clientCert: client.cert, clientKey: client.key },
    });
    try {
      expect(secured.endpoints[0]).toMatch(/^https:/);
      const pem = async (path: string) => (await readFile(path)).toString('base64');
      const secret = (name: string, data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns.name }, data });
      await admin.create(Resources.Secret, secret('etcd-mtls', { 'ca.crt': await pem(pki.caCert), 'tls.crt': await pem(client.cert), 'tls.key': await pem(client.key) }));
      await admin.create(Resources.Secret, secret('etcd-ca-only', { 'ca.crt': await pem(pki.caCert) }));
      await apply(lease('mtls', { ttlSeconds: 10, etcd: { endpoints: secured.endpoints, tls: { secretName: 'etcd-mtls' } } }));
      await apply(lease('nocert', { ttlSeconds: 10, etcd: { endpoints: secured.endpoints, tls: { secretName: 'etcd-ca-only' } } }));
      const app = createLeaseClient({ endpoints: secured.endpoints, tls: { ca: await readFile(pki.caCert), cert: await readFile(client.cert), key: await readFile(client.key) } });
      try {
        const h = await app.acquire('mtls', { key: keyOf('mtls'), ttlSeconds: 10, identity: 'app-tls' });
        const held = await untilLease('mtls held by app-tls', 'mtls', (l) => l.status?.holder === 'app-tls' && l.status.fencingToken === h.fencingToken.toString());
        expect(condition(held, 'Ready')).toMatchObject({ status: 'True', reason: 'Observed' });
        // etcd requires a client certificate: without one the handshake fails, and the status says so.
        const refused = await untilLease('nocert not Ready', 'nocert', (l) => condition(l, 'Ready')?.status === 'False');
        expect(['EtcdUnavailable', 'EtcdAccessDenied']).toContain(condition(refused, 'Ready')?.reason);
        // Deleting the object revokes the holder over TLS before the object goes.
        await admin.delete(FencedLeaseType, { name: 'mtls', namespace: ns.name });
        await eventually('app-tls revoked by the clean-up', async () => h.signal.aborted);
        await eventually('mtls gone', async () => (await admin.getOrUndefined(FencedLeaseType, 'mtls', ns.name)) === undefined);
        expect((await app.inspect('mtls', { key: keyOf('mtls') })).holder).toBeUndefined();
      } finally {
        await app.close();
      }
      await admin.delete(FencedLeaseType, { name: 'nocert', namespace: ns.name });
      await eventually('nocert gone after the grace period', async () => (await admin.getOrUndefined(FencedLeaseType, 'nocert', ns.name)) === undefined, {
        timeoutMs: CLEANUP_GRACE_MS + 60_000,
      });
    } finally {
      await secured.stop();
      await rm(pkiDir, { recursive: true, force: true });
    }
  });

  it('reports EtcdUnavailable while its etcd is down, keeps reconciling the others, and recovers', async () => {
    await apply(lease('gamma', { ttlSeconds: 10 }));
    await untilLease('gamma on the operator default etcd', 'gamma', (l) => condition(l, 'Ready')?.status === 'True');
    await etcd.stopMember(0);
    const down = await untilLease('alpha EtcdUnavailable', 'alpha', (l) => condition(l, 'Ready')?.reason === 'EtcdUnavailable');
    expect(condition(down, 'Ready')?.status).toBe('False');
    expect(condition(down, 'Held')?.status).toBe('Unknown');
    expect(down.status?.holder).toBe('app-3');

    // The manager still runs: a lease on the other etcd follows its holder meanwhile.
    const other = createLeaseClient({ endpoints: inject('etcdEndpoint') ? [inject('etcdEndpoint')] : etcd.endpoints });
    try {
      const h = await acquire(other, 'gamma', 'app-g');
      await untilLease('gamma held while alpha is down', 'gamma', (l) => l.status?.holder === 'app-g' && l.status.fencingToken === h.fencingToken.toString());
      await h.release();
    } finally {
      await other.close();
    }
    await etcd.startMember(0);
    await untilLease('alpha Ready again', 'alpha', (l) => condition(l, 'Ready')?.status === 'True', 90_000);
  });

  it('revokes the holder and deletes the keys before the object goes', async () => {
    const holder = await acquire(apps, 'delta', 'app-4', 30);
    // A waiter's key behind the holder (written raw: a library waiter would re-join the line after the clean-up).
    await raw.put(`${keyOf('delta')}/ffffffff`).value(JSON.stringify({ identity: 'app-5', requestTime: new Date().toISOString(), ttlSeconds: 30 }));
    await apply(lease('delta', onEtcd()));
    await untilLease('delta held with a waiter', 'delta', (l) => l.status?.holder === 'app-4' && condition(l, 'Held')?.message.includes('1 waiting') === true);
    await admin.delete(FencedLeaseType, { name: 'delta', namespace: ns.name });
    await eventually('delta gone', async () => (await admin.getOrUndefined(FencedLeaseType, 'delta', ns.name)) === undefined);
    expect(await raw.getAll().prefix(`${keyOf('delta')}/`).keys()).toEqual([]);
    expect((await apps.inspect('delta', { key: keyOf('delta') })).holder).toBeUndefined();
    await eventually('the holder noticed', async () => holder.signal.aborted);
    const cleaned = await eventually('CleanedUp event', async () => (await events('delta', 'CleanedUp'))[0]);
    expect(cleaned.note).toContain('revoked app-4');
    expect(cleaned.note).toContain('deleted 1 key(s)');
    // Cleaned up once, although the etcd watch enqueued the object again while the cache still showed it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await events('delta', 'CleanedUp')).toHaveLength(1);
  });

  it('removes the finalizer after the grace period when etcd stays unreachable, with a Warning', async () => {
    await apply(lease('eps', onEtcd()));
    await untilLease('eps observed', 'eps', (l) => condition(l, 'Ready')?.status === 'True');
    await etcd.stopMember(0);
    try {
      await admin.delete(FencedLeaseType, { name: 'eps', namespace: ns.name });
      const blocked = await untilLease('eps clean-up blocked', 'eps', (l) => condition(l, 'CleanedUp')?.reason === 'EtcdUnavailable');
      expect(blocked.metadata.finalizers).toContain('manyfold.dev/fencedlease-cleanup');
      await eventually('eps gone after the grace period', async () => (await admin.getOrUndefined(FencedLeaseType, 'eps', ns.name)) === undefined, { timeoutMs: CLEANUP_GRACE_MS + 60_000 });
      const abandoned = await eventually('CleanupAbandoned event', async () => (await events('eps', 'CleanupAbandoned'))[0]);
      expect(abandoned.type).toBe('Warning');
    } finally {
      await etcd.startMember(0);
    }
  });

  it('rejects a TTL below 2 s at apply time, naming spec.ttlSeconds', async () => {
    const error = await admin.create(FencedLeaseType, lease('bad', { ttlSeconds: 1, etcd: { endpoints: etcd.endpoints } })).catch((e: unknown) => e);
    expect(error instanceof KubeApiError && error.code === 422 && error.message.includes('spec.ttlSeconds')).toBe(true);
  });

  it('needed no permission beyond deploy/manifests (no terminal errors)', async () => {
    expect(await operator.metric('controller_runtime_terminal_reconcile_errors_total'), operator.errors.join('\n')).toBe(0);
    expect(await reconciles()).toBeGreaterThan(0);
  });
});
