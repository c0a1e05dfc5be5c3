/**
 * `FencedLease`: a named etcd-backed lease with a TTL whose status mirrors the holder
 * and the fencing token (the etcd revision at acquisition) applications pass along
 * with every write.
 *
 * Apply-time validation: ttlSeconds is an integer 2..3600; an `etcd` block needs at
 * least one http(s) endpoint (without the block the operator's default etcd is used);
 * allowed holders are unique.
 *
 * Limitations: the fencing token is a decimal string, since etcd revisions are int64
 * and JavaScript numbers are exact only to 2^53; compare tokens as BigInt.
 */
import { z } from 'zod';
import { DECIMAL_UINT, HTTP_URL, count, objectName, statusBaseShape, timestamp } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { listSet } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

/** Shortest and longest lease TTL in seconds. */
export const LEASE_TTL_SECONDS = { min: 2, max: 3600 } as const;

/** Most etcd endpoints and allowed holders one lease may list. */
const MAX_ENDPOINTS = 16;
const MAX_HOLDERS = 64;

/** Code-side defaults of the etcd auth Secret's keys. */
export const FencedLeaseDefaults = { usernameKey: 'username', passwordKey: 'password' } as const;

const EtcdSchema = z
  .object({
    endpoints: z
      .array(z.string().max(512).regex(HTTP_URL, 'must be an http:// or https:// URL').describe('An etcd client URL.'))
      .min(1)
      .max(MAX_ENDPOINTS)
      .describe('etcd client URLs, e.g. https://etcd-0.etcd:2379; at least one.'),
    tls: z
      .object({
        secretName: objectName('Secret with ca.crt (the etcd CA) and, for client-certificate authentication, tls.crt and tls.key; same namespace.'),
      })
      .describe('TLS for https endpoints.')
      .optional(),
    auth: z
      .object({
        secretName: objectName('Secret holding the etcd user name and password, in the same namespace.'),
        usernameKey: z.string().min(1).max(253).default(FencedLeaseDefaults.usernameKey).describe('Key of the user name in the Secret.'),
        passwordKey: z.string().min(1).max(253).default(FencedLeaseDefaults.passwordKey).describe('Key of the password in the Secret.'),
      })
      .describe('etcd user authentication.')
      .optional(),
  })
  .describe('The etcd cluster holding the lease. Omit to use the operator default (--etcd-endpoints); when given, endpoints must not be empty.');

/** `FencedLease.spec`. */
export const FencedLeaseSpecSchema = z
  .object({
    ttlSeconds: z
      .int()
      .min(LEASE_TTL_SECONDS.min)
      .max(LEASE_TTL_SECONDS.max)
      .describe(`Lease time-to-live in seconds (${LEASE_TTL_SECONDS.min} to ${LEASE_TTL_SECONDS.max}); a holder that stops renewing loses the lease after this long.`),
    etcd: EtcdSchema.optional(),
    key: z
      .string()
      .min(1)
      .max(512)
      .describe('etcd key of the lease. Defaults to /manyfold/fencedleases/<namespace>/<name> when omitted (applied by the operator).')
      .optional(),
    allowedHolders: listSet(z.array(z.string().min(1).max(253)).max(MAX_HOLDERS))
      .describe('Identities allowed to acquire the lease; empty or omitted allows any.')
      .optional(),
  })
  .describe('Desired state of the FencedLease.');

/** `FencedLease.spec` as written by users. */
export type FencedLeaseSpecInput = z.input<typeof FencedLeaseSpecSchema>;
/** `FencedLease.spec` with code-side defaults applied. */
export type FencedLeaseSpec = z.output<typeof FencedLeaseSpecSchema>;

/** `FencedLease.status`. */
export const FencedLeaseStatusSchema = z
  .object({
    ...statusBaseShape(),
    holder: z.string().max(253).describe('Identity of the current holder; empty when the lease is free.').optional(),
    fencingToken: z
      .string()
      .max(20)
      .regex(DECIMAL_UINT, 'must be a decimal integer')
      .describe('Fencing token of the current holding: the etcd revision at acquisition, as a decimal string (may exceed 2^53).')
      .optional(),
    acquireTime: timestamp('When the current holder acquired the lease.').optional(),
    renewTime: timestamp('When the current holder last renewed the lease.').optional(),
    expireTime: timestamp('When the lease expires unless renewed.').optional(),
    transitions: count('How many times the lease changed holder.').optional(),
    lastRevokeNonce: z.string().max(253).describe('Value of the last manyfold.dev/revoke annotation acted on (each nonce revokes once).').optional(),
  })
  .describe('Observed state of the lease, written by the operator.');

/** `FencedLease.status`. */
export type FencedLeaseStatus = z.output<typeof FencedLeaseStatusSchema>;

/** Validates a FencedLease spec at the controller boundary and applies code-side defaults. */
export function parseFencedLeaseSpec(spec: unknown): ParseResult<FencedLeaseSpec> {
  return parseWith(FencedLeaseSpecSchema, spec);
}

/**
 * Applies code-side defaults ({@link FencedLeaseDefaults}) to an already-typed spec.
 * Throws a ZodError when the spec breaks a rule the types cannot express; use
 * {@link parseFencedLeaseSpec} on untrusted input.
 */
export function withFencedLeaseDefaults(spec: FencedLeaseSpecInput): FencedLeaseSpec {
  return FencedLeaseSpecSchema.parse(spec);
}

/** The etcd key a lease uses: `spec.key`, else `/manyfold/fencedleases/<namespace>/<name>`. */
export function leaseKey(spec: Pick<FencedLeaseSpec, 'key'>, object: { namespace: string; name: string }): string {
  return spec.key ?? `/manyfold/fencedleases/${object.namespace}/${object.name}`;
}

/** The FencedLease kind. */
export const FencedLeaseKind = {
  kind: 'FencedLease',
  plural: 'fencedleases',
  singular: 'fencedlease',
  shortNames: ['flease'],
  description:
    'A FencedLease is a named etcd-backed lease with a TTL. Its status mirrors the holder, the fencing token (etcd revision at acquisition) ' +
    'and renew and expiry times; the annotation manyfold.dev/revoke: <nonce> revokes the current holder once per nonce.',
  spec: FencedLeaseSpecSchema,
  status: FencedLeaseStatusSchema,
  printerColumns: [
    { name: 'Holder', type: 'string', jsonPath: '.status.holder', description: 'Current holder.' },
    { name: 'Token', type: 'string', jsonPath: '.status.fencingToken', description: 'Fencing token of the current holding.' },
    { name: 'TTL', type: 'integer', jsonPath: '.spec.ttlSeconds', description: 'Lease TTL in seconds.' },
    { name: 'Renewed', type: 'date', jsonPath: '.status.renewTime', description: 'Time since the last renewal.' },
    { name: 'Transitions', type: 'integer', jsonPath: '.status.transitions', description: 'Holder changes.', priority: 1 },
  ],
} as const satisfies KindDefinition;
