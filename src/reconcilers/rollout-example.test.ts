import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseFeatureFlagSpec } from '../crds/featureflag.ts';
import { parseRolloutSpec } from '../crds/rollout.ts';
import { reconcileRollout } from './rollout.ts';
import { planWaves } from './rollout-waves.ts';

type Doc = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec: unknown };
const load = async (file: string) => parseAllDocuments(await readFile(new URL(`../../examples/${file}`, import.meta.url), 'utf8')).map((d) => d.toJSON() as Doc);

describe('examples/feature-flag.yaml and examples/rollout.yaml over examples/cells.yaml', () => {
  it('are valid, namespace-less, and roll the canary Cell first, then the main ones', async () => {
    const [flags, rollouts, cells] = [await load('feature-flag.yaml'), await load('rollout.yaml'), await load('cells.yaml')];
    expect([...flags, ...rollouts].every((d) => d.metadata.namespace === undefined)).toBe(true);
    const flag = parseFeatureFlagSpec(flags[0]?.spec);
    const rollout = parseRolloutSpec(rollouts[0]?.spec);
    if (!flag.ok || !rollout.ok) throw new Error('invalid example');
    for (const f of flags) expect(parseFeatureFlagSpec(f.spec).ok).toBe(true);
    const waveCells = cells.map((c) => ({ name: c.metadata.name, labels: c.metadata.labels ?? {}, ready: true }));
    expect(planWaves(rollout.value, waveCells)).toEqual([
      { name: 'canary', cells: ['shop-c'] },
      { name: 'main', cells: ['shop-a', 'shop-b'] },
    ]);
    const d = reconcileRollout(
      {
        name: 'new-checkout', namespace: 'shop', uid: 'u', generation: 1, spec: { ok: true, value: rollout.value }, status: undefined,
        killSwitch: { engaged: false }, creationTimestamp: '2026-01-01T00:00:00Z', annotations: {},
        flag: { spec: { ok: true, value: flag.value }, killSwitch: false }, rivals: [], cells: waveCells,
      },
      0,
    );
    expect(d.status).toMatchObject({ phase: 'Paused', currentWave: 0, currentWeight: 10, waves: [{ name: 'canary', cells: 1, weight: 10 }, { name: 'main', cells: 2, weight: 0 }] });
    expect(d.requeueAfterMs).toBe(300_000);
  });
});
