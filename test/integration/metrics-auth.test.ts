/**
 * Authenticated metrics: `manyfold operator --metrics-secure` (the deploy/manifests
 * default) serves `/metrics` over HTTPS only to a caller whose token the API server
 * authenticates and whose identity may `get /metrics` (ClusterRole
 * manyfold-metrics-reader). Anonymous and bad tokens get 401, a valid token without the
 * right gets 403, and nothing of the metrics leaks in either answer.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources } from '../../src/kube/resources.ts';
import { adminClient, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

const ClusterRoleBinding = Resources.ClusterRoleBinding;

async function serviceAccountToken(admin: KubeClient, namespace: string, name: string): Promise<string> {
  await admin.create(Resources.ServiceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
  const review = await admin.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  return review.status.token;
}

describe('secure metrics (TokenReview + SubjectAccessReview)', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  let operator: OperatorProcess;
  let address = '';
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  const tokens = { reader: '', stranger: '' };
  const bindingName = () => `manyfold-test-metrics-${ns.name}`;

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'metrics');
    tokens.reader = await serviceAccountToken(admin, ns.name, 'scraper');
    tokens.stranger = await serviceAccountToken(admin, ns.name, 'stranger');
    await admin.create(ClusterRoleBinding, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: bindingName() },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'manyfold-metrics-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: ns.name }],
    });
    operator = startOperatorProcess(['--metrics-secure=true', '--metrics-bind-address', '127.0.0.1:0']);
    const serving = await operator.waitForLog((l) => l['event'] === 'metrics_serving');
    address = String(serving['metrics']);
  });
  afterAll(async () => {
    await operator.stop();
    await admin.deleteIfExists(ClusterRoleBinding, { name: bindingName() });
    await ns.dispose();
    await admin.close();
    await insecure.close();
  });

  const scrape = async (token?: string) => {
    const res = await fetch(`https://${address}/metrics`, { dispatcher: insecure, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.text() };
  };

  it('serves HTTPS with a self-signed certificate for localhost and 127.0.0.1', async () => {
    const [host = '', port = ''] = address.split(':');
    const pem = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
        resolve(socket.getPeerX509Certificate()?.toString() ?? '');
        socket.end();
      });
      socket.on('error', reject);
    });
    const cert = new X509Certificate(pem);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(operator.logs.find((l) => l['event'] === 'metrics_serving')).toMatchObject({ secure: true, certificate: 'self-signed' });
  });

  it('gives an authorized ServiceAccount the metrics', async () => {
    const { status, body } = await scrape(tokens.reader);
    expect(status).toBe(200);
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('answers 401 to an anonymous caller and to a token the API server does not know', async () => {
    for (const token of [undefined, 'not-a-token', `${tokens.reader.slice(0, -4)}AAAA`]) {
      const { status, body } = await scrape(token);
      expect(status, String(token)).toBe(401);
      expect(body).not.toContain('process_resident_memory_bytes');
    }
  });

  it('answers 403 to an authenticated ServiceAccount without the right', async () => {
    const { status, body } = await scrape(tokens.stranger);
    expect(status).toBe(403);
    expect(body).toContain(`system:serviceaccount:${ns.name}:stranger`);
    expect(body).not.toContain('process_resident_memory_bytes');
  });
});
