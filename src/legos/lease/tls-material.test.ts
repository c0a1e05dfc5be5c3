import { createSecureContext } from 'node:tls';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from './config.ts';
import { LeaseConfigError } from './errors.ts';
import { makePemFixtures, type PemFixtures } from './pem.test-helper.ts';
import { checkTlsMaterial, type TlsMaterial } from './tls-material.ts';

let pem: PemFixtures;
beforeAll(async () => {
  pem = await makePemFixtures();
}, 60_000);

const only = (material: TlsMaterial, now?: number) => {
  const problems = checkTlsMaterial(material, { now });
  expect(problems.length).toBeLessThanOrEqual(1);
  return problems[0];
};

/** What gRPC itself does with the material: it builds a TLS secure context from it. */
function grpcAccepts(material: { ca: string; cert: string; key: string }): boolean {
  try {
    createSecureContext({ ca: material.ca, cert: material.cert, key: material.key });
    return true;
  } catch {
    return false;
  }
}

describe('checkTlsMaterial', () => {
  it('accepts a CA, a client certificate and its key, as text or bytes', () => {
    expect(checkTlsMaterial({ ca: pem.caCert, cert: pem.clientCert, key: pem.clientKey }, { now: Date.now() })).toEqual([]);
    expect(checkTlsMaterial({ ca: Buffer.from(pem.caCert), cert: Buffer.from(pem.clientCert), key: Buffer.from(pem.clientKey) })).toEqual([]);
    // A chain in tls.crt (client first, then the CA as intermediate) and a CA bundle of two.
    expect(checkTlsMaterial({ ca: pem.caCert + pem.clientCert, cert: pem.clientCert + pem.caCert, key: pem.clientKey })).toEqual([]);
  });

  it('names what is wrong with a CA bundle', () => {
    expect(only({ ca: '' })).toEqual({ part: 'ca', message: 'is empty' });
    expect(only({ ca: 'hello' })?.message).toBe('holds no PEM block (no "-----BEGIN ...-----" line)');
    expect(only({ ca: pem.caDer })?.message).toMatch(/^holds binary DER, not PEM/);
    expect(only({ ca: pem.caCert.slice(0, 120) })?.message).toMatch(/"-----BEGIN CERTIFICATE-----" line without its "-----END CERTIFICATE-----" line/);
    expect(only({ ca: `${pem.caCert.trimEnd()}!\n` })?.message).toBe('has text right after its "-----END CERTIFICATE-----" line (two blocks run together?)');
    const broken = pem.caCert.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!');
    expect(only({ ca: broken })?.message).toMatch(/^certificate 1 of 1 does not parse: /);
    expect(only({ ca: pem.clientKey })?.message).toBe('holds a PRIVATE KEY block where a CERTIFICATE was expected (a private key in the CA bundle)');
  });

  it('names what is wrong with a client certificate and key', () => {
    expect(only({ cert: pem.clientKey, key: pem.clientKey })).toEqual({ part: 'cert', message: 'holds a PRIVATE KEY block where a CERTIFICATE was expected (tls.crt and tls.key swapped?)' });
    expect(only({ cert: pem.clientCert, key: pem.clientCert })).toEqual({ part: 'key', message: 'holds no PRIVATE KEY block, only CERTIFICATE (tls.crt and tls.key swapped?)' });
    expect(only({ cert: pem.clientCert, key: pem.otherKey })).toEqual({ part: 'key', message: 'does not match the client certificate CN=test-client (its public key belongs to another key pair)' });
    expect(only({ cert: pem.clientCert, key: pem.rsaKey })?.message).toMatch(/^does not match the client certificate CN=test-client/);
    expect(only({ cert: pem.clientCert, key: pem.encryptedKey })?.message).toBe('is encrypted with a passphrase; the etcd client needs an unencrypted key');
    expect(only({ cert: pem.clientCert, key: pem.clientKey + pem.otherKey })?.message).toBe('holds 2 private keys; exactly one is needed');
    const garbled = pem.clientKey.replace(/\n[A-Za-z0-9+/]{8}/, '\nAAAAAAAA');
    expect(only({ cert: pem.clientCert, key: garbled })?.message).toMatch(/^does not parse as a PRIVATE KEY: |^does not match/);
  });

  it('reports every part at fault, in the order ca, cert, key', () => {
    expect(checkTlsMaterial({ ca: 'x', cert: 'y', key: 'z' }).map((p) => p.part)).toEqual(['ca', 'cert', 'key']);
  });

  it('with a time, refuses certificates outside their validity period', () => {
    const later = Date.now() + 3 * 86_400_000;
    expect(only({ cert: pem.clientCert, key: pem.clientKey }, later)?.message).toMatch(/^certificate CN=test-client expired at \d{4}-/);
    expect(only({ ca: pem.caCert }, later)?.message).toMatch(/^has no certificate valid now: CN=test-ca expired at/);
    expect(only({ ca: pem.caCert }, 0)?.message).toMatch(/is not valid before/);
    expect(checkTlsMaterial({ ca: pem.caCert, cert: pem.clientCert, key: pem.clientKey }, { now: Date.now() + 3_600_000 })).toEqual([]);
  });

  it('never throws, and what it accepts gRPC accepts (truncations and byte flips of valid material)', () => {
    const part = fc.constantFrom<'ca' | 'cert' | 'key'>('ca', 'cert', 'key');
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 32, max: 126 }) }),
    );
    fc.assert(
      fc.property(part, damage, (target, d) => {
        const material = { ca: pem.caCert, cert: pem.clientCert, key: pem.clientKey };
        const text = material[target];
        const at = d.at % (text.length + 1);
        const damaged = d.kind === 'cut' ? text.slice(0, at) : text.slice(0, at) + String.fromCharCode(d.byte) + text.slice(at + 1);
        const tried = { ...material, [target]: damaged };
        const problems = checkTlsMaterial(tried);
        if (problems.length === 0) expect(grpcAccepts(tried)).toBe(true);
        // gRPC refusing the certificate or key always comes with a problem named here, and
        // for them (a bad CA bundle gRPC takes silently) only then.
        if (!grpcAccepts(tried)) expect(problems.length).toBeGreaterThan(0);
        // (An empty key or certificate TLS would just leave out; for etcd it is half a pair.)
        if (target !== 'ca' && damaged.trim() !== '') expect(problems.length === 0).toBe(grpcAccepts(tried));
      }),
      { numRuns: 500 },
    );
  });
});

describe('clientConfig and TLS material', () => {
  it('throws a LeaseConfigError naming the part instead of an OpenSSL error', () => {
    try {
      clientConfig({ endpoints: ['https://a:1'], tls: { ca: pem.caCert, cert: pem.clientCert, key: pem.otherKey } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LeaseConfigError);
      expect((error as LeaseConfigError).field).toBe('tls.key');
    }
    expect(clientConfig({ endpoints: ['https://a:1'], tls: { ca: pem.caCert, cert: pem.clientCert, key: pem.clientKey } }).secure).toBe(true);
  });
});
