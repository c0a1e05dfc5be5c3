/**
 * Validation and defaults of the lease client's options, and the key layout. Pure:
 * every function here returns a normalized value or throws a {@link LeaseConfigError}
 * naming the option and its allowed range (TLS material is checked by tls-material.ts).
 *
 * Key layout: each lease name owns a directory (`<keyPrefix><name>/` or the override
 * `key`); every waiter, the holder included, is one key `<dir><lease id hex>` attached
 * to its etcd lease. The key with the smallest create revision holds the lease.
 *
 * Limitations: names are checked for shape only (no `/`, printable, 1..253 chars); two
 * names mapping to the same override `key` share one lease.
 */
import { BackoffPolicy } from '../retry.ts';
import { LeaseConfigError } from './errors.ts';
import { checkTlsMaterial } from './tls-material.ts';
import type { AcquireOptions, FencedOp, LeaseClientOptions } from './types.ts';

/** Smallest TTL accepted, s (etcd's own minimum is about 1.5 s with default election timeouts). */
export const MIN_TTL_SECONDS = 2;
/** Largest TTL accepted, s. */
export const MAX_TTL_SECONDS = 3600;
/** etcd's default `--max-txn-ops`. */
export const MAX_FENCED_OPS = 128;
/** Default directory prefix of lease names. */
export const DEFAULT_KEY_PREFIX = '/manyfold/leases/';

/** Retries of etcd reads and watches inside the lease lego: 100 ms doubling to 2 s, no jitter. */
export const EtcdRetryBackoff = new BackoffPolicy({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 2000, group: 'lease' });

/** Client options with defaults applied. */
export interface ClientConfig {
  readonly endpoints: readonly string[];
  readonly secure: boolean;
  readonly keyPrefix: string;
  readonly requestTimeoutMs: number;
  readonly recreateAfterInternalErrors: number;
  readonly grpcOptions: Readonly<Record<string, string | number>>;
}

/** Acquire options with defaults applied. */
export interface AcquireConfig {
  readonly ttlSeconds: number;
  readonly ttlMs: number;
  readonly marginMs: number;
  readonly identity: string;
  readonly dir: string;
}

/** gRPC keep-alive defaults that etcd's server-side enforcement (min 5 s, no pings without streams) accepts. */
export const DEFAULT_GRPC_OPTIONS: Readonly<Record<string, number>> = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
};

function integerIn(field: string, value: unknown, min: number, max: number, unit: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new LeaseConfigError(field, `must be an integer in ${min}..${max} ${unit}, got ${String(value)}`);
  }
  return value;
}

/** Validates {@link LeaseClientOptions}; throws {@link LeaseConfigError}. */
export function clientConfig(options: LeaseClientOptions): ClientConfig {
  const endpoints = options.endpoints as unknown;
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new LeaseConfigError('endpoints', 'must list at least one etcd client URL, e.g. http://127.0.0.1:2379');
  }
  const normalized = endpoints.map((endpoint: unknown, i) => {
    if (typeof endpoint !== 'string' || endpoint.trim() === '') {
      throw new LeaseConfigError(`endpoints[${i}]`, `must be a non-empty URL, got ${JSON.stringify(endpoint)}`);
    }
    const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `${options.tls ? 'https' : 'http'}://${endpoint}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new LeaseConfigError(`endpoints[${i}]`, `is not a URL: ${endpoint}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LeaseConfigError(`endpoints[${i}]`, `must use http:// or https://, got ${url.protocol}`);
    }
    if (url.port === '') throw new LeaseConfigError(`endpoints[${i}]`, `needs a port (etcd's client port is usually 2379): ${endpoint}`);
    return `${url.protocol}//${url.host}`;
  });
  const secureCount = normalized.filter((e) => e.startsWith('https:')).length;
  if (secureCount !== 0 && secureCount !== normalized.length) {
    throw new LeaseConfigError('endpoints', 'must all be http:// or all https://, not a mix');
  }
  const secure = secureCount > 0;
  if (options.tls && !secure) throw new LeaseConfigError('tls', 'is set but the endpoints are http://; use https:// endpoints');
  if (options.tls?.cert !== undefined && options.tls.key === undefined) throw new LeaseConfigError('tls.key', 'is required with tls.cert');
  if (options.tls?.key !== undefined && options.tls.cert === undefined) throw new LeaseConfigError('tls.cert', 'is required with tls.key');
  if (options.tls?.cert !== undefined && options.tls.ca === undefined) throw new LeaseConfigError('tls.ca', 'is required with a client certificate');
  const tlsProblem = options.tls ? checkTlsMaterial(options.tls)[0] : undefined;
  if (tlsProblem) throw new LeaseConfigError(`tls.${tlsProblem.part}`, tlsProblem.message);
  if (options.auth) {
    if (typeof options.auth.username !== 'string' || options.auth.username === '') throw new LeaseConfigError('auth.username', 'must be a non-empty string');
    if (typeof options.auth.password !== 'string') throw new LeaseConfigError('auth.password', 'must be a string');
  }
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (!keyPrefix.startsWith('/') || !keyPrefix.endsWith('/')) {
    throw new LeaseConfigError('keyPrefix', `must start and end with "/", got ${JSON.stringify(keyPrefix)}`);
  }
  return {
    endpoints: normalized,
    secure,
    keyPrefix,
    requestTimeoutMs: integerIn('requestTimeoutMs', options.requestTimeoutMs ?? 5000, 100, 60_000, 'ms'),
    recreateAfterInternalErrors: integerIn('recreateAfterInternalErrors', options.recreateAfterInternalErrors ?? 3, 1, 100, 'errors'),
    grpcOptions: { ...DEFAULT_GRPC_OPTIONS, ...(options.grpcOptions ?? {}) },
  };
}

