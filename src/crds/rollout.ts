/**
 * `Rollout`: progressive rollout of a FeatureFlag variant through steps (set a weight,
 * pause, run an analysis), repeated for each wave of the Cells a selector picks, with
 * a bake time between waves.
 *
 * Apply-time validation: 1 to {@link MAX_STEPS} steps, each exactly one of setWeight
 * (0–100), pause or analysis; a pause duration is a positive string such as "30s",
 * "5m" or "1h" ("0s" is refused: omit the duration to pause until resumed); waves are
 * either by the value of one Cell label or by explicit selectors, never both; a
 * Prometheus analysis takes `interval`, `count`, `failureLimit` and
 * `consecutiveErrorLimit` as Argo Rollouts' analysis does.
 *
 * Checked in code (Ready=False, reason InvalidSpec, the field named): the flag and the
 * variant exist, the variant is not the flag's default, setWeight never goes down.
 *
 * Kept from Argo Rollouts' AnalysisTemplate metric: `interval`, `count`,
 * `failureLimit`, `consecutiveErrorLimit` (same defaults: 1m, 1, 0, 4). Not kept:
 * `successCondition`/`failureCondition` expressions (replaced by `maxValue`),
 * `initialDelay`, `inconclusiveLimit`, `dryRun`, and providers other than Prometheus.
 *
 * Limitations: one Prometheus query per analysis step; at most {@link MAX_WAVES}
 * waves. The flag's own targeting is not applied while its Rollout ramps it.
 */
import { z } from 'zod';
import { HTTP_URL, count, labelSelector, objectName, statusBaseShape, timestamp } from './common.ts';
import { phaseColumn, type KindDefinition } from './crd.ts';
import { atomic, withRules } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_STEPS = 32;
export const MAX_WAVES = 16;
export const MAX_HISTORY = 20;

const DURATION = /^[1-9][0-9]{0,5}(s|m|h)$/;
const duration = (description: string) =>
  z.string().max(8).regex(DURATION, 'must be a positive duration such as 30s, 5m or 1h').describe(description);

const PrometheusSchema = z
  .object({
    address: z.string().max(2048).regex(HTTP_URL, 'must be an http:// or https:// URL').describe('Prometheus base URL, e.g. http://prometheus.monitoring:9090.'),
    query: z.string().min(1).max(4096).describe('PromQL instant query returning exactly one number (a scalar or a one-series vector); aggregate with sum/max if needed.'),
    maxValue: z.number().describe('A measurement fails when the result exceeds this.'),
    interval: duration('Time between measurements (default 1m).').optional(),
    count: z.int().min(1).max(32).describe('Measurements to take before the step passes (default 1).').optional(),
    failureLimit: z.int().min(0).max(32).describe('Failed measurements tolerated; one more aborts the rollout (default 0).').optional(),
    consecutiveErrorLimit: z
      .int()
      .min(0)
      .max(32)
      .describe('Consecutive errors (Prometheus unreachable, no data, several series) tolerated; one more pauses the rollout as inconclusive (default 4).')
      .optional(),
  })
  .describe('A Prometheus query gate, measured count times every interval.');

