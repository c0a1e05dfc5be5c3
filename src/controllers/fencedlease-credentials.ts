/**
 * etcd credentials of a FencedLease, read from the Secrets its spec names (same
 * namespace) through the API server — a GET per reconcile, never a cluster-wide Secret
 * cache — and turned into lease-client options plus an identity for the client registry.
 *
 * Secret keys: TLS `ca.crt` (the etcd CA; the system roots when absent), `tls.crt` and
 * `tls.key` (client certificate, both or neither; they need `ca.crt`); auth: the user
 * name and password under `usernameKey`/`passwordKey` (default `username`/`password`).
 *
 * A TLS Secret whose content is unusable (none of the three keys, a pair half there,
 * malformed PEM, a key that does not match the certificate, a certificate outside its
 * validity period: legos/lease/tls-material.ts) is reported as `InvalidTLSSecret` with a
 * message naming the Secret, the key and what is wrong, before any client is built;
 * gRPC would otherwise throw a bare OpenSSL error, or take a bad CA and fail every
 * handshake. A Secret that is missing or unreadable is `CredentialsUnavailable`.
 *
 * The configuration id is the endpoints plus a SHA-256 digest of the credentials, so a
 * rotated Secret yields a new client (the old one closes once unused) and no secret
 * appears in ids, logs or metrics.
 *
 * Limitations: a Secret change is noticed on the next reconcile of each FencedLease
 * using it, not at once: Secrets are not watched (the operator may only `get` them by
 * name, deploy/manifests/rbac.yaml). A FencedLease blocked on its Secret is retried
 * with the decider's outage backoff (1 s growing to 30 s), so a fixed Secret is picked
 * up within 30 s; a working one at the next holder change, refresh or resync.
 */
import { createHash } from 'node:crypto';
import { checkTlsMaterial, type LeaseClientOptions, type LeaseTlsOptions, type TlsPart } from '../legos/lease/index.ts';
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

/** Why credentials are not usable: the Secret cannot be read, or its TLS content is unusable. */
export type CredentialsProblem = 'CredentialsUnavailable' | 'InvalidTLSSecret';

export type CredentialsResult =
  | { readonly ok: true; readonly config: BackendConfig }
  | { readonly ok: false; readonly reason: CredentialsProblem; readonly message: string };

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

type Unavailable = { readonly ok: false; readonly reason: 'CredentialsUnavailable'; readonly message: string };

async function readSecret(client: KubeClient, namespace: string, name: string, field: string): Promise<{ ok: true; data: Record<string, string> } | Unavailable> {
  const reason = 'CredentialsUnavailable';
  try {
    const secret = await client.getOrUndefined<Secret>(Resources.Secret, name, namespace);
    if (!secret) return { ok: false, reason, message: `Secret ${namespace}/${name} (${field}) not found` };
    return { ok: true, data: secret.data ?? {} };
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 403) return { ok: false, reason, message: `the operator may not read Secret ${namespace}/${name} (${field}): ${error.message}` };
    throw error;
  }
}

const decode = (value: string | undefined): Buffer | undefined => (value === undefined ? undefined : Buffer.from(value, 'base64'));

/** Messages of a failed TLS handshake (Node/OpenSSL verify errors, TLS alerts from etcd). */
const HANDSHAKE_FAILURE = /certificate|self[- ]signed|SSL|TLS|alert|handshake|altnames/i;
/** Node's advice on verify errors, which points at the operator's process rather than at the Secret. */
const NODE_CA_ADVICE = /; if the root CA is installed locally, try running Node\.js with --use-system-ca/g;

/**
 * The error of an unreachable etcd, with the TLS Secret named when it reads like a
 * failed handshake (a well-formed CA that did not sign etcd's certificate, a client
 * certificate etcd does not trust): only the handshake can tell those apart from good ones.
 */
