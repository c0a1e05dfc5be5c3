/**
 * Kubernetes schema extensions declared on zod schemas.
 *
 * A zod schema is the single source of a kind's types, runtime validation and CRD
 * schema. What plain zod cannot say about the CRD (CEL rules, list semantics,
 * embedded objects, fields kept verbatim) is attached here as zod metadata under the
 * names Kubernetes uses (`x-kubernetes-*`), which `z.toJSONSchema` copies into the
 * JSON Schema and `openapi.ts` keeps. Where the extension is also a constraint (a CEL
 * rule, unique list keys), the helper adds the same check to the zod schema, with the
 * same message and field path, so a controller parsing a spec and the API server
 * admitting it agree on what is invalid and say so in the same words.
 *
 * Limitations: the zod check of a CEL rule is a hand-written predicate (`holds`) next
 * to the CEL text, not an evaluation of the CEL itself; both are tested against the
 * same samples (unit tests for zod, test/integration/crds.test.ts for the API server).
 */
import type { z } from 'zod';

/** `reason` values the API server accepts on an `x-kubernetes-validations` rule. */
export type RuleReason = 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';

/** One `x-kubernetes-validations` entry, as written into the CRD. */
export interface CelRule {
  /** CEL expression over `self` (and `oldSelf` for transition rules); true means valid. */
  readonly rule: string;
  /** The message shown to the user; should name the field and say what is allowed. */
  readonly message: string;
  /**
   * Relative path of the field the error is reported on, e.g. `.kind` or
   * `.metadata.name` (no list indices). Omitted: the node the rule is declared on.
   */
  readonly fieldPath?: string;
  /** HTTP-level reason; defaults to `FieldValueInvalid` in the API server. */
  readonly reason?: RuleReason;
}

/** A CEL rule plus the zod-side predicate that enforces the same thing. */
export interface ValidationRule<T> extends CelRule {
  /**
   * True when `value` is valid. Runs on zod's parsed value (after code-side defaults);
   * may see partly invalid values when other checks already failed, so it must not
   * assume the shape (a throw counts as "holds", leaving the report to the shape check).
   */
  readonly holds: (value: T) => boolean;
}

/** The metadata keys this module writes, as they appear in the zod registry. */
interface ExtensionMeta {
  description?: string;
  'x-kubernetes-validations'?: readonly CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: readonly string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-embedded-resource'?: true;
  minProperties?: number;
  maxProperties?: number;
}

function existingMeta(schema: z.ZodType): ExtensionMeta {
  return (schema.meta() ?? {}) as ExtensionMeta;
}

/** Splits a CEL `fieldPath` (`.a.b`, `['a-b']`) into zod path segments. */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (fieldPath === undefined || fieldPath === '') return [];
  const segments: string[] = [];
  const pattern = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\['([^']*)'\]/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = pattern.exec(fieldPath)) !== null) {
    segments.push(match[1] ?? match[2] ?? '');
    consumed = pattern.lastIndex;
  }
  if (consumed !== fieldPath.length) throw new Error(`unsupported CEL fieldPath '${fieldPath}'`);
  return segments;
}

function holdsSafely<T>(rule: ValidationRule<T>, value: T): boolean {
  try {
    return rule.holds(value);
  } catch {
    return true;
  }
}

/**
 * Attaches CEL rules to `schema` (appended to any it already has) and the matching
 * zod checks, reported at `fieldPath` with the rule's message.
 */
export function withRules<S extends z.ZodType>(schema: S, ...rules: readonly ValidationRule<z.output<S>>[]): S {
  const meta = existingMeta(schema);
  const checked = schema.superRefine((value, ctx) => {
    for (const rule of rules) {
      if (!holdsSafely(rule, value)) {
        ctx.addIssue({ code: 'custom', message: rule.message, path: fieldPathSegments(rule.fieldPath), input: value });
      }
    }
  });
  const cel: CelRule[] = rules.map(({ rule, message, fieldPath, reason }) => ({
    rule,
    message,
    ...(fieldPath === undefined ? {} : { fieldPath }),
    ...(reason === undefined ? {} : { reason }),
  }));
  return checked.meta({ ...meta, 'x-kubernetes-validations': [...(meta['x-kubernetes-validations'] ?? []), ...cel] });
}

/**
 * A check only code can make, because CEL cannot see the fields involved (for
 * example map values with `x-kubernetes-preserve-unknown-fields` and no type). The API
 * server admits such specs; the controller's parse reports them as `InvalidSpec` with
 * the rule's message at `fieldPath`.
 */
