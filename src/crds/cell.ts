/**
 * `Cell`: an isolated deployment unit (zone, capacity weight, state) with a template
 * of namespaced resources the operator stamps into it.
 *
 * Apply-time validation (schema and CEL): zone is a DNS label; capacity is an integer
 * ≥ 0; state is Active, Cordoned or Draining; each template resource has apiVersion,
 * kind and metadata.name, a kind from {@link CELL_TEMPLATE_KINDS} with its matching
 * apiVersion, no metadata.namespace or generateName, and (kind, name) is unique.
 *
 * Limitations: at most {@link MAX_TEMPLATE_RESOURCES} template resources. The
 * uniqueness rule compares every pair (O(n²)); the bound keeps the API server's CEL
 * cost estimate far below its per-rule limit. What lies beyond metadata in a template
 * resource (a Deployment's spec, say) is kept verbatim and checked by the API server
 * only when the operator applies it.
 */
import { z } from 'zod';
import { DNS_LABEL, count, objectName, statusBaseShape } from './common.ts';
import { phaseColumn, type KindDefinition } from './crd.ts';
import { celStringList, embeddedResource, listMap, withRules } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

/** Namespaced kinds a Cell template may hold, with the apiVersion each must use. */
export const CELL_TEMPLATE_KINDS: Readonly<Record<string, string>> = {
  ConfigMap: 'v1',
  Deployment: 'apps/v1',
  PodDisruptionBudget: 'policy/v1',
  Service: 'v1',
  ServiceAccount: 'v1',
  StatefulSet: 'apps/v1',
};

/** Most resources one Cell template may hold (bounds the CEL uniqueness check). */
export const MAX_TEMPLATE_RESOURCES = 64;

/** Code-side defaults of a Cell spec (never written into the stored spec). */
export const CellDefaults = { capacity: 100, state: 'Active' } as const;

const allowedKinds = Object.keys(CELL_TEMPLATE_KINDS).sort();
const kindVersions = allowedKinds.map((kind) => `${kind} ${CELL_TEMPLATE_KINDS[kind]}`).join(', ');
const celKindVersions = `{${allowedKinds.map((kind) => `'${kind}': '${CELL_TEMPLATE_KINDS[kind]}'`).join(', ')}}`;

const TemplateResourceSchema = withRules(
  embeddedResource(
    z
      .looseObject({
        apiVersion: z.string().min(1).max(253).describe('API version of the resource, e.g. apps/v1; must match its kind.'),
        kind: z.string().min(1).max(63).describe(`Kind of the resource; one of ${allowedKinds.join(', ')}.`),
        metadata: z
          .object({
            name: objectName('Name of the resource within the Cell namespace.'),
            generateName: z.string().max(253).describe('Not supported: template resources need a fixed metadata.name.').optional(),
            namespace: z.string().max(63).describe('Not allowed: template resources are created in the namespace of the Cell.').optional(),
            labels: z.record(z.string(), z.string().max(63)).describe('Labels of the resource; the operator adds its own.').optional(),
            annotations: z.record(z.string(), z.string()).describe('Annotations of the resource.').optional(),
          })
          .describe('Object metadata: name (required), labels, annotations.'),
      })
      .describe('A whole namespaced Kubernetes object the operator applies into the Cell, owned by the Cell.'),
  ),
  {
    rule: `self.kind in ${celStringList(allowedKinds)}`,
    message: `kind must be one of ${allowedKinds.join(', ')}: a Cell stamps only these namespaced kinds`,
    fieldPath: '.kind',
    holds: (r) => allowedKinds.includes(r.kind),
  },
  {
    rule: `!(self.kind in ${celKindVersions}) || self.apiVersion == ${celKindVersions}[self.kind]`,
    message: `apiVersion does not match kind; use ${kindVersions}`,
    fieldPath: '.apiVersion',
    holds: (r) => CELL_TEMPLATE_KINDS[r.kind] === undefined || CELL_TEMPLATE_KINDS[r.kind] === r.apiVersion,
  },
  {
    rule: '!has(self.metadata.namespace)',
    message: 'metadata.namespace must not be set: template resources are created in the namespace of the Cell',
    fieldPath: '.metadata.namespace',
    reason: 'FieldValueForbidden',
    holds: (r) => r.metadata.namespace === undefined,
  },
  {
    rule: '!has(self.metadata.generateName)',
    message: 'metadata.generateName is not supported: give the resource a fixed metadata.name',
    fieldPath: '.metadata.generateName',
    reason: 'FieldValueForbidden',
    holds: (r) => r.metadata.generateName === undefined,
  },
);

/** A template resource as declared. */
export type CellTemplateResource = z.output<typeof TemplateResourceSchema>;

