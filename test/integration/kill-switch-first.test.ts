/**
 * The kill switch goes ahead of the queue (runtime/urgent.ts, the FeatureFlag
 * controller's `urgent` work), against the real API server: when the global switch
 * flips, the safe documents of every affected namespace are written before any Rollout
 * status says it is paused by the switch and before any KillSwitchEngaged Event; and a
 * new leader that finds the switch engaged (flipped while no operator ran) publishes
 * the safe documents before anything else it writes.
 *
 * The order is read from resourceVersions, which are the revisions of the one etcd
 * behind the API server (ConfigMaps, Rollouts and Events alike), as witnessed by watches
 * in this process: every version of every object, not polls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFlagController } from '../../src/controllers/featureflag.ts';
import { rolloutController } from '../../src/controllers/rollout.ts';
import { API_VERSION } from '../../src/crds/common.ts';
import { ManyfoldResources } from '../../src/crds/index.ts';
import type { RolloutStatus } from '../../src/crds/rollout.ts';
import type { FlagdDocument } from '../../src/legos/flagd/document.ts';
import { FLAGS_CONFIGMAP } from '../../src/legos/flagd/sources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { Informer } from '../../src/runtime/informer/informer.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startManager, type RunningManager } from '../support/operator.ts';

type ConfigMap = KubeObject & { data?: Record<string, string> };
type Rollout = KubeObject & { status?: RolloutStatus };
type EventObject = KubeObject & { reason?: string; regarding?: { kind?: string; name?: string } };
const KILL = 'manyfold.dev/kill-switch';
const NAMESPACES = 3;
const FLAGS = 4;
const flagNames = Array.from({ length: FLAGS }, (_, i) => `flag-${i}`);

let admin: KubeClient;
const namespaces: { name: string; dispose: () => Promise<void> }[] = [];
let operator: RunningManager | undefined;
const controllers = () => [featureFlagController({ operatorNamespace: 'manyfold-system' }), rolloutController({ operatorNamespace: 'manyfold-system' })];
const setGlobal = (value: string | null) => admin.patch(Resources.ConfigMap, { name: 'manyfold-config', namespace: 'manyfold-system' }, { metadata: { annotations: { [KILL]: value } } }, { type: 'merge' });

/** Every version of every object of `type` in the test namespaces, from watches started now. */
class Witness<T extends KubeObject> {
  readonly versions: { rv: number; object: T }[] = [];
  private readonly stop = new AbortController();
  private readonly informers: Informer<T>[];
  constructor(type: ResourceType, labelSelector?: string) {
    this.informers = namespaces.map((ns) => new Informer<T>({ client: admin, type, namespace: ns.name, labelSelector }));
    for (const informer of this.informers) {
      const seen = (o: T) => this.versions.push({ rv: Number(o.metadata.resourceVersion), object: o });
      informer.addHandler({ onAdd: seen, onUpdate: (_old, o) => seen(o) });
    }
  }
  async start(): Promise<void> {
    for (const informer of this.informers) void informer.start(this.stop.signal);
    await Promise.all(this.informers.map((i) => i.waitForSync(this.stop.signal)));
  }
  close(): void {
    this.stop.abort();
  }
}

const safeEverywhere = (cm: ConfigMap) =>
  Object.values(cm.data ?? {}).every((json) => {
    const flags = (JSON.parse(json) as FlagdDocument).flags;
    return flagNames.every((f) => flags[f]?.defaultVariant === 'old' && flags[f]?.targeting === undefined && flags[f]?.metadata?.['killSwitch'] === true);
  });
const killSwitched = (r: Rollout) => r.status?.conditions?.some((c) => c.type === 'KillSwitch' && c.status === 'True') === true;

