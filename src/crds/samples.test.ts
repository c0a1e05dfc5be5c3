import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allKinds,
  CellDefaults,
  parseCellSpec,
  parseFencedLeaseSpec,
  parseSensorFleetSpec,
  parseWith,
  SensorFleetDefaults,
  withCellDefaults,
  withFencedLeaseDefaults,
  withSensorFleetDefaults,
  type KindDefinition,
} from './index.ts';
import { invalidSamples, validSamples } from './samples.ts';

function kindOf(kind: string): KindDefinition {
  const def = allKinds.find((k) => k.kind === kind);
  if (def === undefined) throw new Error(`no kind ${kind}`);
  return def;
}

describe('the zod parsers agree with the sample table', () => {
  it.each(validSamples)('accept $kind: $what', (sample) => {
    const result = parseWith(kindOf(sample.kind).spec, sample.spec);
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it.each(invalidSamples)('reject $kind with $what, naming $field', (sample) => {
    const result = parseWith(kindOf(sample.kind).spec, sample.spec);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((i) => i.field)).toContain(sample.field);
      expect(result.message).toContain(`${sample.field}: `);
    }
  });
});

describe('code-side defaults', () => {
  it('give a Cell capacity 100, state Active and no resources', () => {
    const parsed = parseCellSpec({ zone: 'z1' });
    expect(parsed).toEqual({ ok: true, value: { zone: 'z1', capacity: CellDefaults.capacity, state: 'Active', template: { resources: [] } } });
    expect(withCellDefaults({ zone: 'z1' })).toEqual(parsed.ok ? parsed.value : undefined);
    expect(withCellDefaults({ zone: 'z1', capacity: 0, state: 'Draining' })).toMatchObject({ capacity: 0, state: 'Draining' });
  });

  it('fill the SensorFleet spool, intervals, filters and sink', () => {
    const spec = withSensorFleetDefaults({
      sensors: [{ name: 's', source: { type: 'simulated' } }],
      sink: { type: 'http', url: 'http://sink:1/x' },
    });
    expect(spec.spool).toEqual(SensorFleetDefaults.spool);
    expect(spec.staleAfterSeconds).toBe(60);
    expect(spec.sensors[0]).toEqual({
      name: 's',
      source: { type: 'simulated', ...SensorFleetDefaults.simulated },
      intervalMs: SensorFleetDefaults.intervalMs,
      filters: [],
    });
    expect(spec.sink).toEqual({ type: 'http', url: 'http://sink:1/x', ...SensorFleetDefaults.sink });
  });

  it('fill the FencedLease auth keys only when auth is given', () => {
    expect(withFencedLeaseDefaults({ ttlSeconds: 5 })).toEqual({ ttlSeconds: 5 });
    expect(withFencedLeaseDefaults({ ttlSeconds: 5, etcd: { endpoints: ['http://e:2379'], auth: { secretName: 's' } } }).etcd?.auth).toEqual({
      secretName: 's',
      usernameKey: 'username',
      passwordKey: 'password',
    });
  });

  it('never override what the spec says (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom('Active', 'Cordoned', 'Draining'), (capacity, state) => {
        expect(withCellDefaults({ zone: 'z', capacity, state })).toMatchObject({ capacity, state });
      }),
    );
  });
});

describe('apply-time bounds match the zod bounds', () => {
  it('FencedLease ttlSeconds accepts exactly 2..3600', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 4000 }), (ttlSeconds) => {
        expect(parseFencedLeaseSpec({ ttlSeconds }).ok).toBe(ttlSeconds >= 2 && ttlSeconds <= 3600);
      }),
    );
  });

  it('SensorFleet spool maxBytes accepts exactly 64 KiB and more', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 20 }), (maxBytes) => {
        const spec = { sensors: [{ name: 's', source: { type: 'simulated' } }], sink: { type: 'stdout' }, spool: { maxBytes } };
        expect(parseSensorFleetSpec(spec).ok).toBe(maxBytes >= 65_536);
      }),
    );
  });
});
