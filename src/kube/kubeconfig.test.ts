import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConnection } from './kubeconfig.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'manyfold-kubeconfig-'));
}

function kubeconfig(dir: string, file: string, doc: unknown): string {
  const path = join(dir, file);
  writeFileSync(path, stringify(doc));
  return path;
}

const noEnv = { HOME: '/nonexistent-home' } as NodeJS.ProcessEnv;

describe('loadConnection', () => {
  it('reads server, CA file relative to the kubeconfig, and a static token', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'ca.crt'), 'CA-PEM');
    const path = kubeconfig(dir, 'config', {
      'current-context': 'dev',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority': 'pki/ca.crt' } }],
      users: [{ name: 'u', user: { token: 'abc' } }],
      contexts: [{ name: 'dev', context: { cluster: 'c', user: 'u' } }],
    });
    const conn = await loadConnection({ kubeconfig: path, env: noEnv });
    expect(conn.server).toBe('https://127.0.0.1:6443');
    expect(conn.tls.ca?.toString()).toBe('CA-PEM');
    expect(conn.caFile).toBe(join(dir, 'pki', 'ca.crt'));
    expect(await conn.headers()).toEqual({ Authorization: 'Bearer abc' });
  });

  it('decodes inline client certificates and honours insecure-skip-tls-verify and tls-server-name', async () => {
    const dir = tempDir();
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const path = kubeconfig(dir, 'config', {
      'current-context': 'x',
      clusters: [{ name: 'c', cluster: { server: 'https://h:1', 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.local' } }],
      users: [{ name: 'u', user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    const conn = await loadConnection({ kubeconfig: path, env: noEnv });
    expect(conn.tls.cert?.toString()).toBe('CERT');
    expect(conn.tls.key?.toString()).toBe('KEY');
    expect(conn.tls.rejectUnauthorized).toBe(false);
    expect(conn.tls.servername).toBe('api.local');
    expect(await conn.headers()).toEqual({});
  });

  it('merges KUBECONFIG files as kubectl does: the first name and the first current-context win', async () => {
    const dir = tempDir();
    const first = kubeconfig(dir, 'a', {
      'current-context': 'one',
      clusters: [{ name: 'c', cluster: { server: 'https://first:1' } }],
      contexts: [{ name: 'one', context: { cluster: 'c', user: 'u' } }],
    });
    const second = kubeconfig(dir, 'b', {
      'current-context': 'two',
      clusters: [{ name: 'c', cluster: { server: 'https://second:1' } }],
      users: [{ name: 'u', user: { token: 't2' } }],
      contexts: [{ name: 'two', context: { cluster: 'c', user: 'u' } }],
    });
    const env = { ...noEnv, KUBECONFIG: [first, join(dir, 'missing'), second].join(delimiter) };
    const conn = await loadConnection({ env });
    expect(conn.server).toBe('https://first:1');
    expect(await conn.headers()).toEqual({ Authorization: 'Bearer t2' });
    const other = await loadConnection({ env, context: 'two' });
    expect(other.server).toBe('https://first:1');
  });

  it('names the missing context, and says what it looked for when there is no kubeconfig', async () => {
    const dir = tempDir();
    const path = kubeconfig(dir, 'config', { 'current-context': 'gone', clusters: [], contexts: [] });
    await expect(loadConnection({ kubeconfig: path, env: noEnv })).rejects.toThrow(/context "gone" not found/);
    await expect(loadConnection({ env: noEnv, serviceAccountDir: join(dir, 'none') })).rejects.toThrow(/no kubeconfig.*KUBECONFIG/);
    await expect(loadConnection({ kubeconfig: join(dir, 'nope'), env: noEnv })).rejects.toThrow(/nope does not exist/);
  });

  it('falls back to the in-cluster service account (IPv6 host in brackets) and reads its token file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), 'sa-token\n');
    writeFileSync(join(dir, 'ca.crt'), 'SA-CA');
    const env = { ...noEnv, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const conn = await loadConnection({ env, serviceAccountDir: dir });
    expect(conn.server).toBe('https://[fd00::1]:443');
    expect(conn.source).toBe('in-cluster');
    expect(conn.tls.ca?.toString()).toBe('SA-CA');
    expect(await conn.headers()).toEqual({ Authorization: 'Bearer sa-token' });
  });

  it('overrides the server when asked (a proxy in front of the API server)', async () => {
    const dir = tempDir();
    const path = kubeconfig(dir, 'config', {
      'current-context': 'x',
      clusters: [{ name: 'c', cluster: { server: 'https://h:1' } }],
      users: [{ name: 'u', user: { tokenFile: 'tok' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    writeFileSync(join(dir, 'tok'), 'from-file');
    const conn = await loadConnection({ kubeconfig: path, server: 'https://127.0.0.1:9999/', env: noEnv });
    expect(conn.server).toBe('https://127.0.0.1:9999');
    expect(await conn.headers()).toEqual({ Authorization: 'Bearer from-file' });
  });

  it('hands exec credential plugins to client-node', async () => {
    const dir = tempDir();
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'from-exec' },
    });
    const path = kubeconfig(dir, 'config', {
      'current-context': 'x',
      clusters: [{ name: 'c', cluster: { server: 'https://h:1' } }],
      users: [
        {
          name: 'u',
          user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', `echo '${credential}'`], interactiveMode: 'Never' } },
        },
      ],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    const conn = await loadConnection({ kubeconfig: path, env: noEnv });
    expect(conn.server).toBe('https://h:1');
    expect(await conn.headers()).toEqual({ Authorization: 'Bearer from-exec' });
  });
});
