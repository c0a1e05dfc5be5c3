import { describe, expect, it } from 'vitest';
import { ManualClock } from '../legos/clock.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { ManyfoldResources } from '../crds/index.ts';
import { killSwitchTriggers } from './kill-switch.ts';
import { UrgentGate, mergeScopes, namespacesScope } from './urgent.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('UrgentGate', () => {
  it('closes synchronously when work is held, and lets waiters through only once it settles', async () => {
    const gate = new UrgentGate({ clock: new ManualClock() });
    const order: string[] = [];
    let finish!: () => void;
    const held = gate.hold(() => new Promise<void>((resolve) => (finish = resolve)).then(() => void order.push('urgent')));
    expect(gate.open).toBe(false);
    const waiting = gate.whenOpen(new AbortController().signal).then(() => void order.push('reconcile'));
    await tick();
    expect(order).toEqual([]);
    finish();
    await Promise.all([held, waiting]);
    expect(order).toEqual(['urgent', 'reconcile']);
    expect(gate.open).toBe(true);
  });

  it('stays closed while any of two holds runs', async () => {
    const gate = new UrgentGate({ clock: new ManualClock() });
    let a!: () => void;
    let b!: () => void;
    const first = gate.hold(() => new Promise<void>((resolve) => (a = resolve)));
    const second = gate.hold(() => new Promise<void>((resolve) => (b = resolve)));
    a();
    await first;
    expect(gate.open).toBe(false);
    b();
    await second;
    expect(gate.open).toBe(true);
  });

  it('opens after maxHoldMs even if the work hangs, and a waiter leaves when its signal aborts', async () => {
    const clock = new ManualClock();
    const gate = new UrgentGate({ clock, maxHoldMs: 1000 });
    void gate.hold(() => new Promise<void>(() => undefined));
    const stop = new AbortController();
    let left = false;
    void gate.whenOpen(stop.signal).then(() => (left = true));
    clock.advance(999);
    await tick();
    expect(gate.open).toBe(false);
    stop.abort();
    await tick();
    expect(left).toBe(true);
    clock.advance(1);
    await tick();
    expect(gate.open).toBe(true);
  });

  it('passes the work result and failure through', async () => {
    const gate = new UrgentGate({ clock: new ManualClock() });
    expect(await gate.hold(() => Promise.resolve(42))).toBe(42);
    await expect(gate.hold(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.open).toBe(true);
  });
});

describe('mergeScopes', () => {
  it('unites namespaces, and everything absorbs the rest', () => {
    const merged = mergeScopes(namespacesScope('a'), namespacesScope('b', 'a'));
    expect(merged.all ? 'all' : [...merged.namespaces].sort()).toEqual(['a', 'b']);
    expect(mergeScopes(namespacesScope('a'), { all: true })).toEqual({ all: true });
    expect(mergeScopes(undefined, namespacesScope('c'))).toEqual(namespacesScope('c'));
  });
});

describe('killSwitchTriggers', () => {
  const triggers = killSwitchTriggers('manyfold-system', [ManyfoldResources.FeatureFlag]);
  const obj = (name: string, namespace: string | undefined, kill?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'X',
    metadata: { name, ...(namespace === undefined ? {} : { namespace }), ...(kill === undefined ? {} : { annotations: { 'manyfold.dev/kill-switch': kill } }) },
  });
  const byType = (plural: string) => {
    const t = triggers.find((x) => x.type.plural === plural);
    if (t === undefined) throw new Error(plural);
    return t;
  };

  it('fires on flips only: the config for every namespace, a Namespace or an object for its namespace', () => {
    const config = byType(Resources.ConfigMap.plural);
    expect(config.selector?.fieldSelector).toBe('metadata.name=manyfold-config');
    expect(config.affects(obj('manyfold-config', 'manyfold-system'), obj('manyfold-config', 'manyfold-system', 'true'))).toEqual({ all: true });
    expect(config.affects(obj('manyfold-config', 'manyfold-system', 'true'), obj('manyfold-config', 'manyfold-system', 'TRUE'))).toBeUndefined();
    expect(config.affects(obj('manyfold-config', 'manyfold-system', 'true'), obj('manyfold-config', 'manyfold-system'))).toEqual({ all: true });
    const ns = byType(Resources.Namespace.plural);
    expect(ns.affects(obj('team-a', undefined), obj('team-a', undefined, 'true'))).toEqual(namespacesScope('team-a'));
    expect(ns.affects(obj('team-a', undefined), obj('team-a', undefined, 'false'))).toBeUndefined();
    const flag = byType(ManyfoldResources.FeatureFlag.plural);
    expect(flag.affects(undefined, obj('f', 'team-b', 'true'))).toEqual(namespacesScope('team-b'));
    expect(flag.affects(obj('f', 'team-b', 'true'), undefined)).toEqual(namespacesScope('team-b'));
    expect(flag.affects(undefined, obj('f', 'team-b'))).toBeUndefined();
  });
});
