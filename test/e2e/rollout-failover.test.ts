/**
 * SIGKILL of the leading operator in the middle of a Rollout, with real `manyfold
 * operator` processes (lease 3 s): killed during a timed pause, the new leader resumes
 * at the same step (the pause keeps its checkpointed start; no step is repeated or
 * skipped); killed while a Namespace kill switch is engaged, the next leader keeps the
 * safe variant published (it enforces the switch first thing in its term) and the
 * Rollout held where it was; released, it continues from that step, not from the start.
 *
 * Witnesses (watches in this process, every version of every object): the Rollout's
 * step index and weight never go down, each step's WeightSet happens once, and no
 * published document serves a weight above what the Rollout's steps had reached
 * (compared by resourceVersion, the revision of the one etcd behind the API server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../src/crds/common.ts';
import { ManyfoldResources } from '../../src/crds/index.ts';
import type { RolloutStatus } from '../../src/crds/rollout.ts';
import type { FlagdDocument } from '../../src/legos/flagd/document.ts';
import { FLAGS_CONFIGMAP, NAMESPACE_DOCUMENT_KEY } from '../../src/legos/flagd/sources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { Informer } from '../../src/runtime/informer/informer.ts';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';

type Rollout = KubeObject & { status?: RolloutStatus };
type ConfigMap = KubeObject & { data?: Record<string, string> };
const KILL = 'manyfold.dev/kill-switch';
const PAUSE_S = 8;
const STEPS = [{ setWeight: 10 }, { pause: { duration: `${PAUSE_S}s` } }, { setWeight: 30 }, { pause: {} }, { setWeight: 100 }];

/** What a published definition of the flag serves: `safe` under a kill switch, else the ramp's weight (0 without one). */
function servedOf(cm: ConfigMap): 'safe' | number {
  const flag = (JSON.parse(cm.data?.[NAMESPACE_DOCUMENT_KEY] ?? '{"flags":{}}') as FlagdDocument).flags['checkout'];
  if (flag?.metadata?.['killSwitch'] === true) return 'safe';
  const w = flag?.metadata?.['rolloutWeight'];
  return typeof w === 'number' ? w : 0;
}

