import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { JsonEventDecoder } from './json-event-decoder.ts';
import { SequenceCounter } from './sequence.ts';

const encoder = new TextEncoder();

describe('JsonEventDecoder', () => {
  it('decodes an object into an event with type, data, metadata, raw bytes and a sequence', () => {
    const clock = new ManualClock({ wallMs: 1_000 });
    const decoder = new JsonEventDecoder({ clock, sequence: new SequenceCounter({ start: 9 }), identity: { id: 'door' }, group: 'g' });
    const raw = encoder.encode('{"event_type":" door.open ","data":{"angle":12},"rssi":-40}');
    expect(decoder.decode(raw)).toEqual({
      type: 'door.open',
      data: { angle: 12 },
      observedAtMs: 1_000,
      identity: { id: 'door' },
      metadata: { rssi: -40 },
      raw,
      sequence: 10,
    });
    expect(decoder.decoded).toBe(1);
  });

  it('uses the default type when the type is missing, blank or not a string, and {} when data is missing', () => {
    const decoder = new JsonEventDecoder({ defaultType: 'reading', keepRaw: false });
    for (const message of ['{}', '{"event_type":"  "}', '{"event_type":7}']) {
      const event = decoder.decode(message);
      expect(event?.type).toBe('reading');
      expect(event?.data).toEqual({});
      expect(event?.raw).toBeUndefined();
    }
  });

  it('drops and counts each kind of unusable message', () => {
    const decoder = new JsonEventDecoder();
    const cases = [
      [Uint8Array.of(0x7b, 0xff, 0x7d), 'invalidUtf8'],
      ['  \t ', 'blank'],
      ['{"a":', 'invalidJson'],
      ['[1,2]', 'notObject'],
      ['null', 'notObject'],
      ['{"data":{"v":[1e999]}}', 'nonFiniteNumber'],
    ] as const;
    for (const [message, reason] of cases) {
      expect(decoder.classify(message)).toEqual({ ok: false, reason });
      expect(decoder.decode(message)).toBeUndefined();
    }
    expect(decoder.drops).toEqual({ invalidUtf8: 1, blank: 1, invalidJson: 1, notObject: 2, nonFiniteNumber: 1 });
    expect(decoder.dropped).toBe(6);
  });

  it('survives deeply nested input', () => {
    const decoder = new JsonEventDecoder();
    const deep = `{"data":${'['.repeat(100_000)}1e999${']'.repeat(100_000)}}`;
    expect(decoder.decode(deep)).toBeUndefined();
    expect(decoder.decode('['.repeat(100_000))).toBeUndefined();
    expect(decoder.dropped).toBe(2);
  });

  it('keeps a "__proto__" field as plain metadata', () => {
    const event = new JsonEventDecoder().decode('{"__proto__":{"polluted":true}}');
    expect(Object.getPrototypeOf(event?.metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(event?.metadata ?? {}, '__proto__')).toBe(true);
  });

  it('never throws, and counts every message exactly once as decoded or dropped', () => {
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
      fc.json().map((j) => encoder.encode(j)),
      fc.jsonValue().map((v) => JSON.stringify({ event_type: 'x', data: v })),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 20 }), (messages) => {
        const decoder = new JsonEventDecoder({ sequence: new SequenceCounter() });
        const events = messages.map((m) => decoder.decode(m)).filter((e) => e !== undefined);
        expect(decoder.decoded + decoder.dropped).toBe(messages.length);
        expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
      }),
    );
  });

  it('round-trips any JSON object it did not drop', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const event = new JsonEventDecoder({ typeField: 'kind', dataField: 'payload' }).decode(JSON.stringify(object));
        const { kind: _kind, payload: _payload, ...rest } = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
        expect(event?.metadata).toEqual(rest);
      }),
    );
  });
});
