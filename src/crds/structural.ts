/**
 * Checks that a generated `openAPIV3Schema` is structural in the API server's sense
 * and follows Manyfold's own rules, so a broken schema fails `manyfold crds` (and
 * the unit tests) rather than `kubectl apply`:
 *
 * - every field has a `type`, unless it is int-or-string or preserves unknown fields;
 *   embedded resources are objects;
 * - no `$ref`, `$defs`, `$schema`, `additionalProperties: false`, logical junctors
 *   (`anyOf`, `oneOf`, `allOf`, `not`) or `default` anywhere (defaults live in code);
 * - an object has `properties` or `additionalProperties`, never both;
 * - every property has a description (for `kubectl explain`), except the root
 *   `metadata`, where the API server allows nothing but `type: object`;
 * - list-map keys are required scalar fields of the items;
 * - patterns use no lookaround or backreferences (the API server compiles them with RE2);
 * - every CEL rule has a message.
 *
 * Limitations: CEL expressions are not compiled or cost-estimated here; the integration
 * test applies the CRDs to a real API server for that.
 */
import type { SchemaNode } from './openapi.ts';

const FORBIDDEN_KEYS = ['$ref', '$defs', '$schema', 'definitions', 'anyOf', 'oneOf', 'allOf', 'not', 'default'];
const NON_RE2 = /\(\?[=!<]|\\[1-9]/;

/** Problems found in `schema`, each prefixed with the field path; empty when it is fine. */
export function structuralProblems(schema: SchemaNode, root = ''): string[] {
  const problems: string[] = [];
  walk(schema, root, problems, { isProperty: false });
  return problems;
}

function walk(node: SchemaNode, path: string, problems: string[], where: { isProperty: boolean }): void {
  const at = path === '' ? '<root>' : path;
  for (const key of FORBIDDEN_KEYS) if (key in node) problems.push(`${at}: has '${key}'`);
  if (node['additionalProperties'] === false) problems.push(`${at}: has additionalProperties: false`);
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node['type'] === undefined && !intOrString && !preserve) problems.push(`${at}: has no type`);
  if (node['x-kubernetes-embedded-resource'] === true && node['type'] !== 'object') problems.push(`${at}: embedded resource must be type object`);
  if (intOrString && node['type'] !== undefined) problems.push(`${at}: int-or-string must not declare a type`);
  if (where.isProperty && (typeof node['description'] !== 'string' || node['description'].trim() === '')) {
    problems.push(`${at}: has no description`);
  }
  const pattern = node['pattern'];
  if (typeof pattern === 'string' && NON_RE2.test(pattern)) problems.push(`${at}: pattern is not RE2-compatible: ${pattern}`);
  for (const rule of (node['x-kubernetes-validations'] as { rule?: unknown; message?: unknown; messageExpression?: unknown }[] | undefined) ?? []) {
    if (typeof rule.rule !== 'string' || rule.rule === '') problems.push(`${at}: CEL rule without an expression`);
    if (typeof rule.message !== 'string' && typeof rule.messageExpression !== 'string') problems.push(`${at}: CEL rule '${String(rule.rule)}' has no message`);
  }

  const properties = node['properties'] as Record<string, SchemaNode> | undefined;
  const additional = node['additionalProperties'];
  if (properties !== undefined && additional !== undefined) problems.push(`${at}: has both properties and additionalProperties`);
  for (const [name, child] of Object.entries(properties ?? {})) {
    const rootMetadata = path === '' && name === 'metadata';
    walk(child, path === '' ? name : `${path}.${name}`, problems, { isProperty: !rootMetadata });
  }
  if (additional !== null && typeof additional === 'object') walk(additional as SchemaNode, `${path}{}`, problems, { isProperty: false });

  const items = node['items'] as SchemaNode | undefined;
  if (node['type'] === 'array' && items === undefined) problems.push(`${at}: array without items`);
  if (items !== undefined) walk(items, `${path}[]`, problems, { isProperty: false });
  checkListMap(node, items, at, problems);
}

function checkListMap(node: SchemaNode, items: SchemaNode | undefined, at: string, problems: string[]): void {
  if (node['x-kubernetes-list-type'] !== 'map') return;
  const keys = node['x-kubernetes-list-map-keys'] as string[] | undefined;
  if (keys === undefined || keys.length === 0) {
    problems.push(`${at}: list-type map without list-map-keys`);
    return;
  }
  const itemProps = (items?.['properties'] ?? {}) as Record<string, SchemaNode>;
  const required = (items?.['required'] as string[] | undefined) ?? [];
  for (const key of keys) {
    const type = itemProps[key]?.['type'];
    if (type !== 'string' && type !== 'integer' && type !== 'boolean') problems.push(`${at}: list-map key '${key}' is not a scalar field of the items`);
    if (!required.includes(key)) problems.push(`${at}: list-map key '${key}' is not required`);
  }
}