const TemplateResourcesSchema = withRules(
  z.array(TemplateResourceSchema).max(MAX_TEMPLATE_RESOURCES),
  {
    rule: 'self.all(x, self.exists_one(y, y.kind == x.kind && y.metadata.name == x.metadata.name))',
    message: 'each template resource needs a distinct (kind, metadata.name)',
    holds: (list) => new Set(list.map((r) => `${r.kind}/${r.metadata.name}`)).size === list.length,
  },
).describe(`Resources stamped into the Cell (at most ${MAX_TEMPLATE_RESOURCES}); each (kind, metadata.name) at most once.`);

/** `Cell.spec`. */
export const CellSpecSchema = z
  .object({
    zone: z
      .string()
      .min(1)
      .max(63)
      .regex(DNS_LABEL, 'must be a DNS label: lower-case letters, digits and "-"')
      .describe('Failure zone the Cell runs in (a DNS label, e.g. eu-west-1a); ShardMaps spread replicas across zones.'),
    capacity: z
      .int()
      .min(0)
      .max(1_000_000)
      .default(CellDefaults.capacity)
      .describe('Relative capacity weight used by placement; 0 takes no new placements.'),
    state: z
      .enum(['Active', 'Cordoned', 'Draining'])
      .default(CellDefaults.state)
      .describe('Active takes placements; Cordoned keeps what it has but takes no new ones; Draining moves everything off, then reports phase Drained.'),
    template: z
      .object({ resources: TemplateResourcesSchema.default([]) })
      .prefault({})
      .describe('What the operator stamps into the Cell.'),
  })
  .describe('Desired state of the Cell.');

/** `Cell.spec` as written by users (defaults not applied). */
export type CellSpecInput = z.input<typeof CellSpecSchema>;
/** `Cell.spec` with code-side defaults applied. */
export type CellSpec = z.output<typeof CellSpecSchema>;

/** Phases a Cell reports. */
export const CellPhases = ['Pending', 'Ready', 'Degraded', 'Draining', 'Drained'] as const;

const CellResourceStatusSchema = z
  .object({
    apiVersion: z.string().max(253).describe('API version of the child resource.').optional(),
    kind: z.string().min(1).max(63).describe('Kind of the child resource.'),
    name: z.string().min(1).max(253).describe('Name of the child resource.'),
    ready: z.boolean().describe('Whether the child resource is ready (Deployments and StatefulSets: all replicas available and updated).'),
    templateGeneration: count('Cell metadata.generation whose template was last applied to this resource.').optional(),
    message: z.string().max(1024).describe('Why the resource is not ready, when it is not.').optional(),
  })
  .describe('Readiness of one stamped resource.');

/** `Cell.status`. */
export const CellStatusSchema = z
  .object({
    ...statusBaseShape(),
    phase: z.enum(CellPhases).describe('Pending until first applied; Ready or Degraded; Draining while moving placements off; Drained when empty.').optional(),
    resources: listMap(z.array(CellResourceStatusSchema).max(MAX_TEMPLATE_RESOURCES), ['kind', 'name'])
      .describe('Stamped resources and their readiness.')
      .optional(),
    placements: count('Shard replicas and other placements currently assigned to this Cell.').optional(),
    utilization: z.number().min(0).describe('placements divided by capacity (0 when capacity is 0).').optional(),
    observedTemplateGeneration: count('metadata.generation of the template fully applied to every resource.').optional(),
  })
  .describe('Observed state of the Cell, written by the operator.');

/** `Cell.status`. */
export type CellStatus = z.output<typeof CellStatusSchema>;

/** Validates a Cell spec at the controller boundary and applies code-side defaults. */
export function parseCellSpec(spec: unknown): ParseResult<CellSpec> {
  return parseWith(CellSpecSchema, spec);
}

/**
 * Applies code-side defaults ({@link CellDefaults}: capacity 100, state Active, no
 * resources) to an already-typed spec. Throws a ZodError when the spec breaks a rule
 * the types cannot express; use {@link parseCellSpec} on untrusted input.
 */
export function withCellDefaults(spec: CellSpecInput): CellSpec {
  return CellSpecSchema.parse(spec);
}

/** The Cell kind. */
export const CellKind = {
  kind: 'Cell',
  plural: 'cells',
  singular: 'cell',
  shortNames: ['cell'],
  description:
    'A Cell is an isolated deployment unit in one zone with a capacity weight. The operator stamps its template resources into the namespace, ' +
    'reports their readiness and placements, and on Draining moves everything off before reporting Drained.',
  spec: CellSpecSchema,
  status: CellStatusSchema,
  printerColumns: [
    { name: 'Zone', type: 'string', jsonPath: '.spec.zone', description: 'Failure zone.' },
    { name: 'State', type: 'string', jsonPath: '.spec.state', description: 'Active, Cordoned or Draining (empty means Active).' },
    { name: 'Capacity', type: 'integer', jsonPath: '.spec.capacity', description: 'Capacity weight (empty means 100).', priority: 1 },
    phaseColumn,
    { name: 'Placements', type: 'integer', jsonPath: '.status.placements', description: 'Placements assigned to the Cell.' },
  ],
  selectableFields: ['.spec.zone', '.spec.state'],
} as const satisfies KindDefinition;
