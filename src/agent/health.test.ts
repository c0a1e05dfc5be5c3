import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HealthState } from '../legos/sensor/index.ts';
import { aggregateHealth, type HealthInputs, MAX_HEALTH_MESSAGE } from './health.ts';

const stateArb = fc.constantFrom<HealthState>('ok', 'stale', 'error');
const inputsArb: fc.Arbitrary<HealthInputs> = fc.record({
  sensors: fc.uniqueArray(
    fc.record({ name: fc.stringMatching(/^[a-z]{1,8}$/), state: stateArb, message: fc.string({ maxLength: 80 }) }).map((s) => ({
      name: s.name,
      status: { status: s.state, message: s.message, observedAtMs: 0, errorCount: s.state === 'error' ? 3 : 0 },
    })),
    { selector: (s) => s.name, maxLength: 6 },
  ),
  configError: fc.option(fc.string({ minLength: 1, maxLength: 300 }), { nil: undefined }),
  configured: fc.boolean(),
  spool: fc.record({ state: fc.constantFrom<'open' | 'failed' | 'closed' | 'absent'>('open', 'failed', 'closed', 'absent'), corruptions: fc.array(fc.string({ maxLength: 60 }), { maxLength: 2 }) }),
  writer: fc.record({ blocked: fc.boolean(), problem: fc.option(fc.string({ minLength: 1 }), { nil: undefined }) }),
  forwarder: fc.record({ consecutiveFailures: fc.nat({ max: 5 }), lastError: fc.option(fc.string(), { nil: undefined }), draining: fc.boolean() }),
});

/** The reference: error beats stale beats ok. */
function expected(input: HealthInputs): HealthState {
  const error = input.configError !== undefined || !input.configured || input.spool.state === 'failed' || input.writer.problem !== undefined || input.sensors.some((s) => s.status.status === 'error');
  if (error) return 'error';
  return input.writer.blocked || input.sensors.some((s) => s.status.status === 'stale') ? 'stale' : 'ok';
}

describe('aggregateHealth', () => {
  it('takes the worst severity and keeps the message within the contract bound', () => {
    fc.assert(
      fc.property(inputsArb, (input) => {
        const health = aggregateHealth(input);
        expect(health.status).toBe(expected(input));
        expect(health.message.length).toBeLessThanOrEqual(MAX_HEALTH_MESSAGE);
        if (health.status !== 'ok') expect(health.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('names the failing field of a rejected config, the sensor at fault and the spool file', () => {
    const base: HealthInputs = {
      sensors: [{ name: 'temp', status: { status: 'stale', message: 'no sample for 31000 ms', observedAtMs: 0, errorCount: 0 } }],
      configured: true,
      spool: { state: 'open', corruptions: ['/spool/ns_f/00000000000000000001.seg at byte 96 (3 record(s) lost)'] },
      writer: { blocked: false },
      forwarder: { consecutiveFailures: 2, lastError: 'network: ECONNREFUSED', draining: false },
    };
    const stale = aggregateHealth(base);
    expect(stale.status).toBe('stale');
    expect(stale.message).toBe(
      'sensor temp: no sample for 31000 ms; sink failing (2 in a row: network: ECONNREFUSED); spool damage quarantined: /spool/ns_f/00000000000000000001.seg at byte 96 (3 record(s) lost)',
    );
    const rejected = aggregateHealth({ ...base, configError: 'sensors[0].source.path: must be an absolute path' });
    expect(rejected.status).toBe('error');
    expect(rejected.message.startsWith('config rejected, previous config still running: sensors[0].source.path: must be an absolute path')).toBe(true);
    expect(aggregateHealth({ ...base, sensors: [], forwarder: { consecutiveFailures: 0, draining: false }, spool: { state: 'open', corruptions: [] } })).toEqual({ status: 'ok', message: '' });
  });
});
