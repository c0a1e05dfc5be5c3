/**
 * `RatePolicy` (skeleton): rate limits (rate, burst, key) for the pods a selector
 * picks, global or per replica. The operator splits a global budget into per-replica
 * shares that follow the replica count and publishes them for the client library's
 * token buckets. The RatePolicy issue fills in the rest.
 *
 * Apply-time validation: 1 to {@link MAX_LIMITS} limits with unique DNS-label names;
 * requestsPerSecond > 0; burst ≥ 0.
 */
import { z } from 'zod';
import { DNS_LABEL, count, labelSelector, statusBaseShape } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { listMap } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_LIMITS = 32;

/** Code-side defaults of a RatePolicy limit. */
export const RatePolicyDefaults = { scope: 'Global' } as const;

const limitName = () => z.string().min(1).max(63).regex(DNS_LABEL, 'must be a DNS label').describe('Name of the limit, unique in the policy.');

const LimitSchema = z
  .object({
    name: limitName(),
    key: z.string().min(1).max(253).describe('What requests are counted by, e.g. a header or the client identity, as the client library names it.'),
    requestsPerSecond: z.number().positive().max(1e9).describe('Sustained rate, in requests per second (> 0).'),
    burst: count('Requests allowed at once above the sustained rate. Omitted: one second of requestsPerSecond.').optional(),
    scope: z
      .enum(['Global', 'PerReplica'])
      .default(RatePolicyDefaults.scope)
      .describe('Global: the rate is shared by all selected replicas (split into shares); PerReplica: each replica gets the full rate.'),
  })
  .describe('One limit.');

/** `RatePolicy.spec`. */
export const RatePolicySpecSchema = z
  .object({
    selector: labelSelector('Selects the pods that enforce the policy.'),
    limits: listMap(z.array(LimitSchema).min(1).max(MAX_LIMITS), ['name']).describe(`Limits (1 to ${MAX_LIMITS}, unique names).`),
  })
  .describe('Desired state of the RatePolicy.');

export type RatePolicySpecInput = z.input<typeof RatePolicySpecSchema>;
export type RatePolicySpec = z.output<typeof RatePolicySpecSchema>;

const ShareSchema = z
  .object({
    name: limitName(),
    requestsPerSecond: z.number().min(0).describe("Each replica's share of the rate."),
    burst: count("Each replica's share of the burst.").optional(),
  })
  .describe('The per-replica share of one limit.');

/** `RatePolicy.status`. */
export const RatePolicyStatusSchema = z
  .object({
    ...statusBaseShape(),
    replicas: count('Ready replicas the budget is split over.').optional(),
    shares: listMap(z.array(ShareSchema).max(MAX_LIMITS), ['name']).describe('Per-replica shares of each limit.').optional(),
    configMap: z.string().max(253).describe('ConfigMap holding the published shares.').optional(),
    version: count('Version of the published shares; increases with every change.').optional(),
  })
  .describe('Observed state of the RatePolicy, written by the operator.');

export type RatePolicyStatus = z.output<typeof RatePolicyStatusSchema>;

/** Validates a RatePolicy spec at the controller boundary and applies code-side defaults. */
export function parseRatePolicySpec(spec: unknown): ParseResult<RatePolicySpec> {
  return parseWith(RatePolicySpecSchema, spec);
}

/** Applies code-side defaults ({@link RatePolicyDefaults}); throws a ZodError on a spec that breaks a rule. */
export function withRatePolicyDefaults(spec: RatePolicySpecInput): RatePolicySpec {
  return RatePolicySpecSchema.parse(spec);
}

/** The RatePolicy kind. */
export const RatePolicyKind = {
  kind: 'RatePolicy',
  plural: 'ratepolicies',
  singular: 'ratepolicy',
  shortNames: ['rpol'],
  description:
    'A RatePolicy declares rate limits for the pods a selector picks. Global limits are split into per-replica shares that follow the ' +
    "replica count and are published for the client library's token buckets.",
  spec: RatePolicySpecSchema,
  status: RatePolicyStatusSchema,
  printerColumns: [
    { name: 'Limits', type: 'string', jsonPath: '.spec.limits[*].name', description: 'Limit names.' },
    { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Replicas sharing the budget.' },
    { name: 'Version', type: 'integer', jsonPath: '.status.version', description: 'Published version.', priority: 1 },
  ],
} as const satisfies KindDefinition;
