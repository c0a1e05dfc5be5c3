/**
 * `ShardMap` (skeleton): a keyspace split into `shards` shards with `replicas`
 * replicas each, placed over the member Cells a label selector picks, under a
 * placement policy (bounded load factor, spread) and a migration policy (moves in
 * flight). The ShardMap issue fills in the rest; the fields of the API contract and
 * light validation are here.
 *
 * Apply-time validation: counts are bounded integers; quorum ≤ replicas;
 * failureTolerance < replicas; with failureTolerance f, a majority quorum needs
 * replicas ≥ 2f + 1 (crash faults) and an explicit quorum needs replicas − f ≥ quorum;
 * maxInFlight is an integer ≥ 1 or a percentage. What the schema cannot see (too few
 * member Cells or zones) is `Ready=False` from the controller.
 *
 * Status: `epoch` is the operator's leader-fencing epoch, as on every kind; the
 * routing table's own version is `routingVersion` (the API contract calls it the
 * routing table's epoch; the two cannot share one field).
 *
 * Limitations: status lists at most {@link MAX_MEMBERS} members and
 * {@link MAX_MIGRATIONS} migrations in flight.
 */
import { z } from 'zod';
import { count, intOrString, labelSelector, objectName, statusBaseShape, timestamp } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { listMap, withRules } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_SHARDS = 65_536;
export const MAX_REPLICAS = 15;
export const MAX_MEMBERS = 1024;
export const MAX_MIGRATIONS = 1024;
/** Largest `handoffTimeoutSeconds`. */
export const MAX_HANDOFF_TIMEOUT_SECONDS = 86_400;

/** Code-side defaults of a ShardMap spec. */
export const ShardMapDefaults = {
  placement: { maxLoadFactor: 1.25, spreadBy: 'zone' },
  migration: { maxInFlight: 1, handoff: 'None', handoffTimeoutSeconds: 300 },
} as const;

/** `ShardMap.spec`. */
export const ShardMapSpecSchema = withRules(
  z
    .object({
      shards: z.int().min(1).max(MAX_SHARDS).describe("Number of shards the keyspace is split into. Fixed once a routing table is published: a key's shard depends on it, so a change is refused (Ready=False, InvalidSpec) until it is set back; reshard by creating a new ShardMap."),
      replicas: z.int().min(1).max(MAX_REPLICAS).describe('Replicas of each shard, each on a different Cell.'),
      failureTolerance: z.int().min(0).max(MAX_REPLICAS).describe('Failed Cells (or zones, with spreadBy zone) the placement must survive; less than replicas.').optional(),
      quorum: z.int().min(1).max(MAX_REPLICAS).describe('Replicas that must acknowledge a write; at most replicas. Omitted: a majority of replicas.').optional(),
      cellSelector: labelSelector('Selects the member Cells in this namespace; empty selects all of them.').optional(),
      placement: z
        .object({
          maxLoadFactor: z
            .number()
            .min(1)
            .max(10)
            .default(ShardMapDefaults.placement.maxLoadFactor)
            .describe('Bounded-load factor: no Cell holds more than this times its capacity-weighted share of replicas.'),
          spreadBy: z.enum(['zone', 'cell']).default(ShardMapDefaults.placement.spreadBy).describe('Failure domain the replicas of one shard are spread across.'),
        })
        .prefault({})
        .describe('Placement policy.'),
      migration: z
        .object({
          maxInFlight: intOrString({
            description: 'Shard moves in flight at once: a count, or a percentage of shards such as "10%". Defaults to 1 (applied by the operator).',
            minimum: 1,
            pattern: /^([1-9][0-9]?|100)%$/,
            patternMessage: 'must be a percentage from 1% to 100%',
          }).optional(),
          handoff: z
            .enum(['None', 'Acknowledged'])
            .describe(
              'None (default): a move completes once the routing table naming the new replica is published (stateless shards). ' +
                'Acknowledged: the receiving shard host must acknowledge, through the client library, that it holds the data.',
            )
            .optional(),
          handoffTimeoutSeconds: z
            .int()
            .min(1)
            .max(MAX_HANDOFF_TIMEOUT_SECONDS)
            .describe('With handoff Acknowledged: a move without an acknowledgement for this long fails and is retried with backoff. Defaults to 300.')
            .optional(),
        })
        .prefault({})
        .describe('Migration policy: each move is a fenced hand-off checkpointed in status.'),
    })
    .describe('Desired state of the ShardMap.'),
  {
    rule: '!has(self.quorum) || self.quorum <= self.replicas',
    message: 'quorum must not exceed replicas',
    fieldPath: '.quorum',
    holds: (s) => s.quorum === undefined || s.quorum <= s.replicas,
  },
  {
    rule: '!has(self.failureTolerance) || self.failureTolerance < self.replicas',
    message: 'failureTolerance must be less than replicas',
    fieldPath: '.failureTolerance',
    holds: (s) => s.failureTolerance === undefined || s.failureTolerance < s.replicas,
  },
  {
    // Crash faults: a majority quorum survives f failures only with n >= 2f+1.
    rule: '!has(self.failureTolerance) || has(self.quorum) || self.replicas >= 2 * self.failureTolerance + 1',
    message: 'replicas must be at least 2 × failureTolerance + 1 for a majority quorum to survive failureTolerance failures (or set quorum)',
    fieldPath: '.replicas',
    holds: (s) => s.failureTolerance === undefined || s.quorum !== undefined || s.replicas >= 2 * s.failureTolerance + 1,
  },
  {
    rule: '!has(self.failureTolerance) || !has(self.quorum) || self.replicas - self.failureTolerance >= self.quorum',
    message: 'replicas − failureTolerance must be at least quorum, or a quorum cannot survive failureTolerance failures',
    fieldPath: '.quorum',
    holds: (s) => s.failureTolerance === undefined || s.quorum === undefined || s.replicas - s.failureTolerance >= s.quorum,
  },
);

