/**
 * TLS material for unit tests of the lease lego, made with the `openssl` command (as
 * devcluster/pki.ts does for the local control plane): a CA, a client certificate it
 * signed with its key, an unrelated key, an RSA key and the client key encrypted.
 * Certificates are valid for a day from now.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PemFixtures {
  readonly caCert: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** An EC key that belongs to no certificate here. */
  readonly otherKey: string;
  readonly rsaKey: string;
  /** `clientKey` encrypted with a passphrase (PKCS#8). */
  readonly encryptedKey: string;
  /** `caCert` in binary DER. */
  readonly caDer: Buffer;
}

export async function makePemFixtures(): Promise<PemFixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'manyfold-pem-'));
  const at = (file: string) => join(dir, file);
  const openssl = (...args: string[]) => run('openssl', args);
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-subj', '/CN=test-ca', '-days', '1');
    await openssl('req', '-new', ...ec, '-keyout', at('client.key'), '-out', at('client.csr'), '-subj', '/CN=test-client');
    await openssl('x509', '-req', '-in', at('client.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('client.crt'), '-days', '1');
    await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('other.key'));
    await openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', at('rsa.key'));
    await openssl('pkcs8', '-topk8', '-in', at('client.key'), '-out', at('encrypted.key'), '-passout', 'pass:secret');
    await openssl('x509', '-in', at('ca.crt'), '-outform', 'der', '-out', at('ca.der'));
    const text = (file: string) => readFile(at(file), 'utf8');
    return {
      caCert: await text('ca.crt'),
      clientCert: await text('client.crt'),
      clientKey: await text('client.key'),
      otherKey: await text('other.key'),
      rsaKey: await text('rsa.key'),
      encryptedKey: await text('encrypted.key'),
      caDer: await readFile(at('ca.der')),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
