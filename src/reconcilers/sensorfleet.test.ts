import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_STALE_NODES, parseSensorFleetSpec, withSensorFleetDefaults, type SensorFleetSpecInput, type SensorFleetStatus } from '../crds/sensorfleet.ts';
import { microTime, rfc3339 } from '../legos/clock.ts';
import { reconcileSensorFleet, withApplyFailures, type FleetObservation, type HeartbeatLease, type ObservedNode } from './sensorfleet.ts';
import { FleetLabel, HeartbeatAnnotations, heartbeatLeaseName } from './sensorfleet-agent.ts';
import { desiredChildren, type DesiredChild } from './sensorfleet-children.ts';
import { fleetHealth } from './sensorfleet-health.ts';

const NOW = Date.UTC(2026, 0, 1, 12);
const STALE_AFTER = 30;
const baseSpec: SensorFleetSpecInput = {
  nodeSelector: { edge: 'true' },
  sensors: [{ name: 'demo', source: { type: 'simulated' } }],
  sink: { type: 'http', url: 'http://collector:8080/ingest' },
  staleAfterSeconds: STALE_AFTER,
  degradedStaleFraction: 0.2,
};

interface LeaseDraft {
  node: string;
  ageMs: number | undefined;
  health: 'ok' | 'stale' | 'error' | undefined;
  backlog: number;
  sampleAgeMs: number | undefined;
}

function lease(d: LeaseDraft, fleet = 'edge'): HeartbeatLease {
  const annotations: Record<string, string> = { [HeartbeatAnnotations.backlogRecords]: String(d.backlog) };
  if (d.health) annotations[HeartbeatAnnotations.health] = d.health;
  if (d.health === 'error') annotations[HeartbeatAnnotations.healthMessage] = 'sink refused';
  if (d.sampleAgeMs !== undefined) annotations[HeartbeatAnnotations.lastSampleTime] = new Date(NOW - d.sampleAgeMs).toISOString();
  return {
    name: heartbeatLeaseName(fleet, d.node),
    labels: { [FleetLabel]: fleet, 'manyfold.dev/node': d.node },
    annotations,
    holderIdentity: d.node,
    ...(d.ageMs === undefined ? {} : { renewTime: microTime(NOW - d.ageMs) }),
  };
}

