/**
 * zod schema → Kubernetes structural `openAPIV3Schema`.
 *
 * `z.toJSONSchema` (target `openapi-3.0`, the *input* side so fields with code-side
 * defaults stay optional) gives an OpenAPI 3.0 schema; this module rewrites it into
 * what the API server accepts for a CRD and what GitOps tools do not fight with:
 *
 * - `$ref`/`$defs` are inlined, `$schema`/`id`/`title`/`examples` dropped;
 * - `additionalProperties: false` is dropped (the API server prunes instead);
 *   `additionalProperties: {}` (a `z.looseObject`) becomes
 *   `x-kubernetes-preserve-unknown-fields`;
 * - `default` is removed and, for scalars, stated in the description instead:
 *   defaults are applied in code so the stored spec never differs from git;
 * - an integer-or-string union becomes `x-kubernetes-int-or-string: true`;
 * - a discriminated union of objects (`z.discriminatedUnion`) becomes one object with
 *   every branch's fields, the discriminator as an `enum`, and generated CEL rules
 *   that require each branch's fields and forbid the other branches' fields, reported
 *   on the field concerned;
 * - JS's safe-integer bounds that `z.int()` adds are dropped; zod's long date-time
 *   regex is dropped where `format: date-time` says the same;
 * - keys come out in one fixed order, so the YAML is stable across zod versions.
 *
 * Anything else it does not understand (intersections, other unions, unknown
 * keywords, untyped fields without preserve-unknown-fields) is an error at generation
 * time naming the field, never a silently wrong CRD.
 *
 * Limitations: value constraints inside int-or-string branches are dropped (zod still
 * checks them in code); branch-specific constraints on a field shared by several
 * branches are not supported (the shared field must be declared identically).
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { celString, type CelRule } from './extensions.ts';

/** A JSON Schema / OpenAPI node, loosely typed. */
export type SchemaNode = { [key: string]: unknown };

/** Keys in the order they are written; anything not listed is rejected. */
const KEY_ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'nullable',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'x-kubernetes-validations',
] as const;

const DROPPED = new Set(['$schema', '$id', 'id', 'title', 'examples', '$defs', 'definitions', 'propertyNames']);
const SAFE_MIN = Number.MIN_SAFE_INTEGER;
const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const SUPPORTED_FORMATS = new Set(['date-time', 'date', 'uri', 'int32', 'int64', 'byte', 'duration', 'uuid', 'hostname', 'ipv4', 'ipv6', 'cidr', 'email']);

/** Thrown when a zod schema cannot become a structural CRD schema. */
export class SchemaConversionError extends Error {
  override readonly name = 'SchemaConversionError';
}

interface Context {
  readonly defs: Readonly<Record<string, SchemaNode>>;
  readonly resolving: ReadonlySet<string>;
}

/** Converts a zod schema into a structural OpenAPI v3 schema for a CRD. */
export function toStructuralSchema(schema: z.ZodType): SchemaNode {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw', cycles: 'throw', reused: 'inline' }) as SchemaNode;
  const components = (json['components'] as { schemas?: Record<string, SchemaNode> } | undefined)?.schemas ?? {};
  const defs = { ...components, ...asRecord(json['definitions']), ...asRecord(json['$defs']) };
  const { components: _components, ...root } = json;
  return rewrite(root, { defs, resolving: new Set() }, '');
}

function asRecord(value: unknown): Record<string, SchemaNode> {
  return value !== null && typeof value === 'object' ? (value as Record<string, SchemaNode>) : {};
}

function fail(path: string, message: string): never {
  throw new SchemaConversionError(`${path === '' ? '<root>' : path}: ${message}`);
}

