/**
 * Certificates and keys for the local control plane, made with the `openssl` command
 * (OpenSSL 3): a CA, the API server's serving certificate, one client certificate per
 * identity, and the service-account signing key pair. Nothing here writes ASN.1 by hand.
 *
 * Keys are ECDSA P-256 (RSA 2048 for service-account tokens, which every verifier
 * accepts). Certificates live for a year; `manyfold dev up` regenerates them when the
 * CA is missing.
 *
 * Limitations: needs `openssl` >= 3.0 on PATH (Debian's `openssl` package).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A client identity: the user name (CN) and groups (O) the API server will see. */
export interface Identity {
  readonly file: string;
  readonly user: string;
  readonly groups: readonly string[];
}

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  /** Client certificate and key per identity file name. */
  readonly clients: Readonly<Record<string, { cert: string; key: string }>>;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { maxBuffer: 1 << 20 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    const missing = (error as { code?: string }).code === 'ENOENT';
    throw new Error(
      missing
        ? 'openssl is not on PATH; install it (Debian: apt-get install openssl)'
        : `openssl ${args[0]} failed: ${stderr.trim() || String(error)}`,
      { cause: error },
    );
  }
}

async function ecKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function subject(cn: string, groups: readonly string[] = []): string {
  const escape = (s: string) => s.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  return `/CN=${escape(cn)}${groups.map((g) => `/O=${escape(g)}`).join('')}`;
}

async function signedCert(options: {
  dir: string;
  name: string;
  cn: string;
  groups?: readonly string[];
  extensions: readonly string[];
}): Promise<{ cert: string; key: string }> {
  const key = join(options.dir, `${options.name}.key`);
  const cert = join(options.dir, `${options.name}.crt`);
  await ecKey(key);
  await openssl([
    'req', '-x509', '-new', '-key', key,
    '-CA', join(options.dir, 'ca.crt'), '-CAkey', join(options.dir, 'ca.key'),
    '-subj', subject(options.cn, options.groups), '-days', '365', '-out', cert,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    ...options.extensions.flatMap((e) => ['-addext', e]),
  ]);
  return { cert, key };
}

/**
 * Creates (or reuses, when `dir/ca.crt` exists) the whole PKI in `dir`.
 *
 * @param identities client identities to issue certificates for
 * @param serverNames extra DNS names for the API server certificate
 */
export async function ensurePki(dir: string, identities: readonly Identity[], serverNames: readonly string[] = []): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const fresh = !existsSync(caCert) || !existsSync(caKey);
  if (fresh) {
    await ecKey(caKey);
    await openssl([
      'req', '-x509', '-new', '-key', caKey, '-subj', subject('manyfold-dev-ca'), '-days', '3650', '-out', caCert,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
  }
  const server = join(dir, 'apiserver.crt');
  if (fresh || !existsSync(server)) {
    const dns = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', ...serverNames];
    await signedCert({
      dir,
      name: 'apiserver',
      cn: 'kube-apiserver',
      extensions: [
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${['IP:127.0.0.1', 'IP:10.96.0.1', ...dns.map((d) => `DNS:${d}`)].join(',')}`,
      ],
    });
  }
  const clients: Record<string, { cert: string; key: string }> = {};
  for (const identity of identities) {
    const cert = join(dir, `${identity.file}.crt`);
    clients[identity.file] =
      fresh || !existsSync(cert)
        ? await signedCert({ dir, name: identity.file, cn: identity.user, groups: identity.groups, extensions: ['extendedKeyUsage=clientAuth'] })
        : { cert, key: join(dir, `${identity.file}.key`) };
  }
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  if (fresh || !existsSync(serviceAccountKey)) {
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccountKey]);
    await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  }
  return { dir, caCert, caKey, serverCert: server, serverKey: join(dir, 'apiserver.key'), serviceAccountKey, serviceAccountPub, clients };
}

/** Base64 of a PEM file's bytes, as kubeconfig `*-data` fields want. */
export async function base64File(path: string): Promise<string> {
  return (await readFile(path)).toString('base64');
}