/** Watches ConfigMaps, Rollouts and Events, runs `act`, waits until every Rollout is held and every flag has its event; returns what was seen. */
async function witness(act: () => Promise<void>) {
  const cms = new Witness<ConfigMap>(Resources.ConfigMap, 'manyfold.dev/flags');
  const rollouts = new Witness<Rollout>(ManyfoldResources.Rollout);
  const events = new Witness<EventObject>(Resources.EventsV1);
  await Promise.all([cms.start(), rollouts.start(), events.start()]);
  const startRv = Math.max(0, ...[...cms.versions, ...rollouts.versions, ...events.versions].map((v) => v.rv));
  try {
    await act();
    const engagedEvents = () => events.versions.filter((v) => v.rv > startRv && v.object.reason === 'KillSwitchEngaged');
    await eventually(
      'every Rollout held and every FeatureFlag and Rollout with a KillSwitchEngaged Event',
      async () => {
        const held = new Set(rollouts.versions.filter((v) => v.rv > startRv && killSwitched(v.object)).map((v) => `${v.object.metadata.namespace}/${v.object.metadata.name}`));
        const evented = new Set(engagedEvents().map((v) => `${v.object.metadata.namespace}/${v.object.regarding?.kind}/${v.object.regarding?.name}`));
        return held.size === NAMESPACES * FLAGS && evented.size === 2 * NAMESPACES * FLAGS;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // The first safe version of each namespace's documents, the first held version of each Rollout, each event.
    const firstSafe = namespaces.map((ns) => cms.versions.find((v) => v.rv > startRv && v.object.metadata.namespace === ns.name && v.object.metadata.name === FLAGS_CONFIGMAP && safeEverywhere(v.object))?.rv ?? Infinity);
    const firstHeld = rollouts.versions.filter((v) => v.rv > startRv && killSwitched(v.object)).map((v) => v.rv);
    // Nothing published after the first safe version serves anything but the safe variant.
    const unsafeAfter = cms.versions.filter((v) => v.rv > Math.min(...firstSafe) && namespaces.some((ns, i) => ns.name === v.object.metadata.namespace && v.rv > (firstSafe[i] ?? 0)) && !safeEverywhere(v.object));
    return { firstSafe, firstHeld, events: engagedEvents().map((v) => v.rv), unsafeAfter };
  } finally {
    cms.close();
    rollouts.close();
    events.close();
  }
}

describe('the kill switch ahead of the queue', () => {
  beforeAll(async () => {
    admin = await adminClient();
    for (let i = 0; i < NAMESPACES; i++) namespaces.push(await testNamespace(admin, `ks-first-${i}`));
    operator = await startManager(controllers());
    for (const ns of namespaces) {
      for (const name of flagNames) {
        const meta = { name, namespace: ns.name };
        await admin.apply({ apiVersion: API_VERSION, kind: 'FeatureFlag', metadata: meta, spec: { variants: { new: 'new', old: 'old' }, defaultVariant: 'old', safeVariant: 'old' } }, { fieldManager: 'test', force: true });
        await admin.apply({ apiVersion: API_VERSION, kind: 'Rollout', metadata: meta, spec: { flagRef: { name }, variant: 'new', steps: [{ setWeight: 20 }, { pause: {} }] } }, { fieldManager: 'test', force: true });
      }
    }
    await eventually('every Rollout paused at 20 %', async () => {
      let paused = 0;
      for (const ns of namespaces) paused += (await admin.list<Rollout>(ManyfoldResources.Rollout, { namespace: ns.name })).items.filter((r) => r.status?.phase === 'Paused' && r.status.currentWeight === 20).length;
      return paused === NAMESPACES * FLAGS;
    });
  }, 120_000);
  afterAll(async () => {
    await setGlobal(null).catch(() => undefined);
    await operator?.stop();
    for (const ns of namespaces) await ns.dispose();
    await admin.close();
  });

  it('a global flip publishes every namespace before any Rollout status or Event it causes', async () => {
    try {
      const seen = await witness(() => setGlobal('true').then(() => undefined));
      const lastPublish = Math.max(...seen.firstSafe);
      expect(lastPublish).toBeLessThan(Infinity);
      expect(lastPublish, `publishes at ${seen.firstSafe.join(', ')}; first Rollout held at ${Math.min(...seen.firstHeld)}`).toBeLessThan(Math.min(...seen.firstHeld));
      expect(lastPublish, `first KillSwitchEngaged Event at ${Math.min(...seen.events)}`).toBeLessThan(Math.min(...seen.events));
      expect(seen.unsafeAfter).toEqual([]);
    } finally {
      await setGlobal(null);
    }
    await eventually('released: ramps published again, every KillSwitch condition False', async () => {
      for (const ns of namespaces) {
        const cm = await admin.get<ConfigMap>(Resources.ConfigMap, FLAGS_CONFIGMAP, ns.name);
        if (safeEverywhere(cm)) return false;
        for (const type of [ManyfoldResources.Rollout, ManyfoldResources.FeatureFlag]) {
          const items = (await admin.list<Rollout>(type, { namespace: ns.name })).items;
          if (items.some((o) => !o.status?.conditions?.some((c) => c.type === 'KillSwitch' && c.status === 'False'))) return false;
        }
      }
      return true;
    });
    expect(operator?.errors).toEqual([]);
  }, 120_000);

  it('a new leader that finds the switch engaged publishes the safe documents before anything else it writes', async () => {
    await operator?.stop();
    operator = undefined;
    try {
      const seen = await witness(async () => {
        await setGlobal('true');
        operator = await startManager(controllers());
      });
      const lastPublish = Math.max(...seen.firstSafe);
      expect(lastPublish).toBeLessThan(Infinity);
      expect(lastPublish).toBeLessThan(Math.min(...seen.firstHeld));
      expect(lastPublish).toBeLessThan(Math.min(...seen.events));
      expect(seen.unsafeAfter).toEqual([]);
      expect((operator as RunningManager | undefined)?.errors).toEqual([]);
    } finally {
      await setGlobal(null);
    }
  }, 120_000);
});