/** Checks a lease name: 1..253 printable characters, no `/`. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) {
    throw new LeaseConfigError('name', `must be 1..253 characters, got ${JSON.stringify(name)}`);
  }
  if (name.includes('/') || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new LeaseConfigError('name', `must not contain "/" or control characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The key directory of lease `name`: the override `key` (with a trailing `/`) or `<keyPrefix><name>/`. */
export function leaseDir(keyPrefix: string, name: string, key?: string): string {
  checkName(name);
  if (key === undefined) return `${keyPrefix}${name}/`;
  if (typeof key !== 'string' || key.trim() === '' || key === '/') {
    throw new LeaseConfigError('key', `must be a non-empty etcd key directory, got ${JSON.stringify(key)}`);
  }
  return key.endsWith('/') ? key : `${key}/`;
}

/** Default safety margin for a TTL: a tenth of it, clamped to 200..5000 ms. */
export function defaultSafetyMarginMs(ttlMs: number): number {
  return Math.min(5000, Math.max(200, Math.round(ttlMs / 10)));
}

/** Validates {@link AcquireOptions}; throws {@link LeaseConfigError}. */
export function acquireConfig(keyPrefix: string, name: string, options: AcquireOptions): AcquireConfig {
  const ttlSeconds = options.ttlSeconds as unknown;
  if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TTL_SECONDS || ttlSeconds > MAX_TTL_SECONDS) {
    throw new LeaseConfigError(
      'ttlSeconds',
      `must be an integer in ${MIN_TTL_SECONDS}..${MAX_TTL_SECONDS} seconds, got ${String(ttlSeconds)} ` +
        '(keep-alives go every TTL/3, so shorter TTLs leave no room for a single late one)',
    );
  }
  const ttlMs = ttlSeconds * 1000;
  const identity = options.identity as unknown;
  if (typeof identity !== 'string' || identity.length === 0 || identity.length > 256) {
    throw new LeaseConfigError('identity', `must be 1..256 characters, got ${JSON.stringify(identity)}`);
  }
  const marginMs = options.safetyMarginMs ?? defaultSafetyMarginMs(ttlMs);
  if (typeof marginMs !== 'number' || !Number.isFinite(marginMs) || marginMs < 0 || marginMs > ttlMs / 2) {
    throw new LeaseConfigError('safetyMarginMs', `must be in 0..${ttlMs / 2} ms (half the TTL), got ${String(marginMs)}`);
  }
  return { ttlSeconds, ttlMs, marginMs, identity, dir: leaseDir(keyPrefix, name, options.key) };
}

/** Checks fenced operations: 1..128 of them, none inside the lease directory `dir`. */
export function checkFencedOps(dir: string, ops: readonly FencedOp[]): readonly FencedOp[] {
  const list: unknown = ops;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_FENCED_OPS) {
    throw new LeaseConfigError('ops', `must hold 1..${MAX_FENCED_OPS} operations, got ${Array.isArray(list) ? list.length : typeof list}`);
  }
  ops.forEach((op, i) => {
    if (op.type !== 'put' && op.type !== 'delete') throw new LeaseConfigError(`ops[${i}].type`, `must be "put" or "delete"`);
    if (typeof op.key !== 'string' || op.key === '') throw new LeaseConfigError(`ops[${i}].key`, 'must be a non-empty string');
    if (op.key.startsWith(dir)) {
      throw new LeaseConfigError(`ops[${i}].key`, `must not be inside the lease directory ${dir} (that would forge a waiter)`);
    }
    if (op.type === 'put' && typeof op.value !== 'string' && !(op.value instanceof Uint8Array)) {
      throw new LeaseConfigError(`ops[${i}].value`, 'must be a string or Uint8Array');
    }
  });
  return ops;
}
