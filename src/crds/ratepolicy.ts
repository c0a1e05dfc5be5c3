/**
 * `RatePolicy`: rate limits (rate, burst, key) for the pods a selector picks, global or
 * per replica. The operator splits each Global limit into per-pod shares (evenly, or
 * max-min fair by reported demand) that follow the Ready replicas, moves them without
 * overshooting the limit (reconcilers/ratepolicy-protocol.ts), and publishes them in a
 * ConfigMap that the client library (`createRateLimiter`) enforces in-process.
 *
 * Apply-time validation: 1 to {@link MAX_LIMITS} limits with unique DNS-label names;
 * requestsPerSecond in (0, 1e9]; burst in [1, 1e9]; shareMode Demand and floorPercent
 * only on Global limits (floorPercent only with Demand); fallbackRequestsPerSecond at
 * most requestsPerSecond; leaseSeconds 3–300, refreshIntervalMilliseconds 100–60,000
 * and below a third of the lease, maxClockSkewMilliseconds 0–10,000.
 */
import { z } from 'zod';
import { DNS_LABEL, count, labelSelector, statusBaseShape } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { listMap, withRules } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_LIMITS = 32;
/** Largest rate (requests/s) and burst (requests) a limit may declare. */
export const MAX_RATE = 1e9;

/** Code-side defaults of a RatePolicy (never written into the spec). */
export const RatePolicyDefaults = {
  scope: 'Global',
  shareMode: 'Even',
  floorPercent: 10,
  fallbackRequestsPerSecond: 0,
  leaseSeconds: 15,
  refreshIntervalMilliseconds: 1000,
  maxClockSkewMilliseconds: 500,
} as const;

const limitName = () => z.string().min(1).max(63).regex(DNS_LABEL, 'must be a DNS label').describe('Name of the limit, unique in the policy.');

const LimitSchema = withRules(
  z
    .object({
      name: limitName(),
      key: z.string().min(1).max(253).describe('What requests are counted by, e.g. a header or the client identity, as the client library names it.'),
      requestsPerSecond: z.number().positive().max(MAX_RATE).describe('Sustained rate, in requests per second (> 0, at most 1e9).'),
      burst: z.int().min(1).max(MAX_RATE).describe('Requests allowed at once above the sustained rate (1 to 1e9). Omitted: one second of requestsPerSecond.').optional(),
      scope: z
        .enum(['Global', 'PerReplica'])
        .default(RatePolicyDefaults.scope)
        .describe('Global: the rate is shared by all selected replicas (split into shares); PerReplica: each replica gets the full rate.'),
      shareMode: z
        .enum(['Even', 'Demand'])
        .default(RatePolicyDefaults.shareMode)
        .describe('How a Global limit is split: Even (rate and burst divided by the Ready replicas) or Demand (max-min fair shares of the demand each replica reports, with a floor). Default Even.'),
      floorPercent: z
        .number()
        .min(0)
        .max(100)
        .describe(`Demand mode: every Ready replica keeps at least this percentage of the even share. Default ${RatePolicyDefaults.floorPercent}.`)
        .optional(),
      fallbackRequestsPerSecond: z
        .number()
        .min(0)
        .max(MAX_RATE)
        .describe(
          'Per-replica rate a client enforces while it holds no share: before its first grant, and when its share lapsed because it heard nothing from the operator. ' +
            'Default 0 (no overshoot even if the deployment grew meanwhile); a value above 0 may exceed the limit by that much per replica without a share.',
        )
        .optional(),
    })
    .describe('One limit.'),
  {
    rule: "!(has(self.shareMode) && self.shareMode == 'Demand' && has(self.scope) && self.scope == 'PerReplica')",
    message: 'shareMode Demand applies to Global limits only',
    fieldPath: '.shareMode',
    holds: (l) => l.scope === 'Global' || l.shareMode === 'Even',
  },
  {
    rule: "!has(self.floorPercent) || (has(self.shareMode) && self.shareMode == 'Demand')",
    message: 'floorPercent applies to shareMode Demand only',
    fieldPath: '.floorPercent',
    holds: (l) => l.floorPercent === undefined || l.shareMode === 'Demand',
  },
  {
    rule: '!has(self.fallbackRequestsPerSecond) || self.fallbackRequestsPerSecond <= self.requestsPerSecond',
    message: 'fallbackRequestsPerSecond must not exceed requestsPerSecond',
    fieldPath: '.fallbackRequestsPerSecond',
    holds: (l) => l.fallbackRequestsPerSecond === undefined || l.fallbackRequestsPerSecond <= l.requestsPerSecond,
  },
);

