import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { celString, fieldPathSegments, listMap, listSet, propertyCount, withCodeChecks, withRules } from './extensions.ts';
import { formatFieldPath, parseWith } from './parse.ts';
import { structuralProblems } from './structural.ts';

describe('fieldPathSegments', () => {
  it('splits CEL field paths', () => {
    expect(fieldPathSegments(undefined)).toEqual([]);
    expect(fieldPathSegments('.kind')).toEqual(['kind']);
    expect(fieldPathSegments(".metadata.name['a.b']")).toEqual(['metadata', 'name', 'a.b']);
    expect(() => fieldPathSegments('kind')).toThrow(/unsupported/);
  });
});

describe('withRules', () => {
  const schema = withRules(
    withRules(z.object({ a: z.int(), b: z.int() }), { rule: 'self.a < self.b', message: 'a must be below b', fieldPath: '.a', holds: (v) => v.a < v.b }),
    { rule: 'self.b < 10', message: 'b too big', fieldPath: '.b', reason: 'FieldValueForbidden', holds: (v) => v.b < 10 },
  );

  it('appends CEL rules to earlier ones', () => {
    expect(schema.meta()?.['x-kubernetes-validations']).toEqual([
      { rule: 'self.a < self.b', message: 'a must be below b', fieldPath: '.a' },
      { rule: 'self.b < 10', message: 'b too big', fieldPath: '.b', reason: 'FieldValueForbidden' },
    ]);
  });

  it('reports the same message at the field path in zod', () => {
    const result = parseWith(schema, { a: 20, b: 11 });
    expect(result.ok ? [] : result.issues).toEqual([
      { field: 'spec.a', message: 'a must be below b' },
      { field: 'spec.b', message: 'b too big' },
    ]);
  });

  it('does not turn a shape error into a crash of the predicate', () => {
    const guarded = withRules(z.object({ m: z.object({ n: z.string() }) }), { rule: 'true', message: 'never', holds: (v) => v.m.n.length > 0 });
    const result = parseWith(guarded, { m: 1 });
    expect(result.ok ? [] : result.issues.map((i) => i.field)).toEqual(['spec.m']);
  });
});

describe('withCodeChecks', () => {
  it('checks in zod without adding CEL', () => {
    const schema = withCodeChecks(z.object({ a: z.string() }), { message: 'a must be x', fieldPath: '.a', holds: (v) => v.a === 'x' });
    expect(schema.meta()?.['x-kubernetes-validations']).toBeUndefined();
    expect(parseWith(schema, { a: 'y' })).toMatchObject({ ok: false, issues: [{ field: 'spec.a', message: 'a must be x' }] });
  });
});

describe('list and map helpers', () => {
  it('listMap rejects duplicate keys at the later index', () => {
    const schema = listMap(z.array(z.object({ name: z.string(), v: z.int() })), ['name']);
    expect(schema.meta()).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    const result = parseWith(schema, [{ name: 'a', v: 1 }, { name: 'b', v: 1 }, { name: 'a', v: 2 }], 'spec.items');
    expect(result.ok ? [] : result.issues.map((i) => i.field)).toEqual(['spec.items[2]']);
  });

  it('listSet rejects repeated values', () => {
    const schema = listSet(z.array(z.string()));
    expect(schema.meta()).toMatchObject({ 'x-kubernetes-list-type': 'set' });
    expect(parseWith(schema, ['a', 'a']).ok).toBe(false);
    expect(parseWith(schema, ['a', 'b']).ok).toBe(true);
  });

  it('propertyCount bounds map sizes in both validators', () => {
    const schema = propertyCount(z.record(z.string(), z.int()), { min: 1, max: 2 });
    expect(schema.meta()).toMatchObject({ minProperties: 1, maxProperties: 2 });
    expect(parseWith(schema, {}).ok).toBe(false);
    expect(parseWith(schema, { a: 1 }).ok).toBe(true);
    expect(parseWith(schema, { a: 1, b: 2, c: 3 }).ok).toBe(false);
  });
});

describe('celString', () => {
  it('quotes and escapes', () => {
    expect(celString("it's")).toBe("'it\\'s'");
    expect(celString('a\\b')).toBe("'a\\\\b'");
  });
});

describe('formatFieldPath and parseWith', () => {
  it('formats paths the way the API server names fields', () => {
    expect(formatFieldPath('spec', ['sensors', 0, 'source', 'type'])).toBe('spec.sensors[0].source.type');
    expect(formatFieldPath('spec', ['nodeSelector', 'kubernetes.io/arch'])).toBe('spec.nodeSelector["kubernetes.io/arch"]');
    expect(formatFieldPath('', ['a'])).toBe('a');
  });

  it('lists at most ten issues in the message', () => {
    const result = parseWith(z.array(z.string()), Array.from({ length: 12 }, (_, i) => i));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues).toHaveLength(12);
      expect(result.message).toMatch(/; and 2 more$/);
    }
  });
});

describe('structuralProblems', () => {
  it('finds what the API server would reject', () => {
    const problems = structuralProblems({
      type: 'object',
      properties: {
        untyped: { description: 'x' },
        nodesc: { type: 'string' },
        closed: { description: 'x', type: 'object', additionalProperties: false },
        both: { description: 'x', type: 'object', properties: { a: { description: 'a', type: 'string' } }, additionalProperties: { type: 'string' } },
        defaulted: { description: 'x', type: 'integer', default: 1 },
        lookahead: { description: 'x', type: 'string', pattern: '^(?!a)' },
        ref: { description: 'x', $ref: '#/$defs/X' },
        keyed: {
          description: 'x',
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', properties: { name: { description: 'n', type: 'string' } } },
        },
      },
    });
    expect(problems).toEqual([
      'untyped: has no type',
      'nodesc: has no description',
      'closed: has additionalProperties: false',
      'both: has both properties and additionalProperties',
      "defaulted: has 'default'",
      'lookahead: pattern is not RE2-compatible: ^(?!a)',
      "ref: has '$ref'",
      'ref: has no type',
      "keyed: list-map key 'name' is not required",
    ]);
  });
});