export function withCodeChecks<S extends z.ZodType>(schema: S, ...checks: readonly CodeCheck<z.output<S>>[]): S {
  return schema.superRefine((value, ctx) => {
    for (const check of checks) {
      if (!holdsSafely({ ...check, rule: '' }, value)) {
        ctx.addIssue({ code: 'custom', message: check.message, path: fieldPathSegments(check.fieldPath), input: value });
      }
    }
  });
}

/** A check made in code only: a {@link ValidationRule} without CEL. */
export type CodeCheck<T> = Omit<ValidationRule<T>, 'rule' | 'reason'>;

/**
 * Marks a list as a map keyed by `keys` (`x-kubernetes-list-type: map`): server-side
 * apply merges items by key and the API server rejects duplicate keys
 * (`Duplicate value`). The zod check rejects duplicates at the later item's index.
 * Keys must be required scalar fields of the items.
 */
export function listMap<S extends z.ZodArray>(schema: S, keys: readonly [string, ...string[]]): S {
  const meta = existingMeta(schema);
  const checked = schema.superRefine((items, ctx) => {
    const seen = new Set<string>();
    items.forEach((item, index) => {
      const record = (item ?? {}) as Record<string, unknown>;
      const id = JSON.stringify(keys.map((key) => record[key]));
      if (seen.has(id)) {
        const named = keys.map((key) => `${key}=${String(record[key])}`).join(', ');
        ctx.addIssue({ code: 'custom', message: `duplicate entry (${named}): ${keys.join(', ')} must be unique`, path: [index], input: item });
      }
      seen.add(id);
    });
  });
  return checked.meta({ ...meta, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [...keys] });
}

/** Marks a list of scalars as a set (`x-kubernetes-list-type: set`); zod rejects repeats. */
export function listSet<S extends z.ZodArray>(schema: S): S {
  const meta = existingMeta(schema);
  const checked = schema.superRefine((items, ctx) => {
    const seen = new Set<unknown>();
    items.forEach((item, index) => {
      if (seen.has(item)) ctx.addIssue({ code: 'custom', message: `duplicate value ${JSON.stringify(item)}`, path: [index], input: item });
      seen.add(item);
    });
  });
  return checked.meta({ ...meta, 'x-kubernetes-list-type': 'set' });
}

/**
 * Bounds the number of keys of a map (`minProperties`/`maxProperties`, plain OpenAPI),
 * with the matching zod check.
 */
export function propertyCount<S extends z.ZodRecord>(schema: S, bounds: { min?: number; max?: number }): S {
  const meta = existingMeta(schema);
  const { min = 0, max = Number.POSITIVE_INFINITY } = bounds;
  const checked = schema.superRefine((value, ctx) => {
    const size = Object.keys(value).length;
    if (size < min || size > max) {
      const range = max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} to ${max}`;
      ctx.addIssue({ code: 'custom', message: `must have ${range} entries, has ${size}`, input: value });
    }
  });
  return checked.meta({
    ...meta,
    ...(bounds.min === undefined ? {} : { minProperties: bounds.min }),
    ...(bounds.max === undefined ? {} : { maxProperties: bounds.max }),
  });
}

/** Marks a list or map as replaced whole by server-side apply (`atomic`). */
export function atomic<S extends z.ZodType>(schema: S, what: 'list' | 'map'): S {
  const meta = existingMeta(schema);
  return schema.meta(what === 'list' ? { ...meta, 'x-kubernetes-list-type': 'atomic' } : { ...meta, 'x-kubernetes-map-type': 'atomic' });
}

/**
 * Keeps fields the schema does not declare (`x-kubernetes-preserve-unknown-fields`):
 * for free-form JSON (flag variants, targeting rules) and embedded objects. Use on a
 * `z.looseObject` or on `z.unknown()`/`z.json()`.
 */
export function preserveUnknownFields<S extends z.ZodType>(schema: S): S {
  return schema.meta({ ...existingMeta(schema), 'x-kubernetes-preserve-unknown-fields': true });
}

/**
 * Marks an object as a whole embedded Kubernetes object (`x-kubernetes-embedded-resource`
 * plus preserved unknown fields): the API server requires `apiVersion` and `kind` and
 * validates `metadata` as ObjectMeta. Use on a `z.looseObject` declaring at least
 * `apiVersion`, `kind` and `metadata`.
 */
export function embeddedResource<S extends z.ZodType>(schema: S): S {
  return schema.meta({
    ...existingMeta(schema),
    'x-kubernetes-embedded-resource': true,
    'x-kubernetes-preserve-unknown-fields': true,
  });
}

/** Quotes a string as a CEL string literal. */
export function celString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** A CEL list literal of strings, e.g. `['a', 'b']`. */
export function celStringList(values: readonly string[]): string {
  return `[${values.map(celString).join(', ')}]`;
}
