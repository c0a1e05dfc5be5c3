/**
 * Tenant isolation, FencedLeases (issue 15, item 2): a namespace user (a ServiceAccount
 * with a namespaced Role, test/support/tenant.ts) tries to reach another namespace's
 * lease, every lease at once, a server of its choosing with the namespace's Secrets, and
 * credentials in cleartext. The operator runs the FencedLease controller with its
 * ServiceAccount and the default policy (no administrator settings), on the local
 * control plane's etcd as its default.
 *
 * Each attack ends as `Ready=False` reason `NotPermitted` naming the field; the rogue
 * server never sees a connection; the victim's holder still holds after the attacking
 * object (whose deletion would have revoked and deleted the victim's keys) is deleted.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FencedLeaseType, fencedLeaseController } from '../../src/controllers/fencedlease.ts';
import type { FencedLeaseStatus } from '../../src/crds/fencedlease.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { createLeaseClient, type LeaseClient, type LeaseHandle } from '../../src/legos/lease/index.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';
import { tenantClient, type Tenant } from '../support/tenant.ts';

type Lease = KubeObject & { spec: Record<string, unknown>; status?: FencedLeaseStatus };

describe.skipIf(!inject('etcdEndpoint'))('tenant isolation: FencedLeases reach only their namespace', () => {
  let admin: KubeClient;
  let tenant: Tenant;
  let ns: { name: string; dispose: () => Promise<void> };
  let victimNs: { name: string; dispose: () => Promise<void> };
  let operator: RunningManager;
  let apps: LeaseClient;
  let victim: LeaseHandle;
  let rogue: Server;
  let rogueConnections = 0;
  let roguePort = 0;

  const etcd = () => inject('etcdEndpoint');
  const lease = (name: string, spec: Record<string, unknown>): Lease => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'FencedLease', metadata: { name, namespace: ns.name }, spec: { ttlSeconds: 10, ...spec } });
  const ready = (l: Lease) => l.status?.conditions?.find((c) => c.type === 'Ready');
  const refused = async (name: string) =>
    eventually(`${name} NotPermitted`, async () => {
      const l = await tenant.client.get<Lease>(FencedLeaseType, name, ns.name);
      return ready(l)?.reason === 'NotPermitted' ? l : undefined;
    });

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'tenancy-flease');
    victimNs = await testNamespace(admin, 'tenancy-victim');
    tenant = await tenantClient(admin, ns.name);
    rogue = createServer((socket) => {
      rogueConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => rogue.listen(0, '127.0.0.1', resolve));
    roguePort = (rogue.address() as { port: number }).port;
    apps = createLeaseClient({ endpoints: [etcd()] });
    // Another team's lease, held by its application.
    victim = await apps.acquire('payments', { key: `/manyfold/fencedleases/${victimNs.name}/payments`, ttlSeconds: 30, identity: 'victim-0' });
    operator = await startManager([fencedLeaseController({ defaultEndpoints: [etcd()], operatorNamespace: 'manyfold-system' })]);
  });
  afterAll(async () => {
    await operator?.stop();
    await victim?.release();
    await apps?.close();
    rogue?.close();
    await tenant?.close();
    await ns.dispose();
    await victimNs.dispose();
    await admin.close();
  });

  it("refuses a key in another namespace's directory, and its deletion leaves the victim's holder alone", async () => {
    await tenant.client.create(FencedLeaseType, lease('steal', { key: `/manyfold/fencedleases/${victimNs.name}/payments` }));
    const l = await refused('steal');
    expect(ready(l)?.message).toContain(`spec.key: /manyfold/fencedleases/${victimNs.name}/payments/ is outside the key directories this namespace may use (/manyfold/fencedleases/${ns.name}/)`);
    expect(l.status?.holder).toBeUndefined(); // nothing of the victim's lease was read either
    // Deleting it would revoke the holder and delete every key under spec.key: it must not.
    await tenant.client.delete(FencedLeaseType, { name: 'steal', namespace: ns.name });
    await eventually('steal gone', async () => (await tenant.client.getOrUndefined(FencedLeaseType, 'steal', ns.name)) === undefined);
    expect(victim.signal.aborted).toBe(false);
    expect((await apps.inspect('payments', { key: `/manyfold/fencedleases/${victimNs.name}/payments` })).holder?.identity).toBe('victim-0');
  });

  it('refuses a key that would cover every namespace, or anything outside the prefix', async () => {
    await tenant.client.create(FencedLeaseType, lease('all', { key: '/manyfold/fencedleases/' }));
    await tenant.client.create(FencedLeaseType, lease('elsewhere', { key: '/apps/payments/leader' }));
    for (const name of ['all', 'elsewhere']) expect(ready(await refused(name))?.message).toMatch(/^spec\.key: /);
  });

  it("refuses to send the namespace's Secrets to a server of the user's choosing: no connection is ever made", async () => {
    await tenant.client.create(Resources.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db-password', namespace: ns.name },
      data: { username: Buffer.from('app').toString('base64'), password: Buffer.from('s3cret').toString('base64') },
    });
    const rogueUrl = `http://127.0.0.1:${roguePort}`;
    await tenant.client.create(FencedLeaseType, lease('exfiltrate', { etcd: { endpoints: [rogueUrl], auth: { secretName: 'db-password', usernameKey: 'username', passwordKey: 'password' } } }));
    const l = await refused('exfiltrate');
    expect(ready(l)?.message).toContain(`spec.etcd.endpoints[0]: ${rogueUrl} is not an etcd the administrator allows`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(rogueConnections).toBe(0);
  });

  it('refuses credentials over plaintext http://, even to the default etcd', async () => {
    await tenant.client.create(FencedLeaseType, lease('cleartext', { etcd: { endpoints: [etcd()], auth: { secretName: 'db-password' } } }));
    expect(ready(await refused('cleartext'))?.message).toContain('spec.etcd.auth: credentials are never sent over plaintext http://');
  });

  it('still serves a lease in its own namespace', async () => {
    await tenant.client.create(FencedLeaseType, lease('own', {}));
    const mine = await apps.acquire('own', { key: `/manyfold/fencedleases/${ns.name}/own`, ttlSeconds: 10, identity: 'tenant-app' });
    try {
      await eventually('own mirrors its holder', async () => (await tenant.client.get<Lease>(FencedLeaseType, 'own', ns.name)).status?.holder === 'tenant-app');
    } finally {
      await mine.release();
    }
  });
});
