import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withFeatureFlagDefaults, type FeatureFlagSpecInput } from '../crds/featureflag.ts';
import { withRolloutDefaults, type RolloutStatus } from '../crds/rollout.ts';
import type { FlagdDocument } from '../legos/flagd/document.ts';
import { reconcileFeatureFlag, type FeatureFlagObservation, type FlagEntry, type RolloutEntry } from './featureflag.ts';

const flagSpec = (extra: Partial<FeatureFlagSpecInput> = {}) =>
  withFeatureFlagDefaults({ variants: { on: true, off: false }, defaultVariant: 'off', safeVariant: 'off', ...extra });
const flag = (name: string, extra: Partial<FlagEntry> = {}): FlagEntry => ({ name, uid: `uid-${name}`, spec: { ok: true, value: flagSpec() }, annotations: undefined, status: undefined, ...extra });
const rollout = (flagName: string, status: RolloutStatus | undefined, extra: Partial<RolloutEntry> = {}): RolloutEntry => ({
  name: `ro-${flagName}`,
  creationTimestamp: '2026-01-01T00:00:00Z',
  spec: { ok: true, value: withRolloutDefaults({ flagRef: { name: flagName }, variant: 'on', steps: [{ setWeight: 50 }, { setWeight: 100 }], waves: { label: 'wave', order: ['1', '2'] } }) },
  status,
  annotations: undefined,
  ...extra,
});
const observe = (extra: Partial<FeatureFlagObservation> = {}): FeatureFlagObservation => ({
  namespace: 'shop',
  flag: { name: 'checkout', generation: 1 },
  flags: [flag('checkout'), flag('search')],
  namespaceAnnotations: undefined,
  globalAnnotations: undefined,
  rollouts: [],
  cells: [],
  published: undefined,
  ...extra,
});

function published(decision: ReturnType<typeof reconcileFeatureFlag>) {
  const cm = decision.apply[0]?.object as { data: Record<string, string>; metadata: { annotations: Record<string, string> } } | undefined;
  if (!cm) throw new Error('nothing applied');
  return { data: cm.data, version: Number(cm.metadata.annotations['manyfold.dev/flags-version']), resourceVersion: '1' };
}
const doc = (data: Record<string, string>, key = 'flags.json') => JSON.parse(data[key] ?? '{}') as FlagdDocument;

describe('reconcileFeatureFlag', () => {
  it('publishes every flag of the namespace in one document, then nothing while nothing changes', () => {
    const first = reconcileFeatureFlag(observe(), 0);
    const p = published(first);
    expect(p.version).toBe(1);
    expect(Object.keys(doc(p.data).flags)).toEqual(['checkout', 'search']);
    expect(first.status).toMatchObject({ version: 1, configMap: 'manyfold-flags', distribution: { off: 100 } });
    const again = reconcileFeatureFlag(observe({ published: p }), 1000);
    expect(again.apply).toEqual([]);
    expect(again.status?.version).toBe(1);
  });

  it('a global kill switch publishes the safe variant of every flag at once, with an event', () => {
    const p = published(reconcileFeatureFlag(observe({ flags: [flag('checkout', { spec: { ok: true, value: flagSpec({ defaultVariant: 'on' }) } }), flag('search')] }), 0));
    const d = reconcileFeatureFlag(observe({ published: p, globalAnnotations: { 'manyfold.dev/kill-switch': 'true' } }), 1000);
    const after = published(d);
    expect(after.version).toBe(2);
    for (const f of Object.values(doc(after.data).flags)) expect(f).toMatchObject({ defaultVariant: 'off', state: 'ENABLED' });
    expect(d.events.map((e) => e.reason)).toContain('KillSwitchEngaged');
    expect(d.killSwitches.get('search')).toEqual({ engaged: true, scope: 'global' });
  });

  it('keeps the previous good definition when targeting is refused, naming the path', () => {
    const p = published(reconcileFeatureFlag(observe(), 0));
    const bad = flag('checkout', { spec: { ok: true, value: flagSpec({ targeting: { if: [{ bogus: [1] }, 'on', 'off'] } }) } });
    const d = reconcileFeatureFlag(observe({ published: p, flags: [bad, flag('search')] }), 1000);
    expect(d.apply).toEqual([]); // nothing changed in what is published
    expect(d.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidTargeting' });
    expect(d.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('spec.targeting.if[0].bogus');
  });

  it('publishes per-Cell documents: wave 1 at 50 % while wave 2 is still at 0', () => {
    const cells = [
      { name: 'a', labels: { wave: '1' }, ready: true },
      { name: 'b', labels: { wave: '2' }, ready: true },
    ];
    const status: RolloutStatus = { phase: 'Progressing', currentWave: 0, waves: [{ name: '1', cells: 1, weight: 50 }, { name: '2', cells: 1, weight: 0 }] };
    const d = reconcileFeatureFlag(observe({ cells, rollouts: [rollout('checkout', status)] }), 0);
    const p = published(d);
    expect(doc(p.data, 'cell-a.json').flags['checkout']?.targeting).toEqual({ fractional: [['on', 50], ['off', 50]] });
    expect(doc(p.data, 'cell-b.json').flags['checkout']?.targeting).toEqual({ fractional: [['on', 0], ['off', 100]] });
    expect(doc(p.data).flags['checkout']?.targeting).toEqual({ fractional: [['on', 0], ['off', 100]] });
    expect(doc(p.data, 'cell-a.json').flags['search']?.targeting).toBeUndefined();
  });

  it('a kill switch on the Rollout forces its flag to the safe variant', () => {
    const status: RolloutStatus = { phase: 'Progressing', currentWave: 0, waves: [{ name: 'all', cells: 0, weight: 50 }] };
    const r = rollout('checkout', status, { annotations: { 'manyfold.dev/kill-switch': 'true' } });
    const p = published(reconcileFeatureFlag(observe({ rollouts: [r] }), 0));
    expect(doc(p.data).flags['checkout']).toMatchObject({ defaultVariant: 'off', metadata: { killSwitch: true } });
    expect(doc(p.data).flags['checkout']?.targeting).toBeUndefined();
  });

  it('versions only increase, and increase exactly when content changes', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ kill: fc.boolean(), disabled: fc.boolean(), drop: fc.boolean() }), { minLength: 1, maxLength: 15 }), (changes) => {
        let current: FeatureFlagObservation['published'];
        let last = 0;
        for (const c of changes) {
          const flags = [flag('checkout', { spec: { ok: true, value: flagSpec({ state: c.disabled ? 'DISABLED' : 'ENABLED' }) } }), ...(c.drop ? [] : [flag('search')])];
          const d = reconcileFeatureFlag(observe({ flags, published: current, globalAnnotations: c.kill ? { 'manyfold.dev/kill-switch': 'true' } : undefined }), 0);
          if (d.apply.length > 0) {
            const p = published(d);
            expect(p.version).toBeGreaterThan(last);
            expect(p.data).not.toEqual(current?.data);
            current = p;
            last = p.version;
          } else expect(d.version).toBe(last);
        }
      }),
    );
  });
});
