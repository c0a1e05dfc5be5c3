import { describe, expect, it } from 'vitest';
import { ManualClock } from '../legos/clock.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { KubeObject } from '../kube/types.ts';
import { silentLogger } from '../runtime/log.ts';
import { Heartbeat, beatTimeoutMs, type LeaseApi } from './heartbeat.ts';
import type { HeartbeatReport } from './lease.ts';
import { AgentStats } from './stats.ts';

const report: HeartbeatReport = {
  namespace: 'edge',
  fleet: 'f',
  node: 'n1',
  staleAfterSeconds: 30,
  health: 'ok',
  message: '',
  backlogRecords: 0,
  backlogBytes: 0,
  lastSampleTimeMs: undefined,
  agentVersion: 'test',
};

function apiError(code: number, reason: string): KubeApiError {
  return new KubeApiError({ code, reason, message: reason, request: 'test' });
}

/** An in-memory Lease store with optimistic concurrency, and failure injection. */
class FakeLeases implements LeaseApi {
  readonly store = new Map<string, KubeObject>();
  version = 0;
  calls: string[] = [];
  /** Errors to throw from the next calls, by verb. */
  readonly inject: { get: KubeApiError[]; create: KubeApiError[]; replace: KubeApiError[] } = { get: [], create: [], replace: [] };

  async get<T extends KubeObject>(_type: unknown, name: string, namespace?: string): Promise<T> {
    this.calls.push('get');
    const injected = this.inject.get.shift();
    if (injected) throw injected;
    const found = this.store.get(`${namespace}/${name}`);
    if (!found) throw apiError(404, 'NotFound');
    return structuredClone(found) as T;
  }

  async create<T extends KubeObject>(_type: unknown, object: KubeObject): Promise<T> {
    this.calls.push('create');
    const injected = this.inject.create.shift();
    if (injected) throw injected;
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    if (this.store.has(key)) throw apiError(409, 'AlreadyExists');
    const stored = { ...structuredClone(object), metadata: { ...object.metadata, resourceVersion: String(++this.version) } };
    this.store.set(key, stored);
    return stored as T;
  }

  async replace<T extends KubeObject>(_type: unknown, object: KubeObject): Promise<T> {
    this.calls.push('replace');
    const injected = this.inject.replace.shift();
    if (injected) throw injected;
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const current = this.store.get(key);
    if (!current) throw apiError(404, 'NotFound');
    if (current.metadata.resourceVersion !== object.metadata.resourceVersion) throw apiError(409, 'Conflict');
    const stored = { ...structuredClone(object), metadata: { ...object.metadata, resourceVersion: String(++this.version) } };
    this.store.set(key, stored);
    return stored as T;
  }
}

function setup(next: () => HeartbeatReport | undefined = () => report) {
  const api = new FakeLeases();
  const stats = new AgentStats();
  const clock = new ManualClock();
  const heartbeat = new Heartbeat({ api, clock, log: silentLogger, stats, report: next, intervalSeconds: () => 10 });
  return { api, stats, clock, heartbeat };
}

describe('Heartbeat', () => {
  it('creates the Lease when missing, then renews it with the resourceVersion it read', async () => {
    const { api, stats, clock, heartbeat } = setup();
    expect(await heartbeat.beat()).toBe(true);
    expect(api.calls).toEqual(['get', 'create']);
    const first = api.store.get('edge/f-n1') as KubeObject & { spec: { renewTime: string; acquireTime: string } };
    clock.advance(10_000);
    expect(await heartbeat.beat()).toBe(true);
    const second = api.store.get('edge/f-n1') as KubeObject & { spec: { renewTime: string; acquireTime: string } };
    expect(api.calls).toEqual(['get', 'create', 'get', 'replace']);
    expect(second.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(second.spec.renewTime).not.toBe(first.spec.renewTime);
    expect(second.metadata.resourceVersion).toBe('2');
    expect(stats.heartbeats).toBe(2);
  });

  it('re-reads and retries on a conflict, and on a create race', async () => {
    const { api, heartbeat } = setup();
    api.inject.create.push(apiError(409, 'AlreadyExists'));
    api.store.set('edge/f-n1', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'f-n1', namespace: 'edge', resourceVersion: '7' } });
    api.inject.get.push(apiError(404, 'NotFound')); // it looked missing at first
    expect(await heartbeat.beat()).toBe(true);
    expect(api.calls).toEqual(['get', 'create', 'get', 'replace']);
    api.calls = [];
    api.inject.replace.push(apiError(409, 'Conflict'));
    expect(await heartbeat.beat()).toBe(true);
    expect(api.calls).toEqual(['get', 'replace', 'get', 'replace']);
  });

  it('counts failures and never throws; skips beats without a config', async () => {
    const { api, stats, heartbeat } = setup();
    api.inject.get.push(apiError(503, 'ServiceUnavailable'));
    expect(await heartbeat.beat()).toBe(false);
    for (let i = 0; i < 3; i++) api.inject.replace.push(apiError(409, 'Conflict'));
    api.store.set('edge/f-n1', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'f-n1', namespace: 'edge', resourceVersion: '1' } });
    expect(await heartbeat.beat()).toBe(false); // gives up after a few conflicts in one beat
    expect(stats.heartbeatFailures).toBe(2);
    expect(await heartbeat.beat()).toBe(true);
    const idle = setup(() => undefined);
    expect(await idle.heartbeat.beat()).toBe(false);
    expect(idle.api.calls).toEqual([]);
  });

  it('gives a beat at least 5 s, so a 1 s interval survives an API server slower than 1 s', async () => {
    expect([1, 3, 20, 60].map(beatTimeoutMs)).toEqual([5000, 5000, 20_000, 30_000]);
    const api = new FakeLeases();
    const slowGet = api.get.bind(api);
    api.get = async (type, name, namespace) => {
      await new Promise((r) => setTimeout(r, 1200));
      return slowGet(type, name, namespace);
    };
    const stats = new AgentStats();
    const heartbeat = new Heartbeat({ api, clock: new ManualClock(), log: silentLogger, stats, report: () => report, intervalSeconds: () => 1 });
    expect(await heartbeat.beat()).toBe(true);
    expect(stats.heartbeatFailures).toBe(0);
  });

  it('beats every interval on the clock until aborted', async () => {
    const { api, clock, heartbeat, stats } = setup();
    const controller = new AbortController();
    const running = heartbeat.run(controller.signal);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(10_000);
    }
    await new Promise((r) => setImmediate(r));
    controller.abort();
    await running;
    expect(stats.heartbeats).toBe(4);
    expect(api.store.size).toBe(1);
  });
});