/** `RatePolicy.spec`. */
export const RatePolicySpecSchema = withRules(
  z
    .object({
      selector: labelSelector('Selects the pods that enforce the policy (in its namespace); their Ready count splits Global limits.'),
      limits: listMap(z.array(LimitSchema).min(1).max(MAX_LIMITS), ['name']).describe(`Limits (1 to ${MAX_LIMITS}, unique names).`),
      leaseSeconds: z
        .int()
        .min(3)
        .max(300)
        .describe(
          'How long published shares stay valid on a replica that hears nothing newer (the operator re-publishes every third of it); ' +
            `also the acknowledgement window: a replica that does not acknowledge a lower share is presumed to enforce it until then. Default ${RatePolicyDefaults.leaseSeconds}.`,
        )
        .optional(),
      refreshIntervalMilliseconds: z
        .int()
        .min(100)
        .max(60_000)
        .describe(`Each client writes its acknowledgement and demand report at most once per this interval. Default ${RatePolicyDefaults.refreshIntervalMilliseconds}.`)
        .optional(),
      maxClockSkewMilliseconds: z
        .int()
        .min(0)
        .max(10_000)
        .describe(`Largest difference between the operator's clock and a client's that the no-overshoot guarantee tolerates. Default ${RatePolicyDefaults.maxClockSkewMilliseconds}.`)
        .optional(),
    })
    .describe('Desired state of the RatePolicy.'),
  {
    rule: '(has(self.refreshIntervalMilliseconds) ? self.refreshIntervalMilliseconds : 1000) * 3 < (has(self.leaseSeconds) ? self.leaseSeconds : 15) * 1000',
    message: 'refreshIntervalMilliseconds must be below a third of leaseSeconds',
    fieldPath: '.refreshIntervalMilliseconds',
    holds: (s) => (s.refreshIntervalMilliseconds ?? RatePolicyDefaults.refreshIntervalMilliseconds) * 3 < (s.leaseSeconds ?? RatePolicyDefaults.leaseSeconds) * 1000,
  },
);

export type RatePolicySpecInput = z.input<typeof RatePolicySpecSchema>;
export type RatePolicySpec = z.output<typeof RatePolicySpecSchema>;

const ShareSchema = z
  .object({
    name: limitName(),
    scope: z.enum(['Global', 'PerReplica']).describe('The limit\'s scope.'),
    shareMode: z.enum(['Even', 'Demand']).describe('How the limit is split.'),
    requestsPerSecond: z.number().min(0).describe("A replica's share of the rate: the whole rate for PerReplica; the even share (rate / Ready replicas) for Global."),
    burst: z.number().min(0).describe("A replica's share of the burst, likewise."),
    minRequestsPerSecond: z.number().min(0).describe('Smallest share granted to a Ready replica in the published version (Global).').optional(),
    maxRequestsPerSecond: z.number().min(0).describe('Largest share granted to a Ready replica in the published version (Global).').optional(),
    clampedDemands: count('Demand reports that were negative, not numbers, or above the limit, and were clamped.').optional(),
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
    converged: z.boolean().describe('True when every Ready replica holds its target share (no transition waits for acknowledgements).').optional(),
    waitingFor: z.array(z.string().max(253)).max(16).describe('Replicas a transition waits for (acknowledgement or lapse), at most 16.').optional(),
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
    { name: 'Converging', type: 'string', jsonPath: '.status.conditions[?(@.type=="Converging")].status', description: 'A transition waits for acknowledgements.', priority: 1 },
  ],
} as const satisfies KindDefinition;
