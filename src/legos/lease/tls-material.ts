/**
 * Checks the TLS material of an etcd client (CA bundle, client certificate, client key)
 * before gRPC sees it, and says what is wrong in words a person can act on. gRPC
 * reports a malformed certificate or key as a bare OpenSSL error thrown from deep inside
 * the client's constructor ("DECODER routines::unsupported") and accepts a malformed CA
 * bundle silently, so every connection then fails later with a handshake error that
 * looks like an unreachable etcd.
 *
 * Pure apart from parsing with `node:crypto` (no I/O, no clock: `now` comes in).
 *
 * What is checked, per part:
 * - `ca`: one or more PEM `CERTIFICATE` blocks, each parsing as X.509; with `now`, at
 *   least one of them valid at that time.
 * - `cert`: PEM `CERTIFICATE` blocks (the client certificate first, then any
 *   intermediates), each parsing; with `now`, the first one valid at that time.
 * - `key`: one unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1) that parses, and
 *   that matches the public key of the first certificate in `cert`.
 * Common mistakes get their own message: DER instead of PEM, a key and a certificate
 * swapped, a block without its END line (truncated when copied) or with text glued to
 * it, an encrypted key.
 *
 * Limitations: whether the CA signed the etcd server's certificate, or the client
 * certificate is one etcd trusts, can only be learnt from a handshake; those failures
 * surface when connecting. Non-PEM text around the blocks is ignored, as OpenSSL does.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

/** Which part of the material a problem is in. */
export type TlsPart = 'ca' | 'cert' | 'key';

/** One problem found, with the part it is in; `message` does not repeat the part's name. */
export interface TlsProblem {
  readonly part: TlsPart;
  readonly message: string;
}

/** The material to check; absent parts are not checked (pairing rules are the caller's). */
export interface TlsMaterial {
  readonly ca?: string | Uint8Array | undefined;
  readonly cert?: string | Uint8Array | undefined;
  readonly key?: string | Uint8Array | undefined;
}

interface PemBlock {
  readonly label: string;
  readonly text: string;
}

type Split = { readonly ok: true; readonly blocks: readonly PemBlock[] } | { readonly ok: false; readonly message: string };

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;

const textOf = (value: string | Uint8Array): string => (typeof value === 'string' ? value : Buffer.from(value).toString('latin1'));
const firstByte = (value: string | Uint8Array): number | undefined => (typeof value === 'string' ? value.charCodeAt(0) : value[0]);
const openssl = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Splits PEM text into its blocks; says why when it holds none or a block is cut short. */
function splitPem(value: string | Uint8Array): Split {
  const text = textOf(value);
  if (text.trim() === '') return { ok: false, message: 'is empty' };
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BEGIN)) {
    const label = match[1] ?? '';
    const end = `-----END ${label}-----`;
    const at = text.indexOf(end, match.index);
    if (at < 0) return { ok: false, message: `has a "-----BEGIN ${label}-----" line without its "${end}" line (truncated when copied?)` };
    // OpenSSL refuses an END line with anything but a line break after it ("bad end line").
    const after = text.charAt(at + end.length);
    if (after !== '' && !/\s/.test(after)) return { ok: false, message: `has text right after its "${end}" line (two blocks run together?)` };
    blocks.push({ label, text: text.slice(match.index, at + end.length) });
  }
  if (blocks.length > 0) return { ok: true, blocks };
  // 0x30 starts an ASN.1 SEQUENCE: binary DER, which gRPC does not read.
  if (firstByte(value) === 0x30) return { ok: false, message: 'holds binary DER, not PEM (convert it with `openssl x509 -outform pem` or `openssl pkey -outform pem`)' };
  return { ok: false, message: 'holds no PEM block (no "-----BEGIN ...-----" line)' };
}

const isKeyLabel = (label: string) => label.endsWith('PRIVATE KEY');

