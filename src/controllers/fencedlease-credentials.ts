/**
 * etcd credentials of a FencedLease, read from the Secrets its spec names (same
 * namespace) through the API server — a GET per reconcile, never a cluster-wide Secret
 * cache — and turned into lease-client options plus an identity for the client registry.
 *
 * Secret keys: TLS `ca.crt` (the etcd CA; the system roots when absent), `tls.crt` and
 * `tls.key` (client certificate, both or neither; they need `ca.crt`); auth: the user
 * name and password under `usernameKey`/`passwordKey` (default `username`/`password`).
 *
 * The configuration id is the endpoints plus a SHA-256 digest of the credentials, so a
 * rotated Secret yields a new client (the old one closes once unused) and no secret
 * appears in ids, logs or metrics.
 *
 * Limitations: a Secret change is noticed on the next reconcile of each FencedLease
 * using it (holder change, refresh or resync), not at once: Secrets are not watched.
 */
import { createHash } from 'node:crypto';
import type { LeaseClientOptions, LeaseTlsOptions } from '../legos/lease/index.ts';
import type { LeaseTarget } from '../reconcilers/fencedlease-target.ts';
import type { KubeClient } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';

type Secret = KubeObject & { data?: Record<string, string> };

/** One etcd configuration: what a lease client is created with, and its id. */
export interface BackendConfig {
  /** `<endpoints>#<digest>`: equal ids mean equal endpoints and credentials. */
  readonly id: string;
  readonly options: LeaseClientOptions;
}

export type CredentialsResult = { readonly ok: true; readonly config: BackendConfig } | { readonly ok: false; readonly message: string };

const b64 = (bytes: Uint8Array | string | undefined) => (bytes === undefined ? null : Buffer.from(bytes).toString('base64'));

/** Builds the config (pure): endpoints, TLS material and user credentials. */
export function backendConfig(
  endpoints: readonly string[],
  credentials: { readonly tls?: LeaseTlsOptions | undefined; readonly auth?: { readonly username: string; readonly password: string } | undefined } = {},
): BackendConfig {
  const { tls, auth } = credentials;
  const digest = createHash('sha256')
    .update(JSON.stringify({ endpoints, ca: b64(tls?.ca), cert: b64(tls?.cert), key: b64(tls?.key), tls: tls !== undefined, user: auth?.username ?? null, password: auth?.password ?? null }))
    .digest('hex')
    .slice(0, 16);
  return {
    id: `${endpoints.join(',')}#${digest}`,
    options: { endpoints: [...endpoints], ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) },
  };
}

async function readSecret(client: KubeClient, namespace: string, name: string, field: string): Promise<{ ok: true; data: Record<string, string> } | { ok: false; message: string }> {
  try {
    const secret = await client.getOrUndefined<Secret>(Resources.Secret, name, namespace);
    if (!secret) return { ok: false, message: `Secret ${namespace}/${name} (${field}) not found` };
    return { ok: true, data: secret.data ?? {} };
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 403) return { ok: false, message: `the operator may not read Secret ${namespace}/${name} (${field}): ${error.message}` };
    throw error;
  }
}

const decode = (value: string | undefined): Buffer | undefined => (value === undefined ? undefined : Buffer.from(value, 'base64'));

/**
 * Reads the Secrets `target` names and returns the etcd configuration, or what is
 * missing (a message naming the Secret and key). API errors other than 404/403 throw.
 */
export async function readBackendConfig(client: KubeClient, namespace: string, target: LeaseTarget): Promise<CredentialsResult> {
  let tls: LeaseTlsOptions | undefined;
  let auth: { username: string; password: string } | undefined;
  if (target.tls) {
    const field = 'spec.etcd.tls.secretName';
    const read = await readSecret(client, namespace, target.tls.secretName, field);
    if (!read.ok) return read;
    const ca = decode(read.data['ca.crt']);
    const cert = decode(read.data['tls.crt']);
    const key = decode(read.data['tls.key']);
    const where = `Secret ${namespace}/${target.tls.secretName} (${field})`;
    if ((cert === undefined) !== (key === undefined)) return { ok: false, message: `${where}: has ${cert ? 'tls.crt without tls.key' : 'tls.key without tls.crt'}` };
    if (cert !== undefined && ca === undefined) return { ok: false, message: `${where}: a client certificate (tls.crt) needs the etcd CA in ca.crt` };
    tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  if (target.auth) {
    const field = 'spec.etcd.auth.secretName';
    const read = await readSecret(client, namespace, target.auth.secretName, field);
    if (!read.ok) return read;
    const where = `Secret ${namespace}/${target.auth.secretName} (${field})`;
    const username = decode(read.data[target.auth.usernameKey])?.toString('utf8');
    const password = decode(read.data[target.auth.passwordKey])?.toString('utf8');
    if (!username) return { ok: false, message: `${where}: no user name under key ${target.auth.usernameKey} (spec.etcd.auth.usernameKey)` };
    if (password === undefined) return { ok: false, message: `${where}: no password under key ${target.auth.passwordKey} (spec.etcd.auth.passwordKey)` };
    auth = { username, password };
  }
  return { ok: true, config: backendConfig(target.endpoints, { tls, auth }) };
}
