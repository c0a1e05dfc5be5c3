/**
 * Where a FencedLease lives, resolved from its spec and the operator's defaults, pure:
 * the lease name and key directory the client library uses, the etcd endpoints, and the
 * Secrets holding credentials. A spec that is valid in shape but not in meaning (no
 * endpoints anywhere, an endpoint without a port, TLS on http endpoints, a key that is
 * not a usable directory) resolves to an error naming the field, which the decider
 * reports as `Ready=False` reason `InvalidSpec`.
 *
 * Key layout: the lease's keys live under `spec.key` (or
 * `/manyfold/fencedleases/<namespace>/<name>`) plus a trailing `/`. Applications acquire it with
 * `client.acquire(<metadata.name>, { key: <that key>, ... })`.
 *
 * Tenancy ({@link FencedLeasePolicy}, set by the administrator with operator flags): a
 * FencedLease must not be a way to reach another tenant's leases or to send a tenant's
 * Secrets somewhere. So the key directory must lie strictly below one of the policy's
 * key prefixes, with `{namespace}` standing for the object's namespace (default: only
 * `/manyfold/fencedleases/<namespace>/`); `spec.etcd.endpoints` must each be the
 * operator's default etcd or in the policy's allowed endpoints (default: none besides
 * the default); and credentials (`spec.etcd.auth`) are refused over `http://`, where the
 * password would travel in cleartext. Each refusal names the field and the flag that
 * would allow it; the decider reports it as `Ready=False` reason `NotPermitted`, and no
 * etcd request is made for such a lease (not even its clean-up on deletion).
 *
 * Limitations: the key directory belongs to the lease entirely: deleting the FencedLease
 * deletes every key under it, so keys under `/registry/` (the Kubernetes API server's
 * prefix in a shared etcd) are refused; other overlaps (one lease's key inside another's)
 * are not detected. Operator defaults are checked only when a spec relies on them.
 */
import { leaseKey, type FencedLeaseSpec } from '../crds/fencedlease.ts';
import { DEFAULT_KEY_PREFIX, clientConfig, leaseDir } from '../legos/lease/config.ts';
import { LeaseConfigError } from '../legos/lease/errors.ts';

/** The etcd prefix of the Kubernetes API server, which a lease must never own. */
export const KUBERNETES_ETCD_PREFIX = '/registry/';

/** What the administrator lets FencedLeases reach (operator flags; see the module header). */
export interface FencedLeasePolicy {
  /**
   * Key directories a FencedLease of namespace N may use: its key must lie strictly
   * below one of these, `{namespace}` replaced by N. Each starts and ends with `/`.
   * Default {@link DefaultFencedLeasePolicy} (`/manyfold/fencedleases/{namespace}/`).
   */
  readonly keyPrefixes: readonly string[];
  /**
   * etcd endpoints `spec.etcd.endpoints` may name besides the operator's default ones,
   * as `scheme://host:port` (compared after the same normalization). Default none.
   */
  readonly allowedEndpoints: readonly string[];
}

/** Namespace placeholder in {@link FencedLeasePolicy.keyPrefixes}. */
export const NamespacePlaceholder = '{namespace}';

/** The policy without administrator settings: own-namespace keys, the default etcd only. */
export const DefaultFencedLeasePolicy: FencedLeasePolicy = { keyPrefixes: ['/manyfold/fencedleases/{namespace}/'], allowedEndpoints: [] };

