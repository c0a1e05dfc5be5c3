import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../legos/sensor/index.ts';
import { decodeReading, encodeSample, MAX_PAYLOAD_BYTES, MAX_READING_BYTES, valueAtPath } from './decode.ts';
import { simulatedValue } from './simulated.ts';

describe('decodeReading', () => {
  it('reads a bare number, with surrounding whitespace (a sysfs file)', () => {
    expect(decodeReading(Buffer.from('45000\n'))).toEqual({ ok: true, value: 45000 });
    expect(decodeReading('  -21.5e1 ')).toEqual({ ok: true, value: -215 });
  });

  it('round-trips every JSON value made of finite numbers', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        const text = JSON.stringify(value);
        // -0 serializes as 0: compare with what JSON itself makes of it.
        expect(decodeReading(Buffer.from(` ${text}\n`))).toEqual({ ok: true, value: JSON.parse(text) as unknown });
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    [Buffer.from([0xff, 0xfe, 0x31]), 'invalidUtf8'],
    [Buffer.from(' \n\t'), 'blank'],
    ['21.5 C', 'invalidJson'],
    ['{"t":', 'invalidJson'],
    ['1e999', 'nonFiniteNumber'],
    ['{"t": [1, -1e400]}', 'nonFiniteNumber'],
    ['1'.repeat(MAX_READING_BYTES + 1), 'tooLarge'],
  ])('drops malformed input with its reason (%#)', (raw, reason) => {
    expect(decodeReading(raw)).toEqual({ ok: false, reason });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = decodeReading(bytes);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});

describe('valueAtPath', () => {
  it('walks dotted paths and yields undefined for missing members', () => {
    const value = { a: { b: [10, { c: 3 }] } };
    expect(valueAtPath(value, undefined)).toBe(value);
    expect(valueAtPath(value, 'a.b.1.c')).toBe(3);
    expect(valueAtPath(value, 'a.x')).toBeUndefined();
    expect(valueAtPath(7, 'a')).toBeUndefined();
    expect(valueAtPath({ ['__proto__']: 1 }, 'constructor')).toBeUndefined();
  });
});

describe('encodeSample', () => {
  it('is the sample as one JSON object', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.nat(), fc.jsonValue({ maxDepth: 2 }), fc.nat(), fc.nat(), (sensor, seq, value, source, ingest) => {
        const plain = JSON.parse(JSON.stringify(value)) as JsonValue; // -0 and friends as JSON carries them
        const decoded = JSON.parse(encodeSample(JSON.stringify(sensor), seq, plain, source, ingest).toString()) as unknown;
        expect(decoded).toEqual({ sensor, seq, value: plain, sourceTimeMs: source, ingestTimeMs: ingest });
      }),
      { numRuns: 100 },
    );
  });

  it('fits a maximal reading into one spool record', () => {
    const big = 'x'.repeat(MAX_READING_BYTES - 2);
    expect(encodeSample(JSON.stringify('a'.repeat(63)), Number.MAX_SAFE_INTEGER, big, Date.now(), Date.now()).length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  });
});

describe('simulatedValue', () => {
  const sourceArb = fc.record({
    type: fc.constant('simulated' as const),
    waveform: fc.constantFrom<'sine' | 'square' | 'sawtooth' | 'random' | 'constant'>('sine', 'square', 'sawtooth', 'random', 'constant'),
    base: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    amplitude: fc.double({ min: 0, max: 1e3, noNaN: true }),
    noise: fc.constant(0),
    periodMs: fc.integer({ min: 10, max: 86_400_000 }),
  });

  it('stays within base ± amplitude without noise, and is always finite', () => {
    fc.assert(
      fc.property(sourceArb, fc.nat({ max: 2 ** 45 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (source, now, r) => {
        const value = simulatedValue(source, now, () => r);
        expect(Number.isFinite(value)).toBe(true);
        expect(Math.abs(value - source.base)).toBeLessThanOrEqual(source.amplitude * (1 + 1e-9) + 1e-9);
        if (source.waveform === 'constant') expect(value === source.base).toBe(true); // -0 and 0 alike
      }),
    );
  });

  it('adds Gaussian noise with the declared spread', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const source = { type: 'simulated' as const, waveform: 'constant' as const, base: 10, amplitude: 0, noise: 2, periodMs: 1000 };
    const values = Array.from({ length: 4000 }, (_, i) => simulatedValue(source, i, random));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(mean).toBeCloseTo(10, 0);
    expect(sd).toBeGreaterThan(1.8);
    expect(sd).toBeLessThan(2.2);
  });
});