const names = Array.from({ length: 80 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
const worldArb = fc.record({
  nodes: fc.uniqueArray(fc.record({ name: fc.constantFrom(...names), edge: fc.boolean() }), { selector: (n) => n.name, maxLength: 80 }),
  leases: fc.uniqueArray(
    fc.record({
      node: fc.constantFrom(...names, 'gone-1', 'gone-2'),
      ageMs: fc.option(fc.integer({ min: -2000, max: 3 * STALE_AFTER * 1000 }), { nil: undefined }),
      health: fc.constantFrom('ok' as const, 'stale' as const, 'error' as const, undefined),
      backlog: fc.nat({ max: 10_000 }),
      sampleAgeMs: fc.option(fc.nat({ max: 600_000 }), { nil: undefined }),
    }),
    { selector: (l) => l.node, maxLength: 90 },
  ),
});
type World = { nodes: { name: string; edge: boolean }[]; leases: LeaseDraft[] };

const nodesOf = (w: World): ObservedNode[] => w.nodes.map((n) => ({ name: n.name, labels: { edge: String(n.edge) } }));

function daemonSet(facts: { desired: number; ready: number; updated?: number; available?: number; generation?: number; observedGeneration?: number }) {
  return {
    metadata: { generation: facts.generation ?? 1 },
    status: {
      observedGeneration: facts.observedGeneration ?? facts.generation ?? 1,
      desiredNumberScheduled: facts.desired,
      numberReady: facts.ready,
      updatedNumberScheduled: facts.updated ?? facts.desired,
      numberAvailable: facts.available ?? facts.ready,
    },
  };
}

import { DefaultSensorFleetPolicy } from './sensorfleet-policy.ts';

function observation(overrides: Partial<FleetObservation> & { specInput?: SensorFleetSpecInput } = {}): FleetObservation {
  const { specInput, ...rest } = overrides;
  return {
    name: 'edge',
    namespace: 'sensors',
    uid: 'uid-1',
    generation: 1,
    spec: { ok: true, value: withSensorFleetDefaults(specInput ?? baseSpec) },
    status: undefined,
    defaultImage: 'ghcr.io/manyfold-dev/manyfold:0.1.0',
    killSwitch: { engaged: false },
    children: {},
    nodes: [],
    heartbeats: [],
    ...rest,
  };
}

/** Children as the API server would return them: what was applied plus defaults and status. */
function applied(children: readonly DesiredChild[], ds: object): FleetObservation['children'] {
  return Object.fromEntries(
    children.map((c) => [c.kind, { ...structuredClone(c.object), metadata: { ...c.object.metadata, resourceVersion: '7', uid: `u-${c.kind}` }, ...(c.kind === 'DaemonSet' ? { status: (ds as { status: object }).status } : {}) }]),
  );
}

function world(w: World, extra: Partial<FleetObservation> = {}): FleetObservation {
  return observation({ nodes: nodesOf(w), heartbeats: w.leases.map((l) => lease(l)), ...extra });
}

describe('fleetHealth', () => {
  it('splits the selected nodes into reporting, stale, erroring and silent, with nothing left over', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const h = fleetHealth({ heartbeats: w.leases.map((l) => lease(l)), nodes: nodesOf(w), nodeSelector: { edge: 'true' }, staleAfterSeconds: STALE_AFTER, now: NOW });
        const selected = w.nodes.filter((n) => n.edge).map((n) => n.name).sort();
        expect(h.selected).toEqual(selected);
        const parts = [...h.reporting, ...h.stale, ...h.erroring.map((e) => e.node), ...h.silent];
        expect(parts.sort()).toEqual(selected);
        expect(h.reporting.length + h.stale.length + h.erroring.length + h.silent.length).toBe(selected.length);
      }),
    );
  });

  it('reports a node exactly while its Lease is younger than staleAfterSeconds and healthy, and sums their backlog', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const h = fleetHealth({ heartbeats: w.leases.map((l) => lease(l)), nodes: nodesOf(w), nodeSelector: { edge: 'true' }, staleAfterSeconds: STALE_AFTER, now: NOW });
        const selected = new Set(w.nodes.filter((n) => n.edge).map((n) => n.name));
        const fresh = (l: LeaseDraft) => l.ageMs !== undefined && l.ageMs <= STALE_AFTER * 1000;
        const expectReporting = w.leases.filter((l) => selected.has(l.node) && fresh(l) && (l.health === 'ok' || l.health === undefined));
        expect(h.reporting).toEqual(expectReporting.map((l) => l.node).sort());
        expect(h.stale).toEqual(w.leases.filter((l) => selected.has(l.node) && (!fresh(l) || l.health === 'stale')).map((l) => l.node).sort());
        expect(h.backlogRecords).toBe(expectReporting.reduce((n, l) => n + l.backlog, 0));
      }),
    );
  });

  it('removes Leases of nodes that are gone at once, and of unselected nodes once they are stale', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const h = fleetHealth({ heartbeats: w.leases.map((l) => lease(l)), nodes: nodesOf(w), nodeSelector: { edge: 'true' }, staleAfterSeconds: STALE_AFTER, now: NOW });
        const byName = new Map(w.nodes.map((n) => [n.name, n]));
        for (const l of w.leases) {
          const node = byName.get(l.node);
          const removal = h.remove.find((r) => r.node === l.node);
          const fresh = l.ageMs !== undefined && l.ageMs <= STALE_AFTER * 1000;
          if (!node) expect(removal?.reason).toBe('NodeGone');
          else if (!node.edge) expect(removal?.reason).toBe(fresh ? undefined : 'NodeNotSelected');
          else expect(removal).toBeUndefined();
          if (node && !node.edge && fresh) expect(h.leaving).toContain(l.node);
        }
      }),
    );
  });

  it('turns a node stale when its heartbeats stop, and says when', () => {
    const w: World = { nodes: [{ name: 'a', edge: true }], leases: [{ node: 'a', ageMs: 0, health: 'ok', backlog: 0, sampleAgeMs: 0 }] };
    const at = (now: number) => fleetHealth({ heartbeats: w.leases.map((l) => lease(l)), nodes: nodesOf(w), nodeSelector: { edge: 'true' }, staleAfterSeconds: STALE_AFTER, now });
    expect(at(NOW).reporting).toEqual(['a']);
    expect(at(NOW).nextChangeMs).toBe(NOW + STALE_AFTER * 1000 + 1);
    expect(at(NOW + STALE_AFTER * 1000).reporting).toEqual(['a']);
    expect(at(NOW + STALE_AFTER * 1000 + 1).stale).toEqual(['a']);
  });
});

