/**
 * `Rollout` (skeleton): progressive rollout of a FeatureFlag variant through steps
 * (set a weight, pause, run an analysis) over the Cells a selector picks. The
 * Rollout issue fills in the rest (waves, analysis details).
 *
 * Apply-time validation: 1 to {@link MAX_STEPS} steps, each exactly one of setWeight
 * (0–100), pause or analysis; a pause duration is a string such as "30s", "5m" or
 * "1h" (not an int-or-string: a CEL regex over an int-or-string in a list of steps
 * exceeds the API server's cost budget, since such strings are unbounded to it).
 *
 * Limitations: analysis is limited to Cell health and one Prometheus query per step.
 */
import { z } from 'zod';
import { HTTP_URL, count, labelSelector, objectName, statusBaseShape, timestamp } from './common.ts';
import { phaseColumn, type KindDefinition } from './crd.ts';
import { atomic, withRules } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_STEPS = 32;

const StepSchema = withRules(
  z
    .object({
      setWeight: z.int().min(0).max(100).describe('Percent of evaluations to serve the variant from this step on.').optional(),
      pause: z
        .object({
          duration: z
            .string()
            .max(8)
            .regex(/^[0-9]{1,6}(s|m|h)$/, 'must be a duration such as 30s, 5m or 1h')
            .describe('How long to pause, such as "30s", "5m" or "1h". Omitted: until resumed with the manyfold.dev/resume annotation.')
            .optional(),
        })
        .describe('Pause the rollout.')
        .optional(),
      analysis: z
        .object({
          maxUnhealthyCells: count('Fail the step when more selected Cells than this are not Ready.').optional(),
          prometheus: z
            .object({
              address: z.string().max(2048).regex(HTTP_URL, 'must be an http:// or https:// URL').describe('Prometheus base URL.'),
              query: z.string().min(1).max(4096).describe('PromQL query returning one number.'),
              maxValue: z.number().describe('Fail the step when the query result exceeds this.'),
            })
            .describe('A Prometheus query gate.')
            .optional(),
        })
        .describe('Gate the rollout on Cell health and, where configured, a Prometheus query.')
        .optional(),
    })
    .describe('One step: exactly one of setWeight, pause or analysis.'),
  {
    rule: '[has(self.setWeight), has(self.pause), has(self.analysis)].filter(x, x).size() == 1',
    message: 'a step sets exactly one of setWeight, pause or analysis',
    holds: (s) => [s.setWeight, s.pause, s.analysis].filter((x) => x !== undefined).length === 1,
  },
);

/** `Rollout.spec`. */
export const RolloutSpecSchema = z
  .object({
    flagRef: z.object({ name: objectName('Name of the FeatureFlag in this namespace.') }).describe('The FeatureFlag being rolled out.'),
    variant: z.string().min(1).max(63).describe('Variant of the flag to roll out.'),
    steps: atomic(z.array(StepSchema).min(1).max(MAX_STEPS), 'list').describe(`Steps, in order (1 to ${MAX_STEPS}).`),
    cellSelector: labelSelector('Cells the rollout applies to; omitted: every Cell in the namespace.').optional(),
  })
  .describe('Desired state of the Rollout.');

export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;
export type RolloutSpec = z.output<typeof RolloutSpecSchema>;

/** Phases a Rollout reports. */
export const RolloutPhases = ['Pending', 'Progressing', 'Paused', 'Completed', 'Aborted', 'Degraded'] as const;

/** `Rollout.status`. */
export const RolloutStatusSchema = z
  .object({
    ...statusBaseShape(),
    phase: z.enum(RolloutPhases).describe('Where the step machine is.').optional(),
    currentStepIndex: count('Index of the current step.').optional(),
    currentWeight: z.int().min(0).max(100).describe('Percent of evaluations served the variant now.').optional(),
    pauseStartTime: timestamp('When the current pause began.').optional(),
    lastResumeNonce: z.string().max(253).describe('Value of the last manyfold.dev/resume annotation acted on.').optional(),
  })
  .describe('Observed state of the Rollout, written by the operator.');

export type RolloutStatus = z.output<typeof RolloutStatusSchema>;

/** Validates a Rollout spec at the controller boundary. */
export function parseRolloutSpec(spec: unknown): ParseResult<RolloutSpec> {
  return parseWith(RolloutSpecSchema, spec);
}

/** Rollout has no code-side defaults yet; returns the spec parsed (throws a ZodError on a spec that breaks a rule). */
export function withRolloutDefaults(spec: RolloutSpecInput): RolloutSpec {
  return RolloutSpecSchema.parse(spec);
}

/** The Rollout kind. */
export const RolloutKind = {
  kind: 'Rollout',
  plural: 'rollouts',
  singular: 'rollout',
  shortNames: ['mro'],
  description:
    'A Rollout moves a FeatureFlag variant through weighted steps with pauses and analysis gates over Cells. manyfold.dev/resume: <nonce> ' +
    'resumes a pause; manyfold.dev/kill-switch forces the safe variant everywhere at once.',
  spec: RolloutSpecSchema,
  status: RolloutStatusSchema,
  printerColumns: [
    { name: 'Flag', type: 'string', jsonPath: '.spec.flagRef.name', description: 'FeatureFlag rolled out.' },
    { name: 'Variant', type: 'string', jsonPath: '.spec.variant', description: 'Variant rolled out.' },
    phaseColumn,
    { name: 'Step', type: 'integer', jsonPath: '.status.currentStepIndex', description: 'Current step index.' },
    { name: 'Weight', type: 'integer', jsonPath: '.status.currentWeight', description: 'Current weight (percent).' },
  ],
} as const satisfies KindDefinition;
