import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './self-signed.ts';

describe('selfSignedCertificate', () => {
  it('makes a v3 certificate that parses, verifies with its own key and names the hosts', () => {
    const now = new Date('2026-12-05T06:00:00Z');
    const { cert, key } = selfSignedCertificate({ hosts: ['localhost', 'metrics.manyfold-system.svc', '127.0.0.1'], now, days: 30 });
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe('CN=manyfold-metrics');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509.checkHost('metrics.manyfold-system.svc')).toBe('metrics.manyfold-system.svc');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('evil.example')).toBeUndefined();
    expect(new Date(x509.validFrom).getTime()).toBe(now.getTime() - 3_600_000);
    expect(new Date(x509.validTo).getTime()).toBe(now.getTime() + 30 * 86_400_000);
  });

  it('serves TLS that a client trusting it accepts', async () => {
    const { cert, key } = selfSignedCertificate();
    const server = createServer({ cert, key }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      expect(body).toBe('ok');
    } finally {
      server.close();
    }
  });
});
