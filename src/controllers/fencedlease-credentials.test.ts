import { beforeAll, describe, expect, it } from 'vitest';
import { makePemFixtures, type PemFixtures } from '../legos/lease/pem.test-helper.ts';
import { explainUnavailable, tlsFromSecret } from './fencedlease-credentials.ts';

let pem: PemFixtures;
beforeAll(async () => {
  pem = await makePemFixtures();
}, 60_000);

const WHERE = 'Secret ns/etcd-tls (spec.etcd.tls.secretName)';
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const check = (data: Record<string, string | Buffer>, now = Date.now()) =>
  tlsFromSecret(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])), WHERE, now);
const messageOf = (result: ReturnType<typeof check>) => (result.ok ? 'ok' : result.message);

describe('tlsFromSecret', () => {
  it('returns the TLS options of a good Secret (CA only, or CA + client pair)', () => {
    const caOnly = check({ 'ca.crt': pem.caCert });
    expect(caOnly.ok && Buffer.from(caOnly.tls.ca ?? '').toString()).toBe(pem.caCert);
    const mutual = check({ 'ca.crt': pem.caCert, 'tls.crt': pem.clientCert, 'tls.key': pem.clientKey });
    expect(mutual.ok && Object.keys(mutual.tls).sort()).toEqual(['ca', 'cert', 'key']);
  });

  it('names the Secret, the key and what is wrong', () => {
    expect(messageOf(check({}))).toBe(`${WHERE}: holds none of the keys ca.crt, tls.crt, tls.key (it is empty)`);
    expect(messageOf(check({ 'ca.pem': pem.caCert }))).toBe(`${WHERE}: holds none of the keys ca.crt, tls.crt, tls.key (it has ca.pem)`);
    expect(messageOf(check({ 'ca.crt': pem.caCert, 'tls.crt': pem.clientCert }))).toBe(`${WHERE}: key tls.key is missing (tls.crt needs its private key)`);
    expect(messageOf(check({ 'ca.crt': pem.caCert, 'tls.key': pem.clientKey }))).toBe(`${WHERE}: key tls.crt is missing (tls.key needs its certificate)`);
    expect(messageOf(check({ 'tls.crt': pem.clientCert, 'tls.key': pem.clientKey }))).toMatch(/key ca\.crt is missing/);
    expect(messageOf(check({ 'ca.crt': 'not a certificate' }))).toBe(`${WHERE}: key ca.crt holds no PEM block (no "-----BEGIN ...-----" line)`);
    expect(messageOf(check({ 'ca.crt': pem.caDer }))).toMatch(/^Secret ns\/etcd-tls \(spec\.etcd\.tls\.secretName\): key ca\.crt holds binary DER, not PEM/);
    expect(messageOf(check({ 'ca.crt': pem.caCert, 'tls.crt': pem.clientCert, 'tls.key': pem.otherKey }))).toBe(
      `${WHERE}: key tls.key does not match the client certificate CN=test-client (its public key belongs to another key pair)`,
    );
    expect(messageOf(check({ 'ca.crt': pem.caCert, 'tls.crt': pem.clientKey, 'tls.key': pem.clientCert }))).toBe(
      `${WHERE}: key tls.crt holds a PRIVATE KEY block where a CERTIFICATE was expected (tls.crt and tls.key swapped?); key tls.key holds no PRIVATE KEY block, only CERTIFICATE (tls.crt and tls.key swapped?)`,
    );
    expect(messageOf(check({ 'ca.crt': pem.caCert, 'tls.crt': pem.clientCert, 'tls.key': pem.clientKey }, Date.now() + 3 * 86_400_000))).toMatch(
      /key ca\.crt has no certificate valid now: CN=test-ca expired at .*; key tls\.crt certificate CN=test-client expired at/,
    );
  });
});

describe('explainUnavailable', () => {
  const target = { tls: { secretName: 'etcd-tls' } };
  it('names the TLS Secret when the error reads like a failed handshake, and drops Node\'s advice', () => {
    const error = 'lease holder read: 14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca. Resolution note: ';
    const explained = explainUnavailable(error, 'ns', target);
    expect(explained).toContain('unable to verify the first certificate. Resolution note');
    expect(explained).toContain('(TLS handshake failed with Secret ns/etcd-tls (spec.etcd.tls.secretName): ca.crt must hold the CA that signed');
    expect(explained).not.toContain('--use-system-ca');
  });
  it('leaves other errors, and leases without TLS, alone', () => {
    expect(explainUnavailable('connect ECONNREFUSED 127.0.0.1:2379', 'ns', target)).toBe('connect ECONNREFUSED 127.0.0.1:2379');
    expect(explainUnavailable('unable to verify the first certificate', 'ns', { ...target, tls: undefined })).toBe('unable to verify the first certificate');
  });
});