const StepSchema = withRules(
  z
    .object({
      setWeight: z.int().min(0).max(100).describe('Percent of targeting keys to serve the variant in the current wave from this step on; never lower than an earlier step.').optional(),
      pause: z
        .object({
          duration: duration('How long to pause, such as "30s", "5m" or "1h". Omitted: until resumed with the manyfold.dev/resume annotation.').optional(),
        })
        .describe('Pause the rollout.')
        .optional(),
      analysis: z
        .object({
          maxUnhealthyCells: count('Fail the step when more Cells the variant reaches than this are not Ready.').optional(),
          prometheus: PrometheusSchema.optional(),
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

/** One step as declared. */
export type RolloutStep = z.output<typeof StepSchema>;

const WavesSchema = withRules(
  z
    .object({
      label: z.string().min(1).max(317).describe('Cells form waves by the value of this label (e.g. manyfold.dev/wave).').optional(),
      order: atomic(z.array(z.string().max(63)).max(MAX_WAVES), 'list')
        .describe('With label: the label values in rollout order; values not listed follow in lexical order.')
        .optional(),
      selectors: atomic(
        z
          .array(z.object({ name: z.string().min(1).max(63).describe('Wave name.'), cellSelector: labelSelector('Cells of this wave.') }).describe('One wave.'))
          .min(1)
          .max(MAX_WAVES),
        'list',
      )
        .describe('Explicit waves in order; a Cell joins the first wave whose selector matches it.')
        .optional(),
      bakeTime: duration('Time between the end of one wave and the start of the next (default: none).').optional(),
    })
    .describe(`Ordered waves of Cells (at most ${MAX_WAVES}); the steps run once per wave. Selected Cells in no wave form a last wave.`),
  {
    rule: 'has(self.label) != has(self.selectors)',
    message: 'waves are either by label or by selectors: set exactly one',
    holds: (w) => (w.label !== undefined) !== (w.selectors !== undefined),
  },
  {
    rule: '!has(self.order) || has(self.label)',
    message: 'order applies to waves by label only',
    fieldPath: '.order',
    holds: (w) => w.order === undefined || w.label !== undefined,
  },
);

/** `Rollout.spec`. */
export const RolloutSpecSchema = z
  .object({
    flagRef: z.object({ name: objectName('Name of the FeatureFlag in this namespace.') }).describe('The FeatureFlag being rolled out.'),
    variant: z.string().min(1).max(63).describe('Variant of the flag to roll out (not its defaultVariant, which is what it replaces).'),
    steps: atomic(z.array(StepSchema).min(1).max(MAX_STEPS), 'list').describe(`Steps, in order (1 to ${MAX_STEPS}); run once per wave.`),
    cellSelector: labelSelector('Cells the rollout applies to; omitted: every Cell in the namespace.').optional(),
    waves: WavesSchema.optional(),
  })
  .describe('Desired state of the Rollout.');

export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;
export type RolloutSpec = z.output<typeof RolloutSpecSchema>;

/** Phases a Rollout reports. */
export const RolloutPhases = ['Pending', 'Progressing', 'Paused', 'Completed', 'Aborted', 'Degraded'] as const;
export type RolloutPhase = (typeof RolloutPhases)[number];

const MeasurementSchema = z
  .object({
    time: timestamp('When it was taken.'),
    phase: z.enum(['Successful', 'Failed', 'Error']).describe('Outcome.'),
    value: z.number().describe('The query result.').optional(),
    message: z.string().max(1024).describe('Why it failed or errored.').optional(),
  })
  .describe('One Prometheus measurement.');

/** `Rollout.status`. */
export const RolloutStatusSchema = z
  .object({
    ...statusBaseShape(),
    phase: z.enum(RolloutPhases).describe('Where the step machine is. Paused while a kill switch holds the rollout.').optional(),
    message: z.string().max(1024).describe('Why the rollout is where it is.').optional(),
    currentStepIndex: count('Index of the current step in the current wave.').optional(),
    currentWeight: z.int().min(0).max(100).describe('Percent of targeting keys served the variant in the current wave.').optional(),
    currentWave: count('Index of the current wave.').optional(),
    waves: atomic(
      z
        .array(
          z
            .object({
              name: z.string().max(63).describe('Wave name (label value or selector name).'),
              cells: z.int().min(0).describe('Cells in the wave.'),
              weight: z.int().min(0).max(100).describe('Percent served the variant in this wave.'),
            })
            .describe('One wave.'),
        )
        .max(MAX_WAVES + 1),
      'list',
    )
      .describe('Waves in order with their weights.')
      .optional(),
    heldPhase: z
      .enum(['Pending', 'Progressing', 'Paused', 'Completed', 'Aborted'])
      .describe('The phase the step machine holds while a kill switch pauses the rollout or it is Degraded; it continues from here on release.')
      .optional(),
    pauseReason: z.enum(['Step', 'Inconclusive']).describe('Why the step machine is paused.').optional(),
    stepStartTime: timestamp('When the current pause, analysis or bake began.').optional(),
    baking: z.boolean().describe('Waiting out the bake time before the next wave.').optional(),
    lastResumeNonce: z.string().max(253).describe('Value of the last manyfold.dev/resume annotation seen; each nonce acts once.').optional(),
    measurements: atomic(z.array(MeasurementSchema).max(32), 'list').describe('Measurements of the current analysis step.').optional(),
    history: atomic(
      z
        .array(
          z
            .object({
              time: timestamp('When.'),
              wave: count('Wave index.'),
              step: count('Step index.'),
              weight: z.int().min(0).max(100).describe('Weight of the wave after it.'),
              reason: z.string().max(64).describe('What happened (WeightSet, RolloutPaused, AnalysisFailed, ...).'),
              message: z.string().max(1024).describe('Detail.'),
            })
            .describe('One step transition.'),
        )
        .max(MAX_HISTORY),
      'list',
    )
      .describe(`Last ${MAX_HISTORY} step transitions, oldest first.`)
      .optional(),
  })
  .describe('Observed state of the Rollout, written by the operator.');

export type RolloutStatus = z.output<typeof RolloutStatusSchema>;

/** Validates a Rollout spec at the controller boundary. */
export function parseRolloutSpec(spec: unknown): ParseResult<RolloutSpec> {
  return parseWith(RolloutSpecSchema, spec);
}

/** Rollout has no code-side defaults in spec; returns the spec parsed (throws a ZodError on a spec that breaks a rule). */
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
    'A Rollout moves a FeatureFlag variant through weighted steps with pauses and analysis gates, wave by wave over Cells. manyfold.dev/resume: <nonce> ' +
    'resumes a pause; manyfold.dev/kill-switch forces the safe variant everywhere at once.',
  spec: RolloutSpecSchema,
  status: RolloutStatusSchema,
  printerColumns: [
    { name: 'Flag', type: 'string', jsonPath: '.spec.flagRef.name', description: 'FeatureFlag rolled out.' },
    { name: 'Variant', type: 'string', jsonPath: '.spec.variant', description: 'Variant rolled out.' },
    phaseColumn,
    { name: 'Wave', type: 'integer', jsonPath: '.status.currentWave', description: 'Current wave index.' },
    { name: 'Step', type: 'integer', jsonPath: '.status.currentStepIndex', description: 'Current step index in the wave.' },
    { name: 'Weight', type: 'integer', jsonPath: '.status.currentWeight', description: 'Weight of the current wave (percent).' },
    { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'Why the rollout is where it is.', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age.' },
  ],
} as const satisfies KindDefinition;