/** `scheme://host:port` of an etcd URL (http:// assumed without a scheme), or undefined when not a URL. */
export function endpointOrigin(endpoint: string): string | undefined {
  try {
    const url = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
    return `${url.protocol}//${url.host}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/** The key prefixes of `policy` for `namespace`. */
export function keyPrefixesFor(policy: FencedLeasePolicy, namespace: string): string[] {
  return policy.keyPrefixes.map((p) => p.split(NamespacePlaceholder).join(namespace));
}

/** Everything the shell needs to reach one FencedLease's keys. */
export interface LeaseTarget {
  /** Lease name passed to the client library: the object's name. */
  readonly name: string;
  /** Key directory, ending in `/` (what `inspect`/`observe`/`deleteAll` take as `key`). */
  readonly dir: string;
  /** etcd client URLs as written (the client normalizes them). */
  readonly endpoints: readonly string[];
  /** Whether the endpoints come from `spec.etcd` or the operator's `--etcd-endpoints`. */
  readonly endpointsFrom: 'spec' | 'operator';
  /** Secret with `ca.crt` and optionally `tls.crt`/`tls.key` (same namespace). */
  readonly tls: { readonly secretName: string } | undefined;
  /** Secret with the etcd user name and password (same namespace). */
  readonly auth: { readonly secretName: string; readonly usernameKey: string; readonly passwordKey: string } | undefined;
}

/**
 * A resolved target, or the field at fault and why; `forbidden` marks a spec that is
 * fine in meaning but outside the administrator's {@link FencedLeasePolicy}.
 */
export type TargetResult =
  | { readonly ok: true; readonly value: LeaseTarget }
  | { readonly ok: false; readonly field: string; readonly message: string; readonly forbidden?: true | undefined };

function specField(libraryField: string): string {
  if (libraryField.startsWith('endpoints')) return `spec.etcd.${libraryField}`;
  if (libraryField.startsWith('tls')) return 'spec.etcd.tls';
  return `spec.etcd.${libraryField}`;
}

/**
 * Resolves where the lease of FencedLease `namespace/name` lives. `defaultEndpoints` are
 * the operator's `--etcd-endpoints` (may be empty).
 */
export function resolveLeaseTarget(input: {
  readonly namespace: string;
  readonly name: string;
  readonly spec: FencedLeaseSpec;
  readonly defaultEndpoints: readonly string[];
  /** What the administrator allows. Default {@link DefaultFencedLeasePolicy}. */
  readonly policy?: FencedLeasePolicy | undefined;
}): TargetResult {
  const { spec, namespace, name } = input;
  const policy = input.policy ?? DefaultFencedLeasePolicy;
  const fromSpec = spec.etcd !== undefined;
  const endpoints = spec.etcd?.endpoints ?? input.defaultEndpoints;
  if (endpoints.length === 0) {
    return {
      ok: false,
      field: 'spec.etcd.endpoints',
      message: 'spec.etcd.endpoints: not set, and the operator has no default etcd (--etcd-endpoints); set spec.etcd.endpoints',
    };
  }
  try {
    clientConfig({ endpoints, tls: spec.etcd?.tls ? {} : undefined });
  } catch (error) {
    if (!(error instanceof LeaseConfigError)) throw error;
    const detail = error.message.replace(/^invalid lease option [^:]+: /, '');
    if (!fromSpec) {
      return {
        ok: false,
        field: 'spec.etcd.endpoints',
        message: `spec.etcd.endpoints: not set, and the operator default --etcd-endpoints is unusable (${error.field} ${detail})`,
      };
    }
    const field = specField(error.field);
    return { ok: false, field, message: `${field}: ${detail}` };
  }
  const key = leaseKey(spec, { namespace, name });
  let dir: string;
  try {
    dir = leaseDir(DEFAULT_KEY_PREFIX, name, key);
  } catch (error) {
    if (!(error instanceof LeaseConfigError)) throw error;
    return { ok: false, field: error.field === 'key' ? 'spec.key' : 'metadata.name', message: `${error.field === 'key' ? 'spec.key' : 'metadata.name'}: ${error.message}` };
  }
  if (dir === KUBERNETES_ETCD_PREFIX || dir.startsWith(KUBERNETES_ETCD_PREFIX)) {
    return {
      ok: false,
      field: 'spec.key',
      message: `spec.key: must not be under ${KUBERNETES_ETCD_PREFIX} (the Kubernetes API server's keys); deleting the FencedLease deletes every key under spec.key`,
    };
  }
  const prefixes = keyPrefixesFor(policy, namespace);
  if (!prefixes.some((p) => dir.startsWith(p) && dir.length > p.length)) {
    return {
      ok: false,
      forbidden: true,
      field: 'spec.key',
      message: `spec.key: ${dir} is outside the key directories this namespace may use (${prefixes.join(', ')}); the administrator allows more with --fencedlease-key-prefixes`,
    };
  }
  if (fromSpec) {
    const allowed = new Set([...input.defaultEndpoints, ...policy.allowedEndpoints].map(endpointOrigin));
    const i = endpoints.findIndex((e) => !allowed.has(endpointOrigin(e)));
    if (i >= 0) {
      return {
        ok: false,
        forbidden: true,
        field: `spec.etcd.endpoints[${i}]`,
        message: `spec.etcd.endpoints[${i}]: ${endpoints[i] ?? ''} is not an etcd the administrator allows (the operator default, or --fencedlease-allowed-endpoints)`,
      };
    }
  }
  const auth = spec.etcd?.auth;
  if (auth && endpoints.some((e) => endpointOrigin(e)?.startsWith('http:'))) {
    return {
      ok: false,
      forbidden: true,
      field: 'spec.etcd.auth',
      message: 'spec.etcd.auth: credentials are never sent over plaintext http:// (the password would travel in cleartext); use https:// endpoints with spec.etcd.tls',
    };
  }
  return {
    ok: true,
    value: {
      name,
      dir,
      endpoints: [...endpoints],
      endpointsFrom: fromSpec ? 'spec' : 'operator',
      tls: spec.etcd?.tls ? { secretName: spec.etcd.tls.secretName } : undefined,
      auth: auth ? { secretName: auth.secretName, usernameKey: auth.usernameKey, passwordKey: auth.passwordKey } : undefined,
    },
  };
}