function rewrite(input: SchemaNode, ctx: Context, path: string): SchemaNode {
  if (typeof input['$ref'] === 'string') return rewrite(inlineRef(input, ctx, path), ctx, path);
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(input[key])) return rewriteUnion(input, input[key] as SchemaNode[], ctx, path);
  }
  if (input['allOf'] !== undefined || input['not'] !== undefined) fail(path, 'intersections and negations are not supported in CRD schemas');

  const node: SchemaNode = {};
  for (const [key, value] of Object.entries(input)) {
    if (DROPPED.has(key)) continue;
    switch (key) {
      case 'default':
        break;
      case 'const':
        node['enum'] = [value];
        break;
      case 'properties':
        node['properties'] = Object.fromEntries(
          Object.entries(value as Record<string, SchemaNode>).map(([name, child]) => [name, rewrite(child, ctx, `${path}.${name}`)]),
        );
        break;
      case 'items':
        if (Array.isArray(value)) fail(path, 'tuples are not supported');
        node['items'] = rewrite(value as SchemaNode, ctx, `${path}[]`);
        break;
      case 'additionalProperties':
        if (value === false) break;
        if (value === true || (value !== null && typeof value === 'object' && Object.keys(value).length === 0)) {
          node['x-kubernetes-preserve-unknown-fields'] = true;
        } else {
          node['additionalProperties'] = rewrite(value as SchemaNode, ctx, `${path}{}`);
        }
        break;
      case 'minimum':
        if (value !== SAFE_MIN) node[key] = value;
        break;
      case 'maximum':
        if (value !== SAFE_MAX) node[key] = value;
        break;
      case 'format':
        if (typeof value !== 'string' || !SUPPORTED_FORMATS.has(value)) fail(path, `format '${String(value)}' is not one the API server validates`);
        node[key] = value;
        break;
      default:
        if (!(KEY_ORDER as readonly string[]).includes(key)) fail(path, `unsupported schema keyword '${key}'`);
        node[key] = value;
    }
  }
  if (node['format'] === 'date-time') delete node['pattern'];
  if (node['properties'] !== undefined && Object.keys(node['properties'] as object).length === 0) delete node['properties'];
  describeDefault(node, input['default']);
  if (node['properties'] !== undefined && node['additionalProperties'] !== undefined) {
    fail(path, 'an object cannot declare both properties and additionalProperties');
  }
  if (node['type'] === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true && node['x-kubernetes-int-or-string'] !== true) {
    fail(path, 'field has no type; give it one or mark it with preserveUnknownFields()');
  }
  return ordered(node);
}

function inlineRef(input: SchemaNode, ctx: Context, path: string): SchemaNode {
  const ref = input['$ref'] as string;
  const name = /^#\/(?:\$defs|definitions|components\/schemas)\/(.+)$/.exec(ref)?.[1];
  const target = name === undefined ? undefined : ctx.defs[name];
  if (name === undefined || target === undefined) fail(path, `cannot resolve $ref '${ref}'`);
  if (ctx.resolving.has(name)) fail(path, `recursive schema '${name}' cannot be structural`);
  const { $ref: _ref, ...siblings } = input;
  return rewrite({ ...target, ...siblings }, { defs: ctx.defs, resolving: new Set([...ctx.resolving, name]) }, path);
}

/** Appends a scalar default to the description, since it is not written into the schema. */
function describeDefault(node: SchemaNode, value: unknown): void {
  if (value === undefined || (value !== null && typeof value === 'object')) return;
  const text = `Defaults to ${JSON.stringify(value)} when omitted (applied by the operator, not stored in spec).`;
  const description = typeof node['description'] === 'string' ? node['description'] : '';
  node['description'] = description === '' ? text : `${description.replace(/\s*$/, '')} ${text}`;
}

function ordered(node: SchemaNode): SchemaNode {
  if (Array.isArray(node['required']) && node['required'].length === 0) delete node['required'];
  const out: SchemaNode = {};
  for (const key of KEY_ORDER) if (node[key] !== undefined) out[key] = node[key];
  return out;
}

/** Keys of a union node that apply to the union as a whole (not its branches). */
interface UnionLevel {
  readonly description?: string;
  readonly nullable: boolean;
  readonly rules: readonly CelRule[];
  readonly defaultValue: unknown;
}

const UNION_LEVEL_KEYS = new Set(['anyOf', 'oneOf', 'description', 'nullable', 'x-kubernetes-validations', 'default', ...DROPPED]);

function unionLevel(input: SchemaNode, path: string): UnionLevel {
  const rest = Object.keys(input).filter((k) => !UNION_LEVEL_KEYS.has(k));
  if (rest.length > 0) fail(path, `unsupported keywords on a union: ${rest.join(', ')}`);
  return {
    ...(typeof input['description'] === 'string' ? { description: input['description'] } : {}),
    nullable: input['nullable'] === true,
    rules: (input['x-kubernetes-validations'] as CelRule[] | undefined) ?? [],
    defaultValue: input['default'],
  };
}

/** Writes the union-level keys onto the node that replaces the union. */
function withUnionLevel(node: SchemaNode, level: UnionLevel): SchemaNode {
  if (level.description !== undefined) node['description'] = level.description;
  if (level.nullable) node['nullable'] = true;
  const rules = [...level.rules, ...((node['x-kubernetes-validations'] as CelRule[] | undefined) ?? [])];
  if (rules.length > 0) node['x-kubernetes-validations'] = rules;
  describeDefault(node, level.defaultValue);
  return ordered(node);
}