export function explainUnavailable(error: string, namespace: string, target: Pick<LeaseTarget, 'tls'>): string {
  if (!target.tls || !HANDSHAKE_FAILURE.test(error)) return error;
  const cleaned = error.replace(NODE_CA_ADVICE, '');
  return `${cleaned} (TLS handshake failed with Secret ${namespace}/${target.tls.secretName} (spec.etcd.tls.secretName): ca.crt must hold the CA that signed etcd's serving certificate, and tls.crt a client certificate etcd trusts)`;
}

/** The Secret key each part of the TLS material comes from. */
const TlsKeys: Readonly<Record<TlsPart, string>> = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' };

/**
 * The TLS options from a TLS Secret's data, or what is wrong with them (pure but for
 * parsing): `where` names the Secret in messages; `now` (wall ms) dates certificates.
 */
export function tlsFromSecret(data: Readonly<Record<string, string>>, where: string, now: number): { ok: true; tls: LeaseTlsOptions } | { ok: false; message: string } {
  const ca = decode(data[TlsKeys.ca]);
  const cert = decode(data[TlsKeys.cert]);
  const key = decode(data[TlsKeys.key]);
  if (ca === undefined && cert === undefined && key === undefined) {
    const present = Object.keys(data).sort().join(', ');
    return { ok: false, message: `${where}: holds none of the keys ca.crt, tls.crt, tls.key (${present === '' ? 'it is empty' : `it has ${present}`})` };
  }
  if ((cert === undefined) !== (key === undefined)) {
    return { ok: false, message: `${where}: key ${cert ? 'tls.key is missing (tls.crt needs its private key)' : 'tls.crt is missing (tls.key needs its certificate)'}` };
  }
  if (cert !== undefined && ca === undefined) return { ok: false, message: `${where}: key ca.crt is missing (a client certificate in tls.crt needs the etcd CA in ca.crt)` };
  const problems = checkTlsMaterial({ ca, cert, key }, { now });
  if (problems.length > 0) return { ok: false, message: `${where}: ${problems.map((p) => `key ${TlsKeys[p.part]} ${p.message}`).join('; ')}` };
  return { ok: true, tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } };
}

/**
 * Reads the Secrets `target` names and returns the etcd configuration, or what is
 * missing or wrong (a message naming the Secret and key). API errors other than 404/403
 * throw. `now` (wall ms) dates the TLS certificates.
 */
export async function readBackendConfig(client: KubeClient, namespace: string, target: LeaseTarget, now: number): Promise<CredentialsResult> {
  let tls: LeaseTlsOptions | undefined;
  let auth: { username: string; password: string } | undefined;
  if (target.tls) {
    const field = 'spec.etcd.tls.secretName';
    const read = await readSecret(client, namespace, target.tls.secretName, field);
    if (!read.ok) return read;
    const checked = tlsFromSecret(read.data, `Secret ${namespace}/${target.tls.secretName} (${field})`, now);
    if (!checked.ok) return { ok: false, reason: 'InvalidTLSSecret', message: checked.message };
    tls = checked.tls;
  }
  if (target.auth) {
    const field = 'spec.etcd.auth.secretName';
    const read = await readSecret(client, namespace, target.auth.secretName, field);
    if (!read.ok) return read;
    const where = `Secret ${namespace}/${target.auth.secretName} (${field})`;
    const reason = 'CredentialsUnavailable';
    const username = decode(read.data[target.auth.usernameKey])?.toString('utf8');
    const password = decode(read.data[target.auth.passwordKey])?.toString('utf8');
    if (!username) return { ok: false, reason, message: `${where}: no user name under key ${target.auth.usernameKey} (spec.etcd.auth.usernameKey)` };
    if (password === undefined) return { ok: false, reason, message: `${where}: no password under key ${target.auth.passwordKey} (spec.etcd.auth.passwordKey)` };
    auth = { username, password };
  }
  return { ok: true, config: backendConfig(target.endpoints, { tls, auth }) };
}
