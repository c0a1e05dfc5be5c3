import { FlagdCore } from '@openfeature/flagd-core';
import { describe, expect, it } from 'vitest';
import { withFeatureFlagDefaults, type FeatureFlagSpecInput } from '../../crds/featureflag.ts';
import { buildDocument, defineFlag, distributionOf, serializeDocument, type FlagdFlag } from './document.ts';
import { validateTargeting } from './targeting.ts';

const spec = (extra: Partial<FeatureFlagSpecInput> = {}) =>
  withFeatureFlagDefaults({ variants: { on: true, off: false }, defaultVariant: 'off', safeVariant: 'off', ...extra });

function evaluate(flag: FlagdFlag, targetingKey: string) {
  const core = new FlagdCore();
  core.setConfigurations(serializeDocument(buildDocument({ f: flag })));
  return core.resolveBooleanEvaluation('f', true, { targetingKey });
}

function defined(result: ReturnType<typeof defineFlag>): FlagdFlag {
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.flag;
}

describe('defineFlag', () => {
  it('publishes DISABLED as declared: flagd evaluates it to the code default with reason DISABLED', () => {
    const flag = defined(defineFlag({ key: 'f', spec: spec({ state: 'DISABLED' }), killSwitch: false }));
    expect(flag.state).toBe('DISABLED');
    expect(flag.defaultVariant).toBe('off');
    const r = evaluate(flag, 'u1');
    expect(r.reason).toBe('DISABLED');
    expect(r.value).toBe(true); // the code default passed in, not the variant
    expect(distributionOf(flag)).toEqual({});
  });

  it('serves the safe variant to everyone under a kill switch, over a ramp and a disabled state', () => {
    const s = spec({ defaultVariant: 'on', safeVariant: 'off', state: 'DISABLED' });
    const flag = defined(defineFlag({ key: 'f', spec: s, killSwitch: true, ramp: { variant: 'on', weight: 50, rollout: 'r' } }));
    expect(flag.targeting).toBeUndefined();
    for (const k of ['a', 'b', 'c', 'd']) expect(evaluate(flag, k)).toMatchObject({ value: false, variant: 'off', reason: 'STATIC' });
    expect(distributionOf(flag)).toEqual({ off: 100 });
  });

  it('turns a ramp into fractional targeting whose distribution is the weight', () => {
    const flag = defined(defineFlag({ key: 'f', spec: spec(), killSwitch: false, ramp: { variant: 'on', weight: 30, rollout: 'r' } }));
    expect(flag.targeting).toEqual({ fractional: [['on', 30], ['off', 70]] });
    expect(distributionOf(flag)).toEqual({ on: 30, off: 70 });
    let on = 0;
    for (let i = 0; i < 2000; i++) if (evaluate(flag, `user-${i}`).value === true) on++;
    expect(on / 2000).toBeGreaterThan(0.25);
    expect(on / 2000).toBeLessThan(0.35);
  });

  it('refuses targeting flagd would refuse, names the path and keeps the previous good definition', () => {
    const previous = defined(defineFlag({ key: 'f', spec: spec(), killSwitch: false }));
    const bad = spec({ targeting: { if: [{ in: ['@corp.com', { var: 'email' }] }, { fractional: [['on', 'ten'], ['off', 90]] }, 'off'] } });
    const result = defineFlag({ key: 'f', spec: bad, killSwitch: false, previous });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]?.path).toBe('spec.targeting.if[1].fractional[0][1]');
    expect(result.kept).toBe(previous);
  });

  it('accepts rules flagd accepts and publishes them verbatim', () => {
    const targeting = { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.0.0'] }, 'on', { starts_with: [{ var: 'email' }, 'admin'] }, 'on', null] };
    const flag = defined(defineFlag({ key: 'f', spec: spec({ targeting }), killSwitch: false }));
    expect(flag.targeting).toEqual(targeting);
    expect(evaluate(flag, 'x').reason).toBe('DEFAULT');
    expect(distributionOf(flag)).toBeUndefined();
  });

  it('falls back to flagd-core\'s own schema for what the walker does not know', () => {
    // `var` with an object operand passes the walker's arity check but not flagd's schema
    const result = defineFlag({ key: 'f', spec: spec({ targeting: { if: [{ var: { x: 1 } }, 'on', 'off'] } }), killSwitch: false });
    expect(result.ok).toBe(false);
  });
});

describe('validateTargeting', () => {
  const variants = ['on', 'off'];
  it.each([
    [{ nope: [1] }, 'targeting.nope', 'unknown operator'],
    [{ '==': [1] }, 'targeting["=="]', 'exactly 2'],
    [{ a: 1, b: 2 }, 'targeting', 'exactly one operator'],
    [{ if: [true, 'maybe', 'off'] }, 'targeting.if[1]', 'not a variant'],
    [{ fractional: [['on', 50], ['blue', 50]] }, 'targeting.fractional[1][0]', 'not a variant'],
    [{ fractional: [['on', -1]] }, 'targeting.fractional[0][1]', 'integer ≥ 0'],
    [{ fractional: [['on', 2_000_000_000], ['off', 2_000_000_000]] }, 'targeting.fractional', 'above flagd'],
    [{ sem_ver: [{ var: 'v' }, '=>', '1.0.0'] }, 'targeting.sem_ver[1]', 'comparison'],
    [{ $ref: 'shared' }, 'targeting.$ref', '$evaluators'],
    [{ if: [{ and: [{ in: ['x'] }] }, 'on', 'off'] }, 'targeting.if[0].and[0].in', 'exactly 2'],
  ])('refuses %j at %s', (rule, path, message) => {
    const problems = validateTargeting(rule, { variants });
    expect(problems[0]?.path).toBe(path);
    expect(problems[0]?.message).toContain(message);
  });

  it('accepts boolean conditions inside conditions (only result positions must name variants)', () => {
    expect(validateTargeting({ if: [{ if: [{ var: 'beta' }, true, false] }, 'on', 'off'] }, { variants })).toEqual([]);
  });
});

describe('serializeDocument', () => {
  it('is canonical: key order does not change the bytes', () => {
    const a = buildDocument({ f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } });
    const b = buildDocument({ f: { defaultVariant: 'off', variants: { off: false, on: true }, state: 'ENABLED' } });
    expect(serializeDocument(a)).toBe(serializeDocument(b));
    expect(JSON.parse(serializeDocument(a))).toEqual(a);
  });
});