/** The quorum of a spec: `quorum`, or a majority of `replicas`. */
export function quorumOf(spec: Pick<ShardMapSpec, 'quorum' | 'replicas'>): number {
  return spec.quorum ?? Math.floor(spec.replicas / 2) + 1;
}

export type ShardMapSpecInput = z.input<typeof ShardMapSpecSchema>;
export type ShardMapSpec = z.output<typeof ShardMapSpecSchema>;

const MemberSchema = z
  .object({
    cell: objectName('Name of the member Cell.'),
    zone: z.string().max(63).describe('Zone of the Cell.').optional(),
    replicas: count('Shard replicas placed on the Cell.').optional(),
    loadRatio: z.number().min(0).describe("Replicas held divided by the Cell's fair share.").optional(),
  })
  .describe('A member Cell and its load.');

const MigrationSchema = z
  .object({
    shard: z.int().min(0).describe('Shard being moved.'),
    from: z.string().max(253).describe('Cell giving up the replica (absent when a missing replica is added).').optional(),
    to: z.string().max(253).describe('Cell receiving the replica.'),
    phase: z.enum(['Pending', 'Copying', 'Fencing', 'Switching', 'Done', 'Failed']).describe('Progress of the fenced hand-off.'),
    epoch: count('Epoch of the shard once the move is fenced (its fencing token; acknowledgements name it).').optional(),
    version: count('Routing version that carries this phase (the phase ends once it is published).').optional(),
    attempts: count('Attempts started.').optional(),
    startTime: timestamp('When the move started.').optional(),
    phaseTime: timestamp('When the current phase began.').optional(),
    retryTime: timestamp('A failed move is retried after this time.').optional(),
    message: z.string().max(1024).describe('Why the last attempt failed.').optional(),
  })
  .describe('One shard move in flight, checkpointed so a restarted operator resumes it.');

export type ShardMapMigration = z.output<typeof MigrationSchema>;

/** `ShardMap.status`. */
export const ShardMapStatusSchema = z
  .object({
    ...statusBaseShape(),
    routingConfigMap: z.string().max(253).describe('ConfigMap holding the published routing table.').optional(),
    routingVersion: count('Version of the published routing table; increases with every change.').optional(),
    routingChecksum: z.string().max(128).describe('SHA-256 of the published routing table (a hand-edited ConfigMap is detected and restored from the copy <name>-routing-last-good).').optional(),
    members: listMap(z.array(MemberSchema).max(MAX_MEMBERS), ['cell']).describe('Member Cells and their load.').optional(),
    balance: z
      .object({ maxLoadRatio: z.number().min(0).describe('Highest member loadRatio.').optional() })
      .describe('How even the placement is.')
      .optional(),
    migrations: z.array(MigrationSchema).max(MAX_MIGRATIONS).describe('Shard moves in flight.').optional(),
    lastRebalance: z
      .object({
        moves: count('Replica moves the last rebalance planned.').optional(),
        done: count('Of those, moves completed so far.').optional(),
        lowerBound: count('Fewest moves any placement satisfying the policy needs.').optional(),
        time: timestamp('When it was planned.').optional(),
        inputs: z.string().max(128).describe('Fingerprint of the members and spec the plan was made for (a new one means a new plan).').optional(),
      })
      .describe('The last rebalance plan.')
      .optional(),
  })
  .describe('Observed state of the ShardMap, written by the operator.');

export type ShardMapStatus = z.output<typeof ShardMapStatusSchema>;

/** Validates a ShardMap spec at the controller boundary and applies code-side defaults. */
export function parseShardMapSpec(spec: unknown): ParseResult<ShardMapSpec> {
  return parseWith(ShardMapSpecSchema, spec);
}

/** Applies code-side defaults ({@link ShardMapDefaults}); throws a ZodError on a spec that breaks a rule. */
export function withShardMapDefaults(spec: ShardMapSpecInput): ShardMapSpec {
  return ShardMapSpecSchema.parse(spec);
}

/** The ShardMap kind. */
export const ShardMapKind = {
  kind: 'ShardMap',
  plural: 'shardmaps',
  singular: 'shardmap',
  shortNames: ['smap'],
  description:
    'A ShardMap splits a keyspace into shards with replicas placed over member Cells, moves replicas with fenced hand-offs when members change, ' +
    'and publishes the routing table in a ConfigMap with a version.',
  spec: ShardMapSpecSchema,
  status: ShardMapStatusSchema,
  printerColumns: [
    { name: 'Shards', type: 'integer', jsonPath: '.spec.shards', description: 'Shards.' },
    { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Replicas per shard.' },
    { name: 'Members', type: 'string', jsonPath: '.status.members[*].cell', description: 'Member Cells.', priority: 1 },
    { name: 'Max-Load', type: 'number', jsonPath: '.status.balance.maxLoadRatio', description: 'Highest member load ratio.' },
    { name: 'Moving', type: 'integer', jsonPath: '.status.lastRebalance.moves', description: 'Moves of the last rebalance.', priority: 1 },
  ],
} as const satisfies KindDefinition;
