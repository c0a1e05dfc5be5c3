import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withSensorFleetDefaults, type SensorFleetSpec, type SensorFleetSpecInput } from '../crds/sensorfleet.ts';
import { jsonEqual } from '../legos/conditions.ts';
import {
  agentConfig,
  checkFleetMeaning,
  configHash,
  heartbeatIntervalSeconds,
  heartbeatLeaseName,
  isImageReference,
  isLabelValue,
  nodeLabelValue,
  renderAgentConfig,
  shortHash,
} from './sensorfleet-agent.ts';

/** A fleet spec as users write it, drawn over the fields the config document holds. */
const fleetSpecArb: fc.Arbitrary<SensorFleetSpecInput> = fc.record({
  sensors: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom('temp', 'cpu', 'demo', 'door'),
      source: fc.oneof(
        fc.record({ type: fc.constant('file' as const), path: fc.constantFrom('/sys/class/thermal/thermal_zone0/temp', '/var/lib/sensors/t', '/proc/loadavg') }),
        fc.record({ type: fc.constant('simulated' as const), amplitude: fc.integer({ min: 0, max: 10 }) }),
      ),
      intervalMs: fc.integer({ min: 10, max: 5000 }),
      filters: fc.array(fc.oneof(fc.record({ type: fc.constant('change' as const) }), fc.record({ type: fc.constant('threshold' as const), threshold: fc.integer({ min: 1, max: 9 }) })), { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 3, selector: (s) => s.name },
  ),
  spool: fc.record({ maxBytes: fc.constantFrom(65_536, 1_048_576), overflow: fc.constantFrom('dropOldest' as const, 'block' as const) }),
  sink: fc.oneof(fc.record({ type: fc.constant('http' as const), url: fc.constantFrom('http://collector:8080/ingest', 'https://c.example/x') }), fc.constant({ type: 'stdout' as const })),
  staleAfterSeconds: fc.integer({ min: 3, max: 120 }),
  nodeSelector: fc.constantFrom(undefined, { edge: 'true' }),
  image: fc.constantFrom(undefined, 'ghcr.io/manyfold-dev/manyfold:0.2.0'),
});

const identity = { namespace: 'ns', name: 'fleet', uid: 'u-1', generation: 3 };
const render = (spec: SensorFleetSpec) => renderAgentConfig(agentConfig(identity, spec));

describe('heartbeat naming', () => {
  it('names a Lease <fleet>-<node>, hashing names longer than 253 characters', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,63}$/), fc.stringMatching(/^[a-z0-9.-]{1,253}$/), (fleet, node) => {
        const name = heartbeatLeaseName(fleet, node);
        expect(name.length).toBeLessThanOrEqual(253);
        if (fleet.length + 1 + node.length <= 253) expect(name).toBe(`${fleet}-${node}`);
        else expect(name).toBe(`${`${fleet}-${node}`.slice(0, 240)}-${shortHash(`${fleet}-${node}`)}`);
      }),
    );
  });

  it('labels a node with its name when that is a valid label value, else with a 12-hex hash', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (node) => {
        const value = nodeLabelValue(node);
        expect(isLabelValue(value)).toBe(true);
        if (isLabelValue(node)) expect(value).toBe(node);
        else expect(value).toMatch(/^[0-9a-f]{12}$/);
      }),
    );
  });

  it('heartbeats every max(1, floor(staleAfter / 3)) seconds', () => {
    expect([1, 2, 3, 10, 30, 31, 60].map(heartbeatIntervalSeconds)).toEqual([1, 1, 1, 3, 10, 10, 20]);
  });
});

