import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AgentConfig, defaultHeartbeatIntervalSeconds, parseAgentConfig, parseFleetIdentity, planReload } from './config.ts';

const base = {
  version: 1,
  fleet: { namespace: 'edge', name: 'plant-a', uid: 'u-1', generation: 3 },
  sensors: [
    { name: 'temp', source: { type: 'simulated' }, intervalMs: 100 },
    { name: 'door', source: { type: 'file', path: '/sys/door' }, filters: [{ type: 'change' }] },
  ],
  spool: { maxBytes: 1048576, maxAgeSeconds: 3600, overflow: 'block' },
  sink: { type: 'http', url: 'http://collector:8080/ingest' },
  staleAfterSeconds: 30,
};

function parse(value: unknown) {
  return parseAgentConfig(JSON.stringify(value));
}

function ok(value: unknown): AgentConfig {
  const result = parse(value);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

describe('parseAgentConfig', () => {
  it('accepts the contract document and applies the CRD defaults', () => {
    const config = ok(base);
    expect(config.fleet).toEqual(base.fleet);
    expect(config.sensors[0]?.source).toEqual({ type: 'simulated', waveform: 'sine', base: 0, amplitude: 1, noise: 0, periodMs: 60_000 });
    expect(config.sensors[1]?.intervalMs).toBe(1000);
    expect(config.sink).toEqual({ type: 'http', url: 'http://collector:8080/ingest', batchSize: 100, timeoutMs: 10_000 });
    expect(config.spool.overflow).toBe('block');
    expect(config.heartbeatIntervalSeconds).toBe(10);
  });

  it('derives the heartbeat interval as max(1, floor(staleAfterSeconds / 3)) unless given', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 86_400 }), (stale) => {
        const config = ok({ ...base, staleAfterSeconds: stale });
        expect(config.heartbeatIntervalSeconds).toBe(Math.max(1, Math.floor(stale / 3)));
        expect(defaultHeartbeatIntervalSeconds(stale)).toBe(config.heartbeatIntervalSeconds);
      }),
      { numRuns: 50 },
    );
    expect(ok({ ...base, heartbeatIntervalSeconds: 7 }).heartbeatIntervalSeconds).toBe(7);
  });

  it.each([
    [{ ...base, version: 2 }, 'version'],
    [{ ...base, fleet: { ...base.fleet, namespace: 'Bad_NS' } }, 'fleet.namespace'],
    [{ ...base, sensors: [{ name: 'x', source: { type: 'serial', path: '/dev/tty' } }] }, 'sensors[0].source.type'],
    [{ ...base, sensors: [{ name: 'x', source: { type: 'file', path: 'relative' } }] }, 'sensors[0].source.path'],
    [{ ...base, sensors: [{ name: 'x', source: { type: 'simulated' }, intervalMs: -5 }] }, 'sensors[0].intervalMs'],
    [{ ...base, sensors: [{ name: 'x', source: { type: 'simulated' }, filters: [{ type: 'threshold' }] }] }, 'sensors[0].filters[0].threshold'],
    [{ ...base, sensors: [base.sensors[0], base.sensors[0]] }, 'sensors[1]'],
    [{ ...base, spool: { maxBytes: 1024 } }, 'spool.maxBytes'],
    [{ ...base, spool: { overflow: 'dropNewest' } }, 'spool.overflow'],
    [{ ...base, sink: { type: 'kafka' } }, 'sink.type'],
    [{ ...base, staleAfterSeconds: 0 }, 'staleAfterSeconds'],
  ])('rejects a bad field and names it (%#)', (value, field) => {
    const result = parse(value);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.field)).toContain(field);
    expect(result.message).toContain(`${field}:`);
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const result = parseAgentConfig(text);
        if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
    expect(parseAgentConfig('{nope').ok).toBe(false);
  });

  it('reads the fleet identity from a config that is invalid elsewhere', () => {
    expect(parseFleetIdentity(JSON.stringify({ ...base, sensors: [] }))).toEqual(base.fleet);
    expect(parseFleetIdentity('{')).toBeUndefined();
    expect(parseFleetIdentity(JSON.stringify({ fleet: { namespace: 'a/b', name: 'x' } }))).toBeUndefined();
  });
});

describe('planReload', () => {
  const sensorArb = fc.record({
    name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    intervalMs: fc.constantFrom(10, 100, 1000),
    amplitude: fc.constantFrom(1, 2),
  });
  const setArb = fc.uniqueArray(sensorArb, { selector: (s) => s.name, maxLength: 5 });
  const toConfig = (sensors: { name: string; intervalMs: number; amplitude: number }[], extra: object = {}) =>
    ok({ ...base, ...extra, sensors: sensors.length === 0 ? [{ name: 'z', source: { type: 'simulated' } }] : sensors.map((s) => ({ name: s.name, intervalMs: s.intervalMs, source: { type: 'simulated', amplitude: s.amplitude } })) });

  it('partitions the sensor names: new ones start, gone ones stop, changed ones restart, equal ones keep running', () => {
    fc.assert(
      fc.property(setArb, setArb, (before, after) => {
        const current = toConfig(before);
        const next = toConfig(after);
        const plan = planReload(current, next);
        const oldNames = new Set(current.sensors.map((s) => s.name));
        const newNames = new Set(next.sensors.map((s) => s.name));
        expect(new Set([...plan.start, ...plan.restart, ...plan.keep])).toEqual(newNames);
        expect(new Set([...plan.stop, ...plan.restart, ...plan.keep])).toEqual(oldNames);
        for (const name of plan.start) expect(oldNames.has(name)).toBe(false);
        for (const name of plan.stop) expect(newNames.has(name)).toBe(false);
        for (const name of plan.keep) expect(current.sensors.find((s) => s.name === name)).toEqual(next.sensors.find((s) => s.name === name));
        for (const name of plan.restart) expect(current.sensors.find((s) => s.name === name)).not.toEqual(next.sensors.find((s) => s.name === name));
        expect(plan.sinkChanged).toBe(false);
        expect(plan.spoolChanged).toBe(false);
      }),
    );
  });

  it('rebuilds the forwarder for a new sink and reopens the spool for new limits or identity, with reasons', () => {
    const current = ok(base);
    const sink = planReload(current, ok({ ...base, sink: { type: 'stdout' } }));
    expect(sink).toMatchObject({ sinkChanged: true, spoolChanged: false, restart: [], keep: ['temp', 'door'] });
    expect(sink.reasons.join()).toContain('sink changed (http -> stdout)');
    expect(planReload(current, ok({ ...base, spool: { ...base.spool, maxBytes: 2 * 1048576 } })).spoolChanged).toBe(true);
    expect(planReload(current, ok({ ...base, fleet: { ...base.fleet, name: 'plant-b' } })).spoolChanged).toBe(true);
    expect(planReload(current, ok({ ...base, fleet: { ...base.fleet, generation: 4 } }))).toMatchObject({ spoolChanged: false, sinkChanged: false, restart: [] });
  });

  it('restarts every sensor when the staleness bound changes (their watchdogs take it at start)', () => {
    const plan = planReload(ok(base), ok({ ...base, staleAfterSeconds: 90 }));
    expect(plan.restart).toEqual(['temp', 'door']);
    expect(plan.keep).toEqual([]);
  });
});