describe('reconcileSensorFleet', () => {
  it('aggregates status: counts from the DaemonSet and heartbeats, a bounded sorted stale list, the exact count', () => {
    fc.assert(
      fc.property(worldArb, fc.nat({ max: 80 }), fc.nat({ max: 80 }), (w, desired, readyRaw) => {
        const ready = Math.min(desired, readyRaw);
        const plan = reconcileSensorFleet(world(w, { children: { DaemonSet: daemonSet({ desired, ready }) } }), NOW);
        const s = plan.status;
        const h = plan.health;
        expect(s.desiredNodes).toBe(desired);
        expect(s.readyNodes).toBe(ready);
        expect(s.reportingNodes).toBe(h?.reporting.length);
        expect(s.staleNodeCount).toBe(h?.stale.length);
        expect(s.staleNodes?.length).toBe(Math.min(MAX_STALE_NODES, h?.stale.length ?? 0));
        expect(s.staleNodes).toEqual([...(s.staleNodes ?? [])].sort());
        expect(s.staleNodes).toEqual(h?.stale.slice(0, MAX_STALE_NODES));
        expect(s.backlogRecords).toBe(h?.backlogRecords);
        expect(plan.delete).toEqual(h?.remove);
        const ready_ = s.conditions?.find((c) => c.type === 'Ready');
        expect(ready_?.status === 'True').toBe(desired > 0 && ready === desired && (h?.reporting.length ?? 0) >= desired);
        const degraded = s.conditions?.find((c) => c.type === 'Degraded');
        const counted = Math.max(desired, (h?.reporting.length ?? 0) + (h?.stale.length ?? 0) + (h?.erroring.length ?? 0));
        const tooStale = counted > 0 && (h?.stale.length ?? 0) / counted > 0.2;
        expect(degraded?.status === 'True').toBe(tooStale || (h?.erroring.length ?? 0) > 0);
        if (tooStale) expect(degraded?.reason).toBe('NodesStale');
        expect(plan.requeueAfterMs).toBeGreaterThanOrEqual(250);
        expect(plan.requeueAfterMs).toBeLessThanOrEqual(STALE_AFTER * 1000);
        if (h?.nextChangeMs !== undefined) expect(plan.requeueAfterMs).toBeLessThanOrEqual(Math.max(250, h.nextChangeMs - NOW));
      }),
      { numRuns: 200 },
    );
  });

  it('caps staleNodes at MAX_STALE_NODES, sorted, while staleNodeCount stays exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (count) => {
        const stale = Array.from({ length: count }, (_, i) => `n-${(i * 7919) % 1000}-${i}`);
        const plan = reconcileSensorFleet(
          observation({
            nodes: stale.map((name) => ({ name, labels: { edge: 'true' } })),
            heartbeats: stale.map((node) => lease({ node, ageMs: 60_000, health: 'ok', backlog: 1, sampleAgeMs: undefined })),
          }),
          NOW,
        );
        expect(plan.status.staleNodeCount).toBe(count);
        expect(plan.status.staleNodes).toEqual([...stale].sort().slice(0, MAX_STALE_NODES));
        expect(plan.status.backlogRecords).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it('never moves lastSampleTime back', () => {
    fc.assert(
      fc.property(worldArb, fc.integer({ min: -600_000, max: 600_000 }), (w, offset) => {
        const previous = rfc3339(NOW + offset);
        const plan = reconcileSensorFleet(world(w, { status: { lastSampleTime: previous } }), NOW);
        expect(Date.parse(plan.status.lastSampleTime ?? '')).toBeGreaterThanOrEqual(Date.parse(previous));
      }),
    );
  });

  it('creates every child on first sight, then applies nothing once they are in place', () => {
    const first = reconcileSensorFleet(observation(), NOW);
    expect(first.apply.map((c) => c.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'DaemonSet']);
    expect(first.events.map((e) => e.reason)).toContain('DaemonSetCreated');
    const children = applied(first.apply, daemonSet({ desired: 2, ready: 2 }));
    const second = reconcileSensorFleet(observation({ children }), NOW);
    expect(second.apply).toEqual([]);
    expect(second.status.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('RolledOut');
  });

  it('republishes only the ConfigMap when the config changes, and the DaemonSet when the pod must change', () => {
    const first = reconcileSensorFleet(observation(), NOW);
    const children = applied(first.apply, daemonSet({ desired: 1, ready: 1 }));
    const configChange = reconcileSensorFleet(observation({ children, generation: 2, specInput: { ...baseSpec, staleAfterSeconds: 45 } }), NOW);
    expect(configChange.apply.map((c) => c.kind)).toEqual(['ConfigMap', 'DaemonSet']);
    const ds = configChange.apply.find((c) => c.kind === 'DaemonSet');
    // Only the DaemonSet's annotation changed, not its pod template.
    expect((ds?.object['spec'] as { template: unknown }).template).toEqual((children.DaemonSet as { spec: { template: unknown } }).spec.template);
    expect(configChange.events.map((e) => e.reason)).toContain('ConfigPublished');
    const policy = { ...DefaultSensorFleetPolicy, allowedImages: ['example.com/agent:2'] };
    const imageChange = reconcileSensorFleet(observation({ children, policy, specInput: { ...baseSpec, image: 'example.com/agent:2' } }), NOW);
    expect(imageChange.apply.map((c) => c.kind)).toEqual(['DaemonSet']);
    expect(imageChange.status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });

  it('is Ready when every desired node is ready and reporting, and explains otherwise', () => {
    const nodes = ['a', 'b'].map((name) => ({ name, labels: { edge: 'true' } }));
    const fresh = (node: string) => lease({ node, ageMs: 1000, health: 'ok', backlog: 5, sampleAgeMs: 1000 });
    const children = applied(desiredChildren({ name: 'edge', namespace: 'sensors', uid: 'uid-1', spec: withSensorFleetDefaults(baseSpec), config: { text: '', hash: '' }, defaultImage: 'x', spoolRoot: '/var/lib/manyfold/spool' }), daemonSet({ desired: 2, ready: 2 }));
    const ready = reconcileSensorFleet(observation({ nodes, heartbeats: [fresh('a'), fresh('b')], children: { DaemonSet: children.DaemonSet } }), NOW);
    expect(ready.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AllNodesReporting' });
    expect(ready.events.map((e) => e.reason)).toContain('FleetReady');
    const oneSilent = reconcileSensorFleet(observation({ nodes, heartbeats: [fresh('a')], children: { DaemonSet: children.DaemonSet } }), NOW);
    expect(oneSilent.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NodesNotReporting' });
    expect(oneSilent.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('no heartbeat yet: b');
    const none = reconcileSensorFleet(observation({ children: { DaemonSet: daemonSet({ desired: 0, ready: 0 }) } }), NOW);
    expect(none.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'NoNodesSelected' });
    expect(none.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('spec.nodeSelector');
    const notReady = reconcileSensorFleet(observation({ nodes, children: { DaemonSet: daemonSet({ desired: 2, ready: 1 }) } }), NOW);
    expect(notReady.status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('AgentsNotReady');
    const erroring = reconcileSensorFleet(observation({ nodes, heartbeats: [fresh('a'), lease({ node: 'b', ageMs: 0, health: 'error', backlog: 0, sampleAgeMs: undefined })], children: { DaemonSet: children.DaemonSet } }), NOW);
    expect(erroring.status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'AgentErrors' });
    expect(erroring.status.conditions?.find((c) => c.type === 'Degraded')?.message).toContain('b: sink refused');
  });

  it('reports InvalidSpec naming the field, applies nothing and keeps the last counts', () => {
    const status: SensorFleetStatus = { desiredNodes: 3, readyNodes: 3 };
    const bad = reconcileSensorFleet(observation({ status, specInput: { ...baseSpec, spool: { path: '/etc' } } }), NOW);
    expect(bad.apply).toEqual([]);
    expect(bad.delete).toEqual([]);
    expect(bad.status).toMatchObject({ desiredNodes: 3, readyNodes: 3, observedGeneration: 1 });
    expect(bad.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(bad.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('spec.spool.path');
    expect(bad.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'InvalidSpec' })]);
    expect(bad.requeueAfterMs).toBeUndefined();
    const unparsed = reconcileSensorFleet(observation({ spec: { ok: false, message: 'spec.sensors[0].intervalMs: too small' } }), NOW);
    expect(unparsed.status.conditions?.find((c) => c.type === 'Ready')?.message).toBe('spec.sensors[0].intervalMs: too small');
  });

  it('refuses staleAfterSeconds below 3 with a message that says why (an object stored before the minimum was raised)', () => {
    const parsed = parseSensorFleetSpec({ ...baseSpec, staleAfterSeconds: 1 });
    expect(parsed.ok).toBe(false);
    const plan = reconcileSensorFleet(observation({ spec: parsed }), NOW);
    const ready = plan.status.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready?.message).toContain('staleAfterSeconds');
    expect(ready?.message).toContain('must be at least 3: agents heartbeat every max(1, staleAfterSeconds/3) s');
    expect(plan.apply).toEqual([]);
    expect(parseSensorFleetSpec({ ...baseSpec, staleAfterSeconds: 3 }).ok).toBe(true);
  });

  it('freezes children and heartbeat cleanup under the kill switch, and still reports', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const plan = reconcileSensorFleet(world(w, { killSwitch: { engaged: true, scope: 'global' } }), NOW);
        expect(plan.apply).toEqual([]);
        expect(plan.delete).toEqual([]);
        expect(plan.status.reportingNodes).toBe(plan.health?.reporting.length);
        expect(plan.status.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('KillSwitchEngaged');
      }),
      { numRuns: 50 },
    );
  });

  it('writes per-heartbeat aggregates at most once per refresh interval, unless something else changed', () => {
    const nodes = [{ name: 'a', labels: { edge: 'true' } }];
    const beat = (backlog: number) => [lease({ node: 'a', ageMs: 0, health: 'ok', backlog, sampleAgeMs: 0 })];
    const first = reconcileSensorFleet(observation({ nodes, heartbeats: beat(1) }), NOW);
    const previous = first.status;
    const soon = reconcileSensorFleet(observation({ nodes, heartbeats: beat(2), status: previous, lastStatusWriteMs: NOW - 1000 }), NOW);
    expect(soon.status).toEqual(previous);
    expect(soon.requeueAfterMs).toBeLessThanOrEqual(9000);
    const later = reconcileSensorFleet(observation({ nodes, heartbeats: beat(2), status: previous, lastStatusWriteMs: NOW - 10_000 }), NOW);
    expect(later.status.backlogRecords).toBe(2);
    const staleNow = reconcileSensorFleet(observation({ nodes, heartbeats: [lease({ node: 'a', ageMs: 31_000, health: 'ok', backlog: 2, sampleAgeMs: 0 })], status: previous, lastStatusWriteMs: NOW - 1000 }), NOW);
    expect(staleNow.status.staleNodeCount).toBe(1);
  });

  it('turns refused applies into InvalidChild and transient ones into ApplyFailed', () => {
    const plan = reconcileSensorFleet(observation(), NOW);
    const refused = withApplyFailures(plan, [{ kind: 'DaemonSet', message: 'spec.template: invalid', invalid: true }], { now: NOW, generation: 1 });
    expect(refused.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'InvalidChild', message: 'DaemonSet: spec.template: invalid' });
    expect(refused.status.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('True');
    const transient = withApplyFailures(plan, [{ kind: 'ConfigMap', message: 'timeout', invalid: false }], { now: NOW, generation: 1 });
    expect(transient.status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('ApplyFailed');
  });
});
