/**
 * A self-signed serving certificate made in-process (ECDSA P-256, SHA-256), for the
 * metrics endpoint when no certificate is mounted: what controller-runtime's secure
 * metrics do without a cert dir. `node:crypto` makes keys and signatures but not
 * certificates, so this encodes the few DER structures an X.509 v3 certificate needs.
 *
 * Guarantees: the certificate parses with `node:crypto`'s `X509Certificate`, verifies
 * with its own key, and names `hosts` (DNS names or IPv4 addresses) as subject
 * alternative names. A fresh key per call; nothing is written to disk.
 *
 * Limitations: clients cannot verify it against a CA (Prometheus needs
 * `insecure_skip_verify`, as with controller-runtime's self-signed default); mount a
 * real certificate with `--metrics-cert-dir` where that matters. IPv6 SANs are not
 * encoded.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** PEM-encoded certificate and PKCS#8 private key. */
export interface ServingCertificate {
  readonly cert: string;
  readonly key: string;
}

function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}

const sequence = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));
const octets = (content: Buffer) => der(0x04, content);
const bits = (content: Buffer) => der(0x03, Buffer.concat([Buffer.from([0]), content]));
const explicit = (n: number, content: Buffer) => der(0xa0 + n, content);

function integer(value: Buffer): Buffer {
  const positive = (value[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value;
  return der(0x02, positive);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const out = [first * 40 + second];
  for (const arc of rest) {
    const chunk: number[] = [];
    for (let n = arc; ; n = Math.floor(n / 128)) {
      chunk.unshift((n % 128) | (chunk.length ? 0x80 : 0));
      if (n < 128) break;
    }
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso));
}

const EcdsaWithSha256 = '1.2.840.10045.4.3.2';

/**
 * Makes a self-signed certificate for `hosts` (default `localhost`, `127.0.0.1`),
 * valid from one hour before `now` for `days` (default 365).
 */
export function selfSignedCertificate(options: { commonName?: string; hosts?: readonly string[]; now?: Date; days?: number } = {}): ServingCertificate {
  const now = options.now ?? new Date();
  const hosts = options.hosts ?? ['localhost', '127.0.0.1'];
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const name = sequence(set(sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(options.commonName ?? 'manyfold-metrics')))));
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const altNames = hosts.map((h) => (isIPv4(h) ? der(0x87, Buffer.from(h.split('.').map(Number))) : der(0x82, Buffer.from(h))));
  const extensions = explicit(
    3,
    sequence(
      sequence(oid('2.5.29.17'), octets(sequence(...altNames))), // subjectAltName
      sequence(oid('2.5.29.37'), octets(sequence(oid('1.3.6.1.5.5.7.3.1')))), // extKeyUsage: serverAuth
    ),
  );
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    sequence(oid(EcdsaWithSha256)),
    name,
    sequence(time(new Date(now.getTime() - 3_600_000)), time(new Date(now.getTime() + (options.days ?? 365) * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const certificate = sequence(tbs, sequence(oid(EcdsaWithSha256)), bits(sign('sha256', tbs, privateKey)));
  const base64 = certificate.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
