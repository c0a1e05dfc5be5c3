/**
 * Conformance: on a document the operator's builder produced, flagd's TypeScript core
 * (@openfeature/flagd-core), flagd's Python in-process evaluator, our provider and our
 * own bucketing (what a Rollout reports) agree on which of 100,000 targeting keys get
 * the variant; raising the weight moves exactly the keys in between in every one.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { withFeatureFlagDefaults } from '../../src/crds/featureflag.ts';
import { buildDocument, defineFlag, serializeDocument } from '../../src/legos/flagd/document.ts';
import { countOf, firstDifference, viaFlagdCore, viaProvider, viaPython, viaRollout, type Keys } from './evaluators.ts';
import { ensurePythonFlagd, type PythonFlagd } from './python.ts';

const K: Keys = { flagKey: 'checkout-v2', variant: 'on', prefix: 'user-', count: 100_000 };
const spec = withFeatureFlagDefaults({ variants: { on: 'new', off: 'old' }, defaultVariant: 'off', safeVariant: 'off' });

function publish(weight: number): string {
  const result = defineFlag({ key: K.flagKey, spec, killSwitch: false, ramp: { variant: 'on', weight, rollout: 'checkout' } });
  if (!result.ok) throw new Error('refused');
  return serializeDocument(buildDocument({ [K.flagKey]: result.flag }));
}

let py: PythonFlagd;
beforeAll(async () => {
  py = await ensurePythonFlagd();
  if ('skip' in py) console.warn(`\n!!! flagd Python conformance SKIPPED: ${py.skip}\n`);
}, 400_000);

describe('bucketing is identical across flagd evaluators, our provider and the Rollout', () => {
  for (const weight of [1, 30, 50]) {
    it(`at weight ${weight} on 100,000 keys`, async (ctx) => {
      const document = publish(weight);
      const rollout = viaRollout(weight, K);
      expect(firstDifference(viaFlagdCore(document, K), rollout, K), 'flagd-core vs Rollout').toBe('none');
      expect(firstDifference(viaProvider(document, K), rollout, K), 'provider vs Rollout').toBe('none');
      expect(Math.abs(countOf(rollout) / K.count - weight / 100)).toBeLessThan(0.01);
      if ('skip' in py) return ctx.skip(py.skip);
      const python = await viaPython(py.python, document, K);
      expect(python.reasons).toEqual({ TARGETING_MATCH: K.count });
      expect(firstDifference(python.chosen, rollout, K), 'flagd Python vs Rollout').toBe('none');
    }, 120_000);
  }

  it('a ramp from 20 % to 35 % moves exactly the keys in between, in every evaluator', async (ctx) => {
    const [p, q] = [20, 35];
    const before = { core: viaFlagdCore(publish(p), K), rollout: viaRollout(p, K) };
    const after = { core: viaFlagdCore(publish(q), K), rollout: viaRollout(q, K) };
    const moved = after.rollout.filter((x, i) => x && !before.rollout[i]).length;
    expect(before.rollout.every((x, i) => !x || after.rollout[i]), 'nobody leaves').toBe(true);
    expect(moved).toBe(countOf(after.rollout) - countOf(before.rollout));
    expect(after.core.filter((x, i) => x && !before.core[i]).length).toBe(moved);
    if ('skip' in py) return ctx.skip(py.skip);
    const [pyBefore, pyAfter] = [(await viaPython(py.python, publish(p), K)).chosen, (await viaPython(py.python, publish(q), K)).chosen];
    expect(pyBefore.every((x, i) => !x || pyAfter[i])).toBe(true);
    expect(pyAfter.filter((x, i) => x && !pyBefore[i]).length).toBe(moved);
  }, 120_000);
});
