/**
 * Pieces every Manyfold kind shares: the API group and version, name patterns, the
 * condition and status-base schemas, label selectors, tolerations and int-or-string
 * fields. Kind files compose these; nothing here is kind-specific.
 *
 * Patterns are written for both JavaScript (zod) and Go RE2 (the API server): no
 * lookaround, no backreferences.
 */
import { z } from 'zod';
import { atomic, celString, listMap, withRules } from './extensions.ts';

/** API group of every Manyfold kind. */
export const GROUP = 'manyfold.dev';
/** The one served and stored version. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of Manyfold objects. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The `kubectl get <category>` name that lists all Manyfold kinds. */
export const CATEGORY = 'manyfold';

/** RFC 1123 label: lower-case alphanumerics and '-', at most 63 characters. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: DNS labels joined by '.', at most 253 characters. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A decimal non-negative integer that may exceed 2^53 (etcd revisions, epochs). */
export const DECIMAL_UINT = /^(0|[1-9][0-9]{0,18})$/;
/** An http(s) URL with a host; RE2-compatible. */
export const HTTP_URL = /^https?:\/\/[^\s/?#]+([/?#][^\s]*)?$/;
/** An absolute path on the node. */
export const ABSOLUTE_PATH = /^\/[^\x00]*$/;

/** A Kubernetes object name (RFC 1123 subdomain). */
export const objectName = (description: string) =>
  z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lower-case RFC 1123 subdomain').describe(description);

/** An RFC 3339 timestamp as the API server stores `metav1.Time`. */
export const timestamp = (description: string) => z.iso.datetime({ offset: true }).describe(description);

/** A non-negative integer (int64 range in JSON, but safe in JS). */
export const count = (description: string) => z.int().min(0).describe(description);

/**
 * The operator's leader-fencing epoch, as a decimal string (it may be an etcd revision,
 * which can exceed 2^53). Every status write carries it so the admission policy can
 * reject writes from a deposed leader; compare with `int(...)` in CEL.
 */
export const epochField = () =>
  z
    .string()
    .max(20)
    .regex(DECIMAL_UINT, 'must be a decimal integer')
    .describe(
      'Leader-fencing epoch of the operator replica that wrote this status (decimal; may exceed 2^53). ' +
        'An admission policy rejects status writes carrying an epoch older than the current leader\'s.',
    );

const CONDITION_TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** One Kubernetes condition (the shape of `metav1.Condition`). */
export const ConditionSchema = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE).describe('Condition type in CamelCase: Ready, Progressing, Degraded, or a kind-specific one.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Whether the condition holds: True, False or Unknown.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(CONDITION_REASON)
      .describe('Machine-readable CamelCase reason for the last transition, e.g. InvalidSpec.'),
    message: z.string().max(32768).describe('Human-readable detail; names the offending field when the spec is invalid.'),
    lastTransitionTime: timestamp('When the status last changed.'),
    observedGeneration: count('metadata.generation this condition was computed from.').optional(),
  })
  .describe('A condition of the resource.');

/** A condition as stored in status. */
export type Condition = z.output<typeof ConditionSchema>;

/** Upper bound on conditions per object. */
export const MAX_CONDITIONS = 16;

/** `conditions`: a list keyed by `type`. */
export const conditionsField = () =>
  listMap(z.array(ConditionSchema).max(MAX_CONDITIONS), ['type']).describe(
    'Current conditions. Every kind reports Ready; Progressing and Degraded where they apply. ' +
      'Ready=False with reason InvalidSpec names the offending field in its message.',
  );

/**
 * The status fields every kind has: `observedGeneration`, `conditions` and `epoch`.
 * Spread into each kind's status object.
 */
export const statusBaseShape = () => ({
  observedGeneration: count('metadata.generation the operator last acted on.').optional(),
  conditions: conditionsField().optional(),
  epoch: epochField().optional(),
});

/** A label selector requirement (`metav1.LabelSelectorRequirement`). */
const LabelSelectorRequirementSchema = z
  .object({
    key: z.string().min(1).max(317).describe('The label key the selector applies to.'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values.'),
    values: atomic(z.array(z.string().max(63)).max(64), 'list')
      .describe('Values for In and NotIn (non-empty); empty for Exists and DoesNotExist.')
      .optional(),
  })
  .describe('A label requirement.');

/** A Kubernetes label selector (`metav1.LabelSelector`); empty matches everything. */
export const labelSelector = (description: string) =>
  atomic(
    z.object({
      matchLabels: z.record(z.string(), z.string().max(63)).describe('Labels that must all match exactly.').optional(),
      matchExpressions: atomic(z.array(LabelSelectorRequirementSchema).max(32), 'list')
        .describe('Requirements that must all hold.')
        .optional(),
    }),
    'map',
  ).describe(description);

/** A Kubernetes toleration (`core/v1.Toleration`). */
export const TolerationSchema = z
  .object({
    key: z.string().max(317).describe('Taint key the toleration matches; empty with operator Exists matches all taints.').optional(),
    operator: z.enum(['Exists', 'Equal']).describe('Exists or Equal (default Equal).').optional(),
    value: z.string().max(63).describe('Taint value to match with operator Equal.').optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).describe('Taint effect to match; empty matches all.').optional(),
    tolerationSeconds: z.int().describe('For NoExecute: seconds the pod stays bound after the taint appears.').optional(),
  })
  .describe('A toleration for a node taint.');

/**
 * An integer or a string matching `pattern` (`x-kubernetes-int-or-string`), e.g.
 * `maxInFlight: 2` or `"25%"`. The string form is checked by CEL at apply time.
 */
export const intOrString = (options: { description: string; minimum: number; pattern: RegExp; patternMessage: string }) =>
  withRules(z.union([z.int().min(options.minimum), z.string().max(32).regex(options.pattern, options.patternMessage)]), {
    rule: `type(self) == int ? self >= ${options.minimum} : self.matches(${celString(options.pattern.source)})`,
    message: `must be an integer ≥ ${options.minimum} or ${options.patternMessage.replace(/^must be /, '')}`,
    holds: (value) => (typeof value === 'number' ? value >= options.minimum : options.pattern.test(value)),
  }).describe(options.description);
