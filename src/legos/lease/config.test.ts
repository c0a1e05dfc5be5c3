import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acquireConfig, checkFencedOps, clientConfig, defaultSafetyMarginMs, leaseDir, MAX_TTL_SECONDS, MIN_TTL_SECONDS } from './config.ts';
import { LeaseConfigError } from './errors.ts';

function configError(fn: () => unknown): LeaseConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LeaseConfigError) return error;
    throw error;
  }
  throw new Error('expected a LeaseConfigError');
}

describe('acquire options', () => {
  it.each([0, 1, 3601, 2.5, -3, Number.NaN])('rejects ttlSeconds %s naming the field and the range', (ttlSeconds) => {
    const error = configError(() => acquireConfig('/p/', 'n', { ttlSeconds, identity: 'me' }));
    expect(error.field).toBe('ttlSeconds');
    expect(error.message).toContain('ttlSeconds');
    expect(error.message).toContain('2..3600');
    expect(error.retryable).toBe(false);
  });

  it('accepts every integer TTL in range with a margin that leaves room for two keep-alives', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_TTL_SECONDS, max: MAX_TTL_SECONDS }), (ttlSeconds) => {
        const config = acquireConfig('/p/', 'n', { ttlSeconds, identity: 'me' });
        expect(config.ttlMs).toBe(ttlSeconds * 1000);
        expect(config.marginMs).toBeGreaterThanOrEqual(0);
        // After a confirmed send the holder stays valid for ttl - margin, which must
        // cover the keep-alive interval (ttl/3) with room for one retry.
        expect(config.ttlMs - config.marginMs).toBeGreaterThan((config.ttlMs / 3) * 2);
      }),
    );
  });

  it('bounds the safety margin to half the TTL', () => {
    expect(configError(() => acquireConfig('/p/', 'n', { ttlSeconds: 4, identity: 'me', safetyMarginMs: 2001 })).field).toBe('safetyMarginMs');
    expect(configError(() => acquireConfig('/p/', 'n', { ttlSeconds: 4, identity: 'me', safetyMarginMs: -1 })).field).toBe('safetyMarginMs');
    expect(acquireConfig('/p/', 'n', { ttlSeconds: 4, identity: 'me', safetyMarginMs: 0 }).marginMs).toBe(0);
    expect(defaultSafetyMarginMs(2000)).toBe(200);
    expect(defaultSafetyMarginMs(3_600_000)).toBe(5000);
  });

  it('rejects empty identities and names with slashes', () => {
    expect(configError(() => acquireConfig('/p/', 'n', { ttlSeconds: 5, identity: '' })).field).toBe('identity');
    expect(configError(() => acquireConfig('/p/', 'a/b', { ttlSeconds: 5, identity: 'x' })).field).toBe('name');
    expect(configError(() => acquireConfig('/p/', '', { ttlSeconds: 5, identity: 'x' })).field).toBe('name');
  });
});

describe('client options', () => {
  it('rejects empty endpoints naming the field', () => {
    const error = configError(() => clientConfig({ endpoints: [] }));
    expect(error.field).toBe('endpoints');
    expect(error.message).toContain('endpoints');
  });

  it('normalizes endpoints and rejects mixed schemes, missing ports and TLS over http', () => {
    expect(clientConfig({ endpoints: ['127.0.0.1:2379', 'http://10.0.0.1:2379/'] }).endpoints).toEqual(['http://127.0.0.1:2379', 'http://10.0.0.1:2379']);
    expect(configError(() => clientConfig({ endpoints: ['http://a:1', 'https://b:1'] })).field).toBe('endpoints');
    expect(configError(() => clientConfig({ endpoints: ['http://a'] })).field).toBe('endpoints[0]');
    expect(configError(() => clientConfig({ endpoints: ['http://a:1'], tls: { ca: 'x' } })).field).toBe('tls');
    expect(configError(() => clientConfig({ endpoints: ['https://a:1'], tls: { cert: 'c', key: 'k' } })).field).toBe('tls.ca');
    // An endpoint without a scheme becomes https:// with TLS options (whose material is then checked: tls-material.test.ts).
    expect(configError(() => clientConfig({ endpoints: ['a:1'], tls: { ca: 'x' } })).field).toBe('tls.ca');
  });

  it('merges gRPC options over keep-alive defaults', () => {
    const config = clientConfig({ endpoints: ['a:1'], grpcOptions: { 'grpc.keepalive_time_ms': 20_000 } });
    expect(config.grpcOptions['grpc.keepalive_time_ms']).toBe(20_000);
    expect(config.grpcOptions['grpc.keepalive_timeout_ms']).toBe(5000);
  });
});

describe('key layout', () => {
  it('puts each name in its own directory, or in the override key', () => {
    expect(leaseDir('/manyfold/leases/', 'db')).toBe('/manyfold/leases/db/');
    expect(leaseDir('/manyfold/leases/', 'db', '/apps/db-leader')).toBe('/apps/db-leader/');
    expect(configError(() => leaseDir('/p/', 'db', '')).field).toBe('key');
  });

  it('refuses fenced writes into the lease directory and oversized transactions', () => {
    expect(configError(() => checkFencedOps('/l/db/', [{ type: 'put', key: '/l/db/forged', value: 'x' }])).field).toBe('ops[0].key');
    expect(configError(() => checkFencedOps('/l/db/', [])).field).toBe('ops');
    const many = Array.from({ length: 129 }, (_, i) => ({ type: 'delete' as const, key: `/k${i}` }));
    expect(configError(() => checkFencedOps('/l/db/', many)).field).toBe('ops');
    expect(checkFencedOps('/l/db/', [{ type: 'put', key: '/l/db', value: 'ok' }])).toHaveLength(1);
  });
});
