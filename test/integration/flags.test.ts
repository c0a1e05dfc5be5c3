/**
 * The FeatureFlag controller against the real API server with the operator's
 * ServiceAccount: flags published in one flagd document per namespace (ConfigMap
 * manyfold-flags) that an OpenFeature client watching it evaluates in process; status
 * version/configMap/distribution; refused targeting names the path and keeps the last
 * good definition; kill switches on the flag, the Namespace and globally publish the
 * safe variant, with events and the kill_switch_engaged metric.
 */
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFlagController } from '../../src/controllers/featureflag.ts';
import { rolloutController } from '../../src/controllers/rollout.ts';
import { API_VERSION } from '../../src/crds/common.ts';
import type { FeatureFlagSpecInput, FeatureFlagStatus } from '../../src/crds/featureflag.ts';
import { ManyfoldResources } from '../../src/crds/index.ts';
import type { FlagdDocument } from '../../src/legos/flagd/document.ts';
import { ManyfoldFlagProvider } from '../../src/legos/flagd/provider.ts';
import { FLAGS_CONFIGMAP, FLAGS_VERSION_ANNOTATION, configMapSource } from '../../src/legos/flagd/sources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type Flag = KubeObject & { spec: FeatureFlagSpecInput; status?: FeatureFlagStatus };
type ConfigMap = KubeObject & { data?: Record<string, string> };
type EventObject = KubeObject & { reason?: string; involvedObject?: { name?: string }; regarding?: { name?: string } };
const KILL = 'manyfold.dev/kill-switch';

let admin: KubeClient;
let ns: { name: string; dispose: () => Promise<void> };
let operator: RunningManager;
let client: Client;

const flag = (name: string, spec: FeatureFlagSpecInput): KubeObject => ({ apiVersion: API_VERSION, kind: 'FeatureFlag', metadata: { name, namespace: ns.name }, spec });
const checkout: FeatureFlagSpecInput = { variants: { new: 'new-checkout', old: 'old-checkout' }, defaultVariant: 'new', safeVariant: 'old' };
const search: FeatureFlagSpecInput = { variants: { on: true, off: false }, defaultVariant: 'on', safeVariant: 'off', targeting: { if: [{ in: ['@corp.com', { var: 'email' }] }, 'on', 'off'] } };

async function apply(object: KubeObject) {
  await admin.apply(object, { fieldManager: 'test', force: true });
}
async function annotate(type: ResourceType, name: string, namespace: string | undefined, value: string | null) {
  await admin.patch(type, { name, ...(namespace ? { namespace } : {}) }, { metadata: { annotations: { [KILL]: value } } }, { type: 'merge' });
}
const published = async () => {
  const cm = await admin.getOrUndefined<ConfigMap>(Resources.ConfigMap, FLAGS_CONFIGMAP, ns.name);
  return cm === undefined ? undefined : { doc: JSON.parse(cm.data?.['flags.json'] ?? '{}') as FlagdDocument, version: Number(cm.metadata.annotations?.[FLAGS_VERSION_ANNOTATION]) };
};
const status = async (name: string) => (await admin.get<Flag>(ManyfoldResources.FeatureFlag, name, ns.name)).status;
const ready = (s: FeatureFlagStatus | undefined) => s?.conditions?.find((c) => c.type === 'Ready');
async function reasons(name: string): Promise<string[]> {
  const list = await admin.list<EventObject>(Resources.Event, { namespace: ns.name });
  return list.items.filter((e) => (e.involvedObject?.name ?? e.regarding?.name) === name).map((e) => e.reason ?? '');
}