/** Parses the CERTIFICATE blocks of `value`, or says what is wrong with them. */
function certificates(value: string | Uint8Array, swappedHint: string): { ok: true; certs: X509Certificate[] } | { ok: false; message: string } {
  const split = splitPem(value);
  if (!split.ok) return split;
  const certs: X509Certificate[] = [];
  for (const [i, block] of split.blocks.entries()) {
    if (block.label !== 'CERTIFICATE') {
      const hint = isKeyLabel(block.label) ? ` (${swappedHint})` : '';
      return { ok: false, message: `holds a ${block.label} block where a CERTIFICATE was expected${hint}` };
    }
    try {
      certs.push(new X509Certificate(block.text));
    } catch (error) {
      return { ok: false, message: `certificate ${i + 1} of ${split.blocks.length} does not parse: ${openssl(error)}` };
    }
  }
  return { ok: true, certs };
}

function validityProblem(cert: X509Certificate, now: number): string | undefined {
  if (now > cert.validToDate.getTime()) return `expired at ${cert.validToDate.toISOString()}`;
  if (now < cert.validFromDate.getTime()) return `is not valid before ${cert.validFromDate.toISOString()}`;
  return undefined;
}

const subjectOf = (cert: X509Certificate) => cert.subject.replaceAll('\n', ', ');

/** Parses the private key, or says what is wrong with it. */
function privateKey(value: string | Uint8Array): { ok: true; key: KeyObject } | { ok: false; message: string } {
  const split = splitPem(value);
  if (!split.ok) return split;
  const keys = split.blocks.filter((b) => isKeyLabel(b.label));
  if (keys.length === 0) {
    const labels = [...new Set(split.blocks.map((b) => b.label))].join(', ');
    const hint = split.blocks.some((b) => b.label === 'CERTIFICATE') ? ' (tls.crt and tls.key swapped?)' : '';
    return { ok: false, message: `holds no PRIVATE KEY block, only ${labels}${hint}` };
  }
  if (keys.length > 1) return { ok: false, message: `holds ${keys.length} private keys; exactly one is needed` };
  const block = keys[0] as PemBlock;
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block.text)) {
    return { ok: false, message: 'is encrypted with a passphrase; the etcd client needs an unencrypted key' };
  }
  try {
    // The whole text, as gRPC hands it to OpenSSL: that reader refuses some damage outside
    // the block (text glued to the END line) that parsing the block alone would not see.
    return { ok: true, key: createPrivateKey({ key: textOf(value), format: 'pem' }) };
  } catch (error) {
    return { ok: false, message: `does not parse as a ${block.label}: ${openssl(error)}` };
  }
}

/**
 * Every problem in `material`, in the order ca, cert, key (empty when it looks usable).
 * @param options.now wall time, ms since the epoch: when given, certificates outside
 *   their validity period are problems too.
 */
export function checkTlsMaterial(material: TlsMaterial, options: { readonly now?: number | undefined } = {}): TlsProblem[] {
  const problems: TlsProblem[] = [];
  const { now } = options;
  if (material.ca !== undefined) {
    const ca = certificates(material.ca, 'a private key in the CA bundle');
    if (!ca.ok) problems.push({ part: 'ca', message: ca.message });
    else if (now !== undefined && ca.certs.every((c) => validityProblem(c, now) !== undefined)) {
      const first = ca.certs[0] as X509Certificate;
      problems.push({ part: 'ca', message: `has no certificate valid now: ${subjectOf(first)} ${validityProblem(first, now) ?? ''}` });
    }
  }
  let leaf: X509Certificate | undefined;
  if (material.cert !== undefined) {
    const cert = certificates(material.cert, 'tls.crt and tls.key swapped?');
    if (!cert.ok) problems.push({ part: 'cert', message: cert.message });
    else {
      leaf = cert.certs[0];
      const invalid = leaf && now !== undefined ? validityProblem(leaf, now) : undefined;
      if (leaf && invalid) problems.push({ part: 'cert', message: `certificate ${subjectOf(leaf)} ${invalid}` });
    }
  }
  if (material.key !== undefined) {
    const key = privateKey(material.key);
    if (!key.ok) problems.push({ part: 'key', message: key.message });
    else if (leaf && !leaf.checkPrivateKey(key.key)) {
      problems.push({ part: 'key', message: `does not match the client certificate ${subjectOf(leaf)} (its public key belongs to another key pair)` });
    }
  }
  return problems;
}