describe('config document', () => {
  it('follows the contract: version, fleet, sensors, spool without a path, sink, staleAfter, heartbeat interval', () => {
    const spec = withSensorFleetDefaults({ sensors: [{ name: 'demo', source: { type: 'simulated' } }], sink: { type: 'stdout' }, staleAfterSeconds: 30 });
    const doc = JSON.parse(render(spec)) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['version', 'fleet', 'sensors', 'spool', 'sink', 'staleAfterSeconds', 'heartbeatIntervalSeconds']);
    expect(doc).toMatchObject({ version: 1, fleet: identity, spool: { maxBytes: 67_108_864, maxAgeSeconds: 604_800, overflow: 'dropOldest' }, staleAfterSeconds: 30, heartbeatIntervalSeconds: 10 });
    expect(doc['spool']).not.toHaveProperty('path');
    expect(doc['sensors']).toEqual(spec.sensors);
  });

  it('changes its hash exactly when the document changes', () => {
    fc.assert(
      fc.property(fleetSpecArb, fleetSpecArb, (a, b) => {
        const ca = agentConfig(identity, withSensorFleetDefaults(a));
        const cb = agentConfig(identity, withSensorFleetDefaults(b));
        expect(configHash(renderAgentConfig(ca)) === configHash(renderAgentConfig(cb))).toBe(jsonEqual(ca, cb));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its hash when only fields outside the document change (selector, image, tolerations)', () => {
    fc.assert(
      fc.property(fleetSpecArb, (input) => {
        const spec = withSensorFleetDefaults(input);
        const other = withSensorFleetDefaults({ ...input, nodeSelector: { zone: 'z' }, image: 'example.com/agent:1', tolerations: [{ operator: 'Exists' }] });
        expect(configHash(render(other))).toBe(configHash(render(spec)));
      }),
    );
  });
});

describe('checkFleetMeaning', () => {
  const base: SensorFleetSpecInput = { sensors: [{ name: 'demo', source: { type: 'simulated' } }], sink: { type: 'stdout' } };
  const issues = (change: Partial<SensorFleetSpecInput>, name = 'fleet') => checkFleetMeaning({ name, spec: withSensorFleetDefaults({ ...base, ...change }) });

  it('accepts the generated fleets', () => {
    fc.assert(
      fc.property(fleetSpecArb, (spec) => {
        expect(checkFleetMeaning({ name: 'fleet', spec: withSensorFleetDefaults(spec) })).toEqual([]);
      }),
    );
  });

  it('names the field of each problem', () => {
    const cases: [Partial<SensorFleetSpecInput>, string, string?][] = [
      [{}, 'metadata.name', 'f'.repeat(64)],
      [{ nodeSelector: { edge: 'not valid!' } }, 'spec.nodeSelector["edge"]'],
      [{ nodeSelector: { 'bad key!': 'x' } }, 'spec.nodeSelector["bad key!"]'],
      [{ tolerations: [{ key: 'edge', operator: 'Exists', value: 'x' }] }, 'spec.tolerations[0].value'],
      [{ tolerations: [{ value: 'x' }] }, 'spec.tolerations[0].operator'],
      [{ tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }] }, 'spec.tolerations[0].tolerationSeconds'],
      [{ image: 'Not An Image' }, 'spec.image'],
      [{ spool: { path: '/' } }, 'spec.spool.path'],
      [{ spool: { path: '/etc/manyfold' } }, 'spec.spool.path'],
      [{ spool: { path: '/var/lib/../../etc' } }, 'spec.spool.path'],
      [{ sensors: [{ name: 'x', source: { type: 'file', path: '/tmp/x' } }] }, 'spec.sensors[0].source.path'],
      [{ sensors: [{ name: 'x', source: { type: 'file', path: '/var/lib/manyfold/spool/x' } }] }, 'spec.sensors[0].source.path'],
      [{ sink: { type: 'file', path: '/samples.jsonl' } }, 'spec.sink.path'],
      [{ sink: { type: 'file', path: '/var/samples.jsonl' } }, 'spec.sink.path'],
    ];
    for (const [change, field, name] of cases) {
      expect(issues(change, name).map((i) => i.field), JSON.stringify(change)).toContain(field);
    }
  });

  it('accepts images with registry ports, tags and digests', () => {
    for (const image of ['nginx', 'ghcr.io/manyfold-dev/manyfold:0.1.0', 'localhost:5000/a/b_c:v1', `r.io/x@sha256:${'a'.repeat(64)}`]) expect(isImageReference(image), image).toBe(true);
    for (const image of ['', 'repo/UPPER', 'a b', 'x:', 'x@sha256:short']) expect(isImageReference(image), image).toBe(false);
  });
});
