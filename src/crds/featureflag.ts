/**
 * `FeatureFlag` (skeleton): variants, a default and a safe variant, a state and
 * optional targeting rules, in the shape of flagd's flag definition so the operator
 * can publish it for standard flag SDKs. The FeatureFlag issue fills in the rest.
 *
 * Apply-time validation: 1 to {@link MAX_VARIANTS} variants with well-formed names.
 *
 * Limitations: variant values and targeting are free-form JSON kept verbatim. CEL
 * cannot see a map of untyped values, so "defaultVariant and safeVariant name one of
 * the variants" is checked in code only: the API server admits such a spec and the
 * controller reports Ready=False / InvalidSpec naming the field. The operator checks
 * targeting (JSONLogic) when it publishes.
 */
import { z } from 'zod';
import { count, statusBaseShape } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { atomic, preserveUnknownFields, propertyCount, withCodeChecks } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

export const MAX_VARIANTS = 64;

/** Code-side defaults of a FeatureFlag spec. */
export const FeatureFlagDefaults = { state: 'ENABLED' } as const;

const variantName = (description: string) =>
  z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be alphanumerics, "-", "_" or "."')
    .describe(description);

/** `FeatureFlag.spec`. */
export const FeatureFlagSpecSchema = withCodeChecks(
  z
    .object({
      variants: propertyCount(
        z.record(z.string().max(63), preserveUnknownFields(z.unknown()).describe('The value served for this variant (any JSON).')),
        { min: 1, max: MAX_VARIANTS },
      ).describe(`Variant name to value (boolean, string, number or object), as in a flagd flag; 1 to ${MAX_VARIANTS} variants.`),
      defaultVariant: variantName('Variant served when no targeting rule matches; must be one of variants.'),
      safeVariant: variantName('Variant forced everywhere when a kill switch is engaged or a rollout aborts; must be one of variants.'),
      state: z.enum(['ENABLED', 'DISABLED']).default(FeatureFlagDefaults.state).describe('DISABLED serves the default variant to everyone.'),
      targeting: preserveUnknownFields(z.looseObject({}))
        .describe('flagd targeting rule (JSONLogic) choosing a variant per evaluation context.')
        .optional(),
    })
    .describe('Desired state of the FeatureFlag.'),
  {
    message: 'defaultVariant must name one of the variants',
    fieldPath: '.defaultVariant',
    holds: (s) => Object.hasOwn(s.variants, s.defaultVariant),
  },
  {
    message: 'safeVariant must name one of the variants',
    fieldPath: '.safeVariant',
    holds: (s) => Object.hasOwn(s.variants, s.safeVariant),
  },
);

export type FeatureFlagSpecInput = z.input<typeof FeatureFlagSpecSchema>;
export type FeatureFlagSpec = z.output<typeof FeatureFlagSpecSchema>;

/** `FeatureFlag.status`. */
export const FeatureFlagStatusSchema = z
  .object({
    ...statusBaseShape(),
    distribution: atomic(z.record(z.string().max(63), z.int().min(0).max(100).describe('Percent of evaluations served this variant.')), 'map')
      .describe('Share of targeting keys per variant implied by the published definition (percent); empty when it depends on the evaluation context (targeting) or the flag is DISABLED (the code default is served).')
      .optional(),
    configMap: z.string().max(253).describe('ConfigMap holding the published flagd definition.').optional(),
    version: count('Version of the published definition; increases with every change.').optional(),
  })
  .describe('Observed state of the FeatureFlag, written by the operator.');

export type FeatureFlagStatus = z.output<typeof FeatureFlagStatusSchema>;

/** Validates a FeatureFlag spec at the controller boundary and applies code-side defaults. */
export function parseFeatureFlagSpec(spec: unknown): ParseResult<FeatureFlagSpec> {
  return parseWith(FeatureFlagSpecSchema, spec);
}

/** Applies code-side defaults ({@link FeatureFlagDefaults}); throws a ZodError on a spec that breaks a rule. */
export function withFeatureFlagDefaults(spec: FeatureFlagSpecInput): FeatureFlagSpec {
  return FeatureFlagSpecSchema.parse(spec);
}

/** The FeatureFlag kind. */
export const FeatureFlagKind = {
  kind: 'FeatureFlag',
  plural: 'featureflags',
  singular: 'featureflag',
  shortNames: ['flag'],
  description:
    "A FeatureFlag declares variants, a default and a safe variant and optional targeting; the operator publishes it in flagd's flag format " +
    'for standard flag SDKs. The manyfold.dev/kill-switch annotation serves the safe variant everywhere.',
  spec: FeatureFlagSpecSchema,
  status: FeatureFlagStatusSchema,
  printerColumns: [
    { name: 'State', type: 'string', jsonPath: '.spec.state', description: 'ENABLED or DISABLED (empty means ENABLED).' },
    { name: 'Default', type: 'string', jsonPath: '.spec.defaultVariant', description: 'Default variant.' },
    { name: 'Safe', type: 'string', jsonPath: '.spec.safeVariant', description: 'Safe variant.', priority: 1 },
    { name: 'Version', type: 'integer', jsonPath: '.status.version', description: 'Published version.' },
  ],
} as const satisfies KindDefinition;