describe('Rollout across a SIGKILL of the leader', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  const processes: OperatorProcess[] = [];
  const stop = new AbortController();
  const rollouts: { rv: number; status: RolloutStatus }[] = [];
  const documents: { rv: number; served: 'safe' | number }[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'mro-failover');
    const watch = <T extends KubeObject>(type: ResourceType, labelSelector: string | undefined, seen: (o: T) => void) => {
      const informer = new Informer<T>({ client: admin, type, namespace: ns.name, labelSelector });
      informer.addHandler({ onAdd: seen, onUpdate: (_old, o) => seen(o) });
      void informer.start(stop.signal);
      return informer.waitForSync(stop.signal);
    };
    await watch<Rollout>(ManyfoldResources.Rollout, undefined, (r) => {
      if (r.status?.phase !== undefined) rollouts.push({ rv: Number(r.metadata.resourceVersion), status: r.status });
    });
    await watch<ConfigMap>(Resources.ConfigMap, 'manyfold.dev/flags', (cm) => {
      if (cm.metadata.name === FLAGS_CONFIGMAP) documents.push({ rv: Number(cm.metadata.resourceVersion), served: servedOf(cm) });
    });
  });
  afterAll(async () => {
    stop.abort();
    for (const p of processes) await p.stop();
    await ns.dispose();
    await admin.close();
  });

  const start = async (role: 'leader' | 'follower') => {
    const p = startOperatorProcess();
    processes.push(p);
    await p.waitForLog((l) => l['event'] === (role === 'leader' ? 'leader_elected' : 'election_started'), 30_000);
    return p;
  };
  const get = async () => (await admin.get<Rollout>(ManyfoldResources.Rollout, 'checkout', ns.name)).status;
  const until = (what: string, ok: (s: RolloutStatus) => boolean, timeoutMs = 60_000) =>
    eventually(what, async () => {
      const s = await get();
      return s !== undefined && ok(s) ? s : false;
    }, { timeoutMs, intervalMs: 50 });
  const setNamespaceSwitch = (value: string | null) => admin.patch(Resources.Namespace, { name: ns.name }, { metadata: { annotations: { [KILL]: value } } }, { type: 'merge' });
  const latestServed = async () => servedOf(await admin.get<ConfigMap>(Resources.ConfigMap, FLAGS_CONFIGMAP, ns.name));
  const held = (s: RolloutStatus) => s.conditions?.some((c) => c.type === 'KillSwitch' && c.status === 'True') === true;

  it('resumes at the same step after a SIGKILL mid-pause, and keeps an engaged kill switch enforced across another', async () => {
    const a = await start('leader');
    const b = await start('follower');
    await admin.apply({ apiVersion: API_VERSION, kind: 'FeatureFlag', metadata: { name: 'checkout', namespace: ns.name }, spec: { variants: { new: 'new', old: 'old' }, defaultVariant: 'old', safeVariant: 'old' } }, { fieldManager: 'test' });
    await admin.apply({ apiVersion: API_VERSION, kind: 'Rollout', metadata: { name: 'checkout', namespace: ns.name }, spec: { flagRef: { name: 'checkout' }, variant: 'new', steps: STEPS } }, { fieldManager: 'test' });

    // 1. SIGKILL during the timed pause of step 1 (weight 10).
    const pausing = await until('in the timed pause at 10 %', (s) => s.phase === 'Paused' && s.currentStepIndex === 1 && s.currentWeight === 10);
    const pauseStarted = Date.parse(pausing.stepStartTime ?? '');
    process.kill(a.pid, 'SIGKILL');
    await b.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    const atResume = await until('paused at step 3 (30 %) under the new leader', (s) => s.phase === 'Paused' && s.currentStepIndex === 3);
    expect(atResume.currentWeight).toBe(30);
    const weightSets = (s: RolloutStatus) => (s.history ?? []).filter((h) => h.reason === 'WeightSet');
    expect(weightSets(atResume).map((h) => h.weight)).toEqual([10, 30]);
    expect((atResume.history ?? []).filter((h) => h.reason === 'RolloutPaused').map((h) => h.step)).toEqual([1, 3]);
    // The pause kept its checkpointed start: it ended PAUSE_S after it began, not PAUSE_S after
    // the new leader took over (which comes at least one lease duration, 3 s, after the kill).
    const pauseEnded = Date.parse(weightSets(atResume)[1]?.time ?? '');
    expect(pauseEnded - pauseStarted).toBeGreaterThanOrEqual((PAUSE_S - 1) * 1000);
    expect(pauseEnded - pauseStarted).toBeLessThan((PAUSE_S + 2.5) * 1000);
    await eventually('30 % published', async () => (await latestServed()) === 30);

    // 2. A Namespace kill switch, enforced; then SIGKILL of the leader while it is engaged.
    const c = await start('follower');
    await setNamespaceSwitch('true');
    await eventually('safe variant published', async () => (await latestServed()) === 'safe', { timeoutMs: 15_000, intervalMs: 50 });
    const before = await until('held by the kill switch', held);
    expect(before).toMatchObject({ phase: 'Paused', heldPhase: 'Paused', currentStepIndex: 3, currentWeight: 30 });
    const safeFrom = documents.find((d) => d.served === 'safe')?.rv ?? Infinity;
    process.kill(b.pid, 'SIGKILL');
    await c.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    await c.waitForLog((l) => l['event'] === 'kill_switch_enforced', 10_000);
    // The new leader resynced everything after enforcing the switch; give its queue a moment.
    await c.waitForLog((l) => l['event'] === 'controller_started' && l['controller'] === 'rollout', 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await latestServed()).toBe('safe');
    expect(documents.filter((d) => d.rv > safeFrom && d.served !== 'safe')).toEqual([]);
    expect(await get()).toMatchObject({ phase: 'Paused', heldPhase: 'Paused', currentStepIndex: 3, currentWeight: 30 });
    expect(held((await get()) ?? {})).toBe(true);

    // 3. Release: continues from step 3 at 30 %, not from the start; a resume finishes it.
    await setNamespaceSwitch(null);
    await eventually('30 % published again', async () => (await latestServed()) === 30, { timeoutMs: 15_000 });
    const released = await until('released', (s) => !held(s));
    expect(released).toMatchObject({ phase: 'Paused', currentStepIndex: 3, currentWeight: 30 });
    await admin.patch(ManyfoldResources.Rollout, { name: 'checkout', namespace: ns.name }, { metadata: { annotations: { 'manyfold.dev/resume': 'go-1' } } }, { type: 'merge' });
    const done = await until('completed', (s) => s.phase === 'Completed');
    expect(weightSets(done).map((h) => h.weight)).toEqual([10, 30, 100]);
    await eventually('100 % published', async () => (await latestServed()) === 100);

    // Witnesses over every version seen: step and weight never went down, and no document served
    // a weight above what the Rollout's steps had reached at that revision.
    for (let i = 1; i < rollouts.length; i++) {
      const [p, q] = [rollouts[i - 1]?.status, rollouts[i]?.status];
      expect(q?.currentStepIndex ?? 0, `version ${i}`).toBeGreaterThanOrEqual(p?.currentStepIndex ?? 0);
      expect(q?.currentWeight ?? 0, `version ${i}`).toBeGreaterThanOrEqual(p?.currentWeight ?? 0);
    }
    const weights = new Set(rollouts.map((r) => r.status.currentWeight ?? 0));
    expect([...weights].every((w) => [0, 10, 30, 100].includes(w))).toBe(true);
    expect([...weights]).toEqual(expect.arrayContaining([10, 30, 100]));
    for (const d of documents) {
      if (d.served === 'safe') continue;
      const reached = Math.max(0, ...rollouts.filter((r) => r.rv < d.rv).map((r) => r.status.currentWeight ?? 0));
      expect(d.served, `document at revision ${d.rv}`).toBeLessThanOrEqual(reached);
    }
    expect(documents.map((d) => d.served)).toEqual(expect.arrayContaining([10, 30, 'safe', 100]));
  }, 240_000);
});
