/**
 * The contract between the RatePolicy operator and the rate-limiter clients: where
 * shares are published, what the published document says, and where each client
 * writes its acknowledgement and demand report. Both sides import this module and
 * nothing else of each other.
 *
 * - Shares: ConfigMap {@link sharesConfigMapName} in the policy's namespace, key
 *   {@link SHARES_KEY} (JSON, {@link SharesDocument}); the operator's protocol state
 *   sits beside it under {@link PROTOCOL_KEY} so that a new leader resumes where the
 *   old one stopped (one object, one write).
 * - Acknowledgements and demand: one coordination.k8s.io Lease per (policy, pod),
 *   {@link reportLeaseName}, labelled {@link POLICY_LABEL}; `holderIdentity` is the pod,
 *   the annotation {@link ACK_ANNOTATION} the newest version received and
 *   {@link DEMAND_ANNOTATION} the demand per limit (JSON, requests/s). A client writes it
 *   at most once per `refreshIntervalMs` (see client.ts for why this channel).
 *
 * Limitations: the document grows by about 60 bytes per replica and Global limit; a
 * ConfigMap holds 1 MiB, so at 1,000 replicas about 16 Global limits fit in one policy.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Data key of the published shares in the ConfigMap. */
export const SHARES_KEY = 'shares.json';
/** Data key of the operator's protocol state in the same ConfigMap (clients ignore it). */
export const PROTOCOL_KEY = 'protocol.json';
/** Label on the report Leases (and the shares ConfigMap) naming the policy. */
export const POLICY_LABEL = 'ratepolicy.manyfold.dev/policy';
/**
 * Label a pod must carry (any value; `"true"` reads best) to count as a replica of the
 * RatePolicies whose selector picks it: the operator caches only pods with this label,
 * not every pod of the cluster.
 */
export const ENFORCER_LABEL = 'ratepolicy.manyfold.dev/enforcer';
/** Annotation on a report Lease: the newest shares version the client has received (decimal). */
export const ACK_ANNOTATION = 'ratepolicy.manyfold.dev/ack-version';
/** Annotation on a report Lease: `{"<limit>": <requests/s>}`, the client's demand (Demand-mode limits). */
export const DEMAND_ANNOTATION = 'ratepolicy.manyfold.dev/demand';

function boundedName(base: string): string {
  if (base.length <= 253) return base;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 12);
  return `${base.slice(0, 240).replace(/[-.]+$/, '')}-${hash}`;
}

/** Name of the ConfigMap holding `policy`'s shares: `<policy>-shares` (hashed when longer than 253). */
export function sharesConfigMapName(policy: string): string {
  return boundedName(`${policy}-shares`);
}

/** Name of the Lease through which `pod` reports to `policy`: `<policy>.<pod>` (hashed when longer than 253). */
export function reportLeaseName(policy: string, pod: string): string {
  return boundedName(`${policy}.${pod}`);
}

const share = z.tuple([z.number().min(0), z.number().min(0)]);

const LimitEntrySchema = z.object({
  name: z.string(),
  key: z.string(),
  scope: z.enum(['Global', 'PerReplica']),
  shareMode: z.enum(['Even', 'Demand']),
  requestsPerSecond: z.number().positive(),
  burst: z.number().min(0),
  fallbackRequestsPerSecond: z.number().min(0),
});

/** One limit as the document states it (spec values after defaults). */
export type LimitEntry = z.output<typeof LimitEntrySchema>;

/** What the operator publishes for the clients of one policy. */
export const SharesDocumentSchema = z.object({
  policy: z.string(),
  /** Increases with every change of any grant. */
  version: z.int().min(0),
  /** Wall ms (Unix epoch) after which a client that heard nothing newer must fall back. */
  expiresAtMs: z.number(),
  /** Clients write their report Lease at most once per this many ms. */
  refreshIntervalMs: z.int().min(1),
  /** How long each publication is valid (the operator re-publishes every third of it). */
  leaseMs: z.int().min(1),
  /** True while a kill switch freezes the shares (for display; clients enforce them as usual). */
  frozen: z.boolean().optional(),
  limits: z.array(LimitEntrySchema),
  /** Grants per pod: limit name → [requests/s, burst] (Global limits only). */
  replicas: z.record(z.string(), z.record(z.string(), share)),
});

export type SharesDocument = z.output<typeof SharesDocumentSchema>;

/** Parses the ConfigMap value; throws a ZodError (or SyntaxError) on a document it cannot trust. */
export function parseSharesDocument(json: string): SharesDocument {
  return SharesDocumentSchema.parse(JSON.parse(json));
}
