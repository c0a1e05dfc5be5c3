/**
 * A Manyfold kind as data (names, spec and status schemas, printer columns) and the
 * CustomResourceDefinition generated from it. Every kind gets the same frame: group
 * `manyfold.dev`, version `v1alpha1` (served and stored), namespaced, category
 * `manyfold`, a status subresource, and Ready/Reason/Age printer columns after its own.
 */
import type { z } from 'zod';
import { API_VERSION, CATEGORY, GROUP, VERSION } from './common.ts';
import { toStructuralSchema, type SchemaNode } from './openapi.ts';
import { structuralProblems } from './structural.ts';

/** One `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  /** 0 (default) shows in `kubectl get`; 1 only with `-o wide`. */
  readonly priority?: 0 | 1;
}

/** Everything that makes a kind; the CRD, the resource type and the parsers derive from it. */
export interface KindDefinition<Spec extends z.ZodType = z.ZodType, Status extends z.ZodType = z.ZodType> {
  readonly kind: string;
  /** Lower-case plural, the REST resource name. */
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** What the kind declares and what the operator converges; shown by `kubectl explain`. */
  readonly description: string;
  readonly spec: Spec;
  readonly status: Status;
  /** Kind-specific columns; Ready, Reason (wide) and Age are appended. */
  readonly printerColumns: readonly PrinterColumn[];
  /** Spec fields usable in `--field-selector` (string, integer or boolean fields). */
  readonly selectableFields?: readonly string[];
}

/** The shape `KubeClient` uses to address a resource (structurally its `ResourceType`). */
export interface KindResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: true;
}

/** The REST coordinates of a kind. */
export function resourceOf(def: KindDefinition): KindResource {
  return { group: GROUP, version: VERSION, plural: def.plural, kind: def.kind, namespaced: true };
}

/** `metadata.name` of a kind's CRD: `<plural>.manyfold.dev`. */
export function crdName(def: KindDefinition): string {
  return `${def.plural}.${GROUP}`;
}

/** Printer column of the `Ready` condition's status. */
const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Status of the Ready condition.',
};
const reasonColumn: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Reason of the Ready condition.',
  priority: 1,
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

/** A `Phase` column reading `.status.phase`. */
export const phaseColumn: PrinterColumn = { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Lifecycle phase.' };

/** The full `openAPIV3Schema` of a kind (root object with spec and status). */
export function openApiSchemaOf(def: KindDefinition): SchemaNode {
  return {
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: {
        description: `APIVersion of this object: ${API_VERSION}.`,
        type: 'string',
      },
      kind: { description: `Kind of this object: ${def.kind}.`, type: 'string' },
      // The API server forbids anything but `type` (and name/generateName rules) here.
      metadata: { type: 'object' },
      spec: toStructuralSchema(def.spec),
      status: toStructuralSchema(def.status),
    },
    required: ['spec'],
  };
}

/** A kind's CustomResourceDefinition (apiextensions.k8s.io/v1). Throws when its schema is not structural. */
export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  const schema = openApiSchemaOf(def);
  const problems = structuralProblems(schema);
  if (problems.length > 0) throw new Error(`${def.kind}: schema is not structural:\n  ${problems.join('\n  ')}`);
  const version: Record<string, unknown> = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: schema },
    subresources: { status: {} },
    additionalPrinterColumns: [...def.printerColumns, readyColumn, reasonColumn, ageColumn].map((column) => ({ ...column })),
  };
  if (def.selectableFields !== undefined && def.selectableFields.length > 0) {
    version['selectableFields'] = def.selectableFields.map((jsonPath) => ({ jsonPath }));
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(def), labels: { 'app.kubernetes.io/part-of': 'manyfold' } },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [version],
    },
  };
}
