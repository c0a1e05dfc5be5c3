import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { listMap, preserveUnknownFields, withRules } from './extensions.ts';
import { SchemaConversionError, toStructuralSchema, type SchemaNode } from './openapi.ts';
import { structuralProblems } from './structural.ts';

/** Every node of a schema, with its path. */
function* nodes(node: SchemaNode, path = ''): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node['properties'] ?? {}) as Record<string, SchemaNode>)) yield* nodes(child, `${path}.${name}`);
  if (node['items'] !== undefined) yield* nodes(node['items'] as SchemaNode, `${path}[]`);
  const additional = node['additionalProperties'];
  if (additional !== undefined && typeof additional === 'object') yield* nodes(additional as SchemaNode, `${path}{}`);
}

const d = 'described';

describe('toStructuralSchema', () => {
  it('turns an int-or-string union into x-kubernetes-int-or-string without a type', () => {
    const schema = toStructuralSchema(z.object({ n: z.union([z.int().min(1), z.string()]).describe('count or percent') }));
    expect((schema['properties'] as Record<string, SchemaNode>)['n']).toEqual({ description: 'count or percent', 'x-kubernetes-int-or-string': true });
  });

  it('keeps nullable on plain fields and on int-or-string unions', () => {
    const schema = toStructuralSchema(
      z.object({ a: z.union([z.int(), z.string()]).nullable().describe(d), b: z.string().nullable().describe(d).optional() }),
    );
    const props = schema['properties'] as Record<string, SchemaNode>;
    expect(props['a']).toEqual({ description: d, nullable: true, 'x-kubernetes-int-or-string': true });
    expect(props['b']).toEqual({ description: d, type: 'string', nullable: true });
    expect(structuralProblems(schema)).toEqual([]);
  });

  it('removes defaults and states scalar ones in the description', () => {
    const schema = toStructuralSchema(
      z.object({ capacity: z.int().min(0).default(100).describe('Weight.'), nested: z.object({ a: z.string().default('x').describe(d) }).prefault({}).describe(d) }),
    );
    const all = [...nodes(schema)];
    expect(all.filter(([, node]) => 'default' in node)).toEqual([]);
    const capacity = (schema['properties'] as Record<string, SchemaNode>)['capacity'];
    expect(capacity?.['description']).toBe('Weight. Defaults to 100 when omitted (applied by the operator, not stored in spec).');
    // A field with a default is optional in the CRD (the input side of the schema).
    expect(schema['required']).toBeUndefined();
  });

  it('drops additionalProperties: false and maps loose objects to preserve-unknown-fields', () => {
    const schema = toStructuralSchema(
      z.object({ strict: z.strictObject({ a: z.string().describe(d) }).describe(d), loose: z.looseObject({ a: z.string().describe(d) }).describe(d) }),
    );
    const props = schema['properties'] as Record<string, SchemaNode>;
    expect(props['strict']).not.toHaveProperty('additionalProperties');
    expect(props['loose']).toMatchObject({ 'x-kubernetes-preserve-unknown-fields': true });
    expect(props['loose']).not.toHaveProperty('additionalProperties');
  });

  it('inlines schemas zod extracts as $defs', () => {
    const shared = z.object({ name: z.string().describe(d) }).meta({ id: 'SharedThing', description: 'shared' });
    const schema = toStructuralSchema(z.object({ a: shared, b: z.array(shared).describe(d) }));
    const text = JSON.stringify(schema);
    expect(text).not.toContain('$ref');
    expect(text).not.toContain('$defs');
    expect((schema['properties'] as Record<string, SchemaNode>)['a']).toMatchObject({ type: 'object', description: 'shared' });
  });

  it('drops the safe-integer bounds z.int() adds but keeps real ones', () => {
    const schema = toStructuralSchema(z.object({ a: z.int().describe(d), b: z.int().min(2).max(9).describe(d) }));
    const props = schema['properties'] as Record<string, SchemaNode>;
    expect(props['a']).toEqual({ description: d, type: 'integer' });
    expect(props['b']).toMatchObject({ minimum: 2, maximum: 9 });
  });

  it('passes CEL rules, list types and preserve-unknown-fields through from metadata', () => {
    const item = z.object({ name: z.string().describe(d) }).describe(d);
    const schema = toStructuralSchema(
      withRules(z.object({ items: listMap(z.array(item).max(4), ['name']).describe(d), any: preserveUnknownFields(z.unknown()).describe(d).optional() }), {
        rule: 'size(self.items) > 0',
        message: 'needs items',
        fieldPath: '.items',
        holds: (v) => v.items.length > 0,
      }),
    );
    expect(schema['x-kubernetes-validations']).toEqual([{ rule: 'size(self.items) > 0', message: 'needs items', fieldPath: '.items' }]);
    const props = schema['properties'] as Record<string, SchemaNode>;
    expect(props['items']).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    expect(props['any']).toEqual({ description: d, 'x-kubernetes-preserve-unknown-fields': true });
  });

  it('merges a discriminated union into one object with generated CEL rules per variant', () => {
    const union = z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('a'), x: z.string().describe('x') }).describe('Variant a'),
        z.strictObject({ type: z.literal('b'), y: z.number().describe('y').optional() }).describe('Variant b'),
      ])
      .describe('The union.');
    const schema = toStructuralSchema(z.object({ u: union }));
    const u = (schema['properties'] as Record<string, SchemaNode>)['u'] as SchemaNode;
    expect(u['description']).toBe('The union.');
    expect(u['required']).toEqual(['type']);
    expect((u['properties'] as Record<string, SchemaNode>)['type']).toMatchObject({ type: 'string', enum: ['a', 'b'] });
    expect(Object.keys(u['properties'] as object)).toEqual(['type', 'x', 'y']);
    expect(u['x-kubernetes-validations']).toEqual([
      { rule: "self.type != 'a' || has(self.x)", message: 'x is required when type is a', fieldPath: '.x', reason: 'FieldValueRequired' },
      { rule: "self.type != 'a' || !has(self.y)", message: 'y does not apply when type is a', reason: 'FieldValueForbidden' },
      { rule: "self.type != 'b' || !has(self.x)", message: 'x does not apply when type is b', reason: 'FieldValueForbidden' },
    ]);
    expect(structuralProblems(schema)).toEqual([]);
  });

  it('rejects what cannot be structural, naming the field', () => {
    const convert = (schema: z.ZodType) => () => toStructuralSchema(schema);
    expect(convert(z.object({ a: z.object({ b: z.union([z.string(), z.boolean()]) }) }))).toThrow(/\.a\.b.*unsupported union/);
    expect(convert(z.object({ a: z.unknown() }))).toThrow(SchemaConversionError);
    const tree: z.ZodType = z.lazy(() => z.object({ children: z.array(tree).describe(d) }));
    expect(convert(z.object({ tree }))).toThrow();
    expect(convert(z.object({ a: z.cuid() }))).toThrow(/\.a: format 'cuid'/);
    const variantsDiffer = z.discriminatedUnion('type', [
      z.object({ type: z.literal('a'), p: z.string().describe('one') }).describe('a'),
      z.object({ type: z.literal('b'), p: z.string().describe('two') }).describe('b'),
    ]);
    expect(convert(z.object({ u: variantsDiffer }))).toThrow(/\.u\.p: declared differently/);
  });

  it('produces structural schemas for arbitrary compositions of supported zod types', () => {
    fc.assert(
      fc.property(schemaArbitrary(), (schema) => {
        const out = toStructuralSchema(z.object({ root: schema }).describe(d));
        expect(structuralProblems(out)).toEqual([]);
        for (const [path, node] of nodes(out)) {
          expect(node, path).not.toHaveProperty('default');
          expect(node, path).not.toHaveProperty('$ref');
          expect(node['additionalProperties'], path).not.toBe(false);
          if (node['type'] === undefined) expect(node['x-kubernetes-int-or-string'] ?? node['x-kubernetes-preserve-unknown-fields'], path).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** Random zod schemas built from the kinds of pieces the Manyfold kinds use, all described. */
function schemaArbitrary(): fc.Arbitrary<z.ZodType> {
  const leaf = fc.constantFrom<() => z.ZodType>(
    () => z.string().max(10).describe(d),
    () => z.int().min(0).describe(d),
    () => z.number().positive().describe(d),
    () => z.boolean().describe(d),
    () => z.enum(['A', 'B']).default('A').describe(d),
    () => z.union([z.int(), z.string()]).describe(d),
    () => preserveUnknownFields(z.unknown()).describe(d),
    () => z.int().default(3).describe(d),
  );
  const tree = fc.letrec<{ node: () => z.ZodType }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((children) => () => {
        const shape = Object.fromEntries(children.map((child, i) => [`f${i}`, i % 2 === 0 ? child().optional() : child()]));
        return z.object(shape).describe(d);
      }),
      tie('node').map((child) => () => z.array(child()).max(5).describe(d)),
      leaf.map((child) => () => z.record(z.string(), child()).describe(d)),
      fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((children) => () => {
        const branches = children.map((child, i) =>
          z.strictObject({ kind: z.literal(`v${i}`), [`b${i}`]: i === 0 ? child() : child().optional() }).describe(`branch ${i}`),
        );
        return z.discriminatedUnion('kind', branches as unknown as [z.ZodObject, z.ZodObject]).describe(d);
      }),
    ),
  }));
  return tree.node.map((build) => build());
}