describe('FeatureFlag controller', () => {
  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'flags');
    operator = await startManager([featureFlagController({ operatorNamespace: 'manyfold-system' }), rolloutController({ operatorNamespace: 'manyfold-system' })]);
    await apply(flag('checkout', checkout));
    await apply(flag('search', search));
    OpenFeature.setProvider('flags-it', new ManyfoldFlagProvider({ source: configMapSource({ client: admin, namespace: ns.name }) }));
    client = OpenFeature.getClient('flags-it');
  });
  afterAll(async () => {
    await OpenFeature.close();
    await operator?.stop();
    await ns.dispose();
    await admin.close();
  });

  it('publishes every flag of the namespace in one flagd document, and reports version, configMap and distribution', async () => {
    const p = await eventually('both flags published', async () => {
      const got = await published();
      return got !== undefined && Object.keys(got.doc.flags).length === 2 && got;
    });
    expect(p.doc.flags['checkout']).toEqual({ state: 'ENABLED', variants: checkout.variants, defaultVariant: 'new' });
    expect(p.doc.flags['search']?.targeting).toEqual(search.targeting);
    const s = await eventually('checkout status', async () => {
      const st = await status('checkout');
      return st?.version !== undefined && st.version >= p.version && st;
    });
    expect(s).toMatchObject({ configMap: FLAGS_CONFIGMAP, distribution: { new: 100 } });
    expect(ready(s)).toMatchObject({ status: 'True', reason: 'Published' });
    // Each flag's status is its own write, after the publish: wait for search's too.
    const searchStatus = await eventually('search status', async () => {
      const st = await status('search');
      return st?.version !== undefined && st.version >= p.version && st;
    });
    expect(searchStatus.distribution).toEqual({}); // targeting-dependent
    await eventually('the OpenFeature client evaluates the published flag', async () => (await client.getStringValue('checkout', 'code-default', { targetingKey: 'u1' })) === 'new-checkout');
    expect(await client.getBooleanValue('search', false, { targetingKey: 'u1', email: 'ada@corp.com' })).toBe(true);
    expect(await client.getBooleanValue('search', true, { targetingKey: 'u1', email: 'bob@example.com' })).toBe(false);
  });

  it('publishes DISABLED as flagd expects: the client gets its code default, reason DISABLED', async () => {
    await apply(flag('checkout', { ...checkout, state: 'DISABLED' }));
    const details = await eventually('DISABLED evaluated', async () => {
      const d = await client.getStringDetails('checkout', 'code-default', { targetingKey: 'u1' });
      return d.reason === 'DISABLED' && d;
    });
    expect(details.value).toBe('code-default');
    await apply(flag('checkout', checkout));
  });

  it('refuses targeting flagd would refuse: Ready=False InvalidTargeting naming the path; the last good definition stays', async () => {
    const before = await published();
    await apply(flag('search', { ...search, targeting: { if: [{ in: ['@corp.com', { var: 'email' }] }, { fractional: [['on', 'half'], ['off', 50]] }, 'off'] } }));
    const s = await eventually('InvalidTargeting', async () => {
      const st = await status('search');
      return ready(st)?.reason === 'InvalidTargeting' && st;
    });
    expect(ready(s)?.message).toContain('spec.targeting.if[1].fractional[0][1]');
    expect((await published())?.doc.flags['search']).toEqual(before?.doc.flags['search']);
    expect(await reasons('search')).toContain('InvalidTargeting');
    await apply(flag('search', search));
    await eventually('search Ready again', async () => ready(await status('search'))?.status === 'True');
  });

  it('a kill switch on the flag, then on the Namespace, then globally, serves the safe variant; release restores', async () => {
    const safeEverywhere = async () =>
      (await client.getStringValue('checkout', 'x', { targetingKey: 'u1' })) === 'old-checkout' && (await client.getBooleanValue('search', true, { targetingKey: 'u1', email: 'ada@corp.com' })) === false;
    const scopes: [string, () => Promise<void>, () => Promise<void>][] = [
      ['flag', () => annotate(ManyfoldResources.FeatureFlag, 'checkout', ns.name, 'true'), () => annotate(ManyfoldResources.FeatureFlag, 'checkout', ns.name, null)],
      ['namespace', () => annotate(Resources.Namespace, ns.name, undefined, 'true'), () => annotate(Resources.Namespace, ns.name, undefined, null)],
      ['global', () => annotate(Resources.ConfigMap, 'manyfold-config', 'manyfold-system', 'true'), () => annotate(Resources.ConfigMap, 'manyfold-config', 'manyfold-system', null)],
    ];
    for (const [scope, engage, release] of scopes) {
      const versionBefore = (await published())?.version ?? 0;
      await engage();
      try {
        if (scope === 'flag') await eventually('checkout safe', async () => (await client.getStringValue('checkout', 'x', { targetingKey: 'u1' })) === 'old-checkout', { timeoutMs: 15_000, intervalMs: 50 });
        else await eventually(`safe variants (${scope})`, safeEverywhere, { timeoutMs: 15_000, intervalMs: 50 });
        const p = await published();
        expect(p?.version).toBeGreaterThan(versionBefore);
        expect(p?.doc.flags['checkout']).toMatchObject({ defaultVariant: 'old', metadata: { killSwitch: true } });
        const s = await eventually('KillSwitch condition', async () => {
          const st = await status('checkout');
          return st?.conditions?.find((c) => c.type === 'KillSwitch' && c.status === 'True') && st;
        });
        expect(s.conditions?.find((c) => c.type === 'KillSwitch')?.message).toContain(scope === 'flag' ? 'resource' : scope);
        expect(await operator.metric('kill_switch_engaged', { kind: 'FeatureFlag', namespace: ns.name, name: 'checkout' })).toBe(1);
      } finally {
        await release();
      }
      await eventually(`released (${scope})`, async () => (await client.getStringValue('checkout', 'x', { targetingKey: 'u1' })) === 'new-checkout', { timeoutMs: 15_000 });
    }
    const r = await eventually('events', async () => {
      const got = await reasons('checkout');
      return got.includes('KillSwitchEngaged') && got.includes('KillSwitchReleased') && got;
    });
    expect(r).toContain('KillSwitchEngaged');
    expect(operator.errors).toEqual([]);
  });

  it('versions only increase across all of that', async () => {
    const p = await published();
    const s = await status('checkout');
    expect(p?.version).toBeGreaterThanOrEqual(5);
    await eventually('status catches up', async () => {
      const v = (await status('checkout'))?.version ?? 0;
      return v === p?.version || `status ${v}, published ${p?.version}; errors: ${operator.errors.slice(0, 2).join(' | ')}`;
    }).catch((e: unknown) => expect.fail(String(e)));
    expect(s?.version).toBeLessThanOrEqual(p?.version ?? 0);
  });
});