function rewriteUnion(input: SchemaNode, rawBranches: SchemaNode[], ctx: Context, path: string): SchemaNode {
  const level = unionLevel(input, path);
  const branches = rawBranches.map((b, i) => rewrite(b, ctx, `${path}<${i}>`));
  const types = new Set(branches.map((b) => b['type']));
  if (types.size === 2 && types.has('integer') && types.has('string')) {
    return withUnionLevel({ 'x-kubernetes-int-or-string': true }, level);
  }
  if (types.size === 1 && types.has('object')) return withUnionLevel(mergeDiscriminated(branches, path), level);
  return fail(path, `unsupported union of ${[...types].map(String).join(', ')}; use an int-or-string union or z.discriminatedUnion of objects`);
}

function discriminatorOf(branches: readonly SchemaNode[]): string | undefined {
  const first = (branches[0]?.['properties'] ?? {}) as Record<string, SchemaNode>;
  return Object.keys(first).find((key) => {
    const values = branches.map((b) => {
      const prop = ((b['properties'] ?? {}) as Record<string, SchemaNode>)[key];
      const required = (b['required'] as string[] | undefined) ?? [];
      const enumValues: unknown = prop?.['enum'];
      const only: unknown = Array.isArray(enumValues) && enumValues.length === 1 ? enumValues[0] : undefined;
      return prop?.['type'] === 'string' && required.includes(key) ? only : undefined;
    });
    return values.every((v) => typeof v === 'string') && new Set(values).size === values.length;
  });
}

function mergeDiscriminated(branches: readonly SchemaNode[], path: string): SchemaNode {
  const key = discriminatorOf(branches);
  if (key === undefined) fail(path, 'a union of objects needs a string discriminator with one literal per branch (z.discriminatedUnion)');
  const self = `self.${key}`;
  const properties: Record<string, SchemaNode> = {};
  const values: string[] = [];
  const variantDocs: string[] = [];
  const rules: CelRule[] = [];
  const requiredSets: string[][] = [];
  for (const branch of branches) {
    const props = (branch['properties'] ?? {}) as Record<string, SchemaNode>;
    const value = (props[key]?.['enum'] as string[])[0] as string;
    const extra = Object.keys(branch).filter((k) => !['type', 'properties', 'required', 'description', 'x-kubernetes-validations'].includes(k));
    if (extra.length > 0) fail(`${path}<${value}>`, `unsupported keywords on a union branch: ${extra.join(', ')}`);
    if (typeof branch['description'] !== 'string') fail(`${path}<${value}>`, 'every union branch needs a description');
    values.push(value);
    variantDocs.push(`${value}: ${branch['description'].replace(/\.\s*$/, '')}`);
    requiredSets.push((branch['required'] as string[] | undefined) ?? []);
    for (const [name, prop] of Object.entries(props)) {
      if (name === key) continue;
      const seen = properties[name];
      if (seen !== undefined && !isDeepStrictEqual(seen, prop)) {
        fail(`${path}.${name}`, 'declared differently in two union branches; declare it identically (same schema and description)');
      }
      properties[name] = prop;
    }
    for (const rule of (branch['x-kubernetes-validations'] as CelRule[] | undefined) ?? []) {
      rules.push({ ...rule, rule: `${self} != ${celString(value)} || (${rule.rule})` });
    }
  }
  const requiredEverywhere = (requiredSets[0] ?? []).filter((name) => requiredSets.every((set) => set.includes(name)));
  branches.forEach((branch, i) => {
    const value = values[i] ?? '';
    const own = Object.keys(branch['properties'] ?? {});
    for (const name of requiredSets[i] ?? []) {
      if (requiredEverywhere.includes(name)) continue;
      rules.push({
        rule: `${self} != ${celString(value)} || has(self.${name})`,
        message: `${name} is required when ${key} is ${value}`,
        fieldPath: `.${name}`,
        reason: 'FieldValueRequired',
      });
    }
    const foreign = Object.keys(properties).filter((name) => !own.includes(name));
    if (foreign.length > 0) {
      rules.push({
        rule: `${self} != ${celString(value)} || ${foreign.length === 1 ? `!has(self.${foreign[0]})` : `!(${foreign.map((name) => `has(self.${name})`).join(' || ')})`}`,
        message: `${foreign.join(', ')} ${foreign.length === 1 ? 'does' : 'do'} not apply when ${key} is ${value}`,
        reason: 'FieldValueForbidden',
      });
    }
  });
  const discriminator: SchemaNode = {
    description: `Selects the variant; the other fields depend on it. ${variantDocs.join('. ')}.`,
    type: 'string',
    enum: values,
  };
  const node: SchemaNode = {
    type: 'object',
    properties: { [key]: discriminator, ...properties },
    required: requiredEverywhere,
  };
  if (rules.length > 0) node['x-kubernetes-validations'] = rules;
  return node;
}
