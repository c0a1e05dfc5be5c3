/**
 * The runtime validation boundary: parse an object's `spec` with its kind's zod
 * schema and, on failure, report every problem with the field it concerns in the
 * API server's notation (`spec.sensors[0].source.type`), ready to become a
 * `Ready=False` / `InvalidSpec` condition message. Controllers parse once here and
 * trust the types afterwards.
 */
import type { z } from 'zod';

/** One problem with a spec, naming the field. */
export interface FieldIssue {
  /** Field path in API-server notation, e.g. `spec.template.resources[1].kind`. */
  readonly field: string;
  readonly message: string;
}

/** Result of parsing a spec: the value with code-side defaults applied, or the issues. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly issues: readonly FieldIssue[];
      /** All issues as one line, `field: message; field: message` (first 10). */
      readonly message: string;
    };

/** Formats a zod path under `root` the way the API server names fields. */
export function formatFieldPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** Most issues a message lists before it summarises the rest. */
const MAX_LISTED_ISSUES = 10;

/**
 * Parses `value` with `schema`; issues are reported under `root` (default `spec`).
 * Never throws for invalid input.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = 'spec'): ParseResult<z.output<S>> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((issue) => ({ field: formatFieldPath(root, issue.path), message: issue.message }));
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => `${i.field}: ${i.message}`);
  if (issues.length > MAX_LISTED_ISSUES) listed.push(`and ${issues.length - MAX_LISTED_ISSUES} more`);
  return { ok: false, issues, message: listed.join('; ') };
}
