import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../legos/sensor/index.ts';
import type { SpoolRecord } from '../legos/spool/index.ts';
import { batchLimits, encodeJsonBatch, encodeJsonLines, lingerBeforeRead, toBatch } from './batch.ts';
import { encodeSample } from './decode.ts';

const fleet = { namespace: 'edge', name: 'plant-a', uid: 'u-1' };

const recordsArb = fc
  .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.tuple(fc.constantFrom('temp', 'door', 'é"x'), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 30 }))
  .map(([firstOffset, samples]): SpoolRecord[] =>
    samples.map(([sensor, value], i) => ({
      offset: firstOffset + i,
      ingestMs: 1000 + i,
      sequence: firstOffset + i + 7,
      payload: encodeSample(JSON.stringify(sensor), firstOffset + i + 7, JSON.parse(JSON.stringify(value)) as JsonValue, 1, 2),
    })),
  );

describe('batches', () => {
  it('HTTP body: fleet, node, offsets, sequences and every payload, in order', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        const batch = toBatch(records, fleet, 'node-1');
        const body = JSON.parse(encodeJsonBatch(batch).toString()) as Record<string, unknown> & { records: unknown[] };
        expect(body['fleet']).toEqual(fleet);
        expect(body['node']).toBe('node-1');
        expect(body['firstOffset']).toBe(records[0]?.offset);
        expect(body['lastOffset']).toBe(records.at(-1)?.offset);
        expect(body['firstSeq']).toBe(records[0]?.sequence);
        expect(body['lastSeq']).toBe(records.at(-1)?.sequence);
        expect(body['count']).toBe(records.length);
        expect(body.records).toEqual(records.map((r) => JSON.parse(r.payload.toString()) as unknown));
        expect(batch.ref.bytes).toBe(records.reduce((sum, r) => sum + r.payload.length, 0));
      }),
      { numRuns: 100 },
    );
  });

  it('JSON lines: one line per record naming fleet, node and offset', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        const lines = encodeJsonLines(toBatch(records, fleet, 'n')).toString().split('\n');
        expect(lines.pop()).toBe('');
        expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(
          records.map((r) => ({ fleet: 'edge/plant-a', node: 'n', offset: r.offset, sample: JSON.parse(r.payload.toString()) as unknown })),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('refuses an empty batch and sizes batches per sink', () => {
    expect(() => toBatch([], fleet, 'n')).toThrow(RangeError);
    expect(batchLimits({ type: 'http', url: 'http://x', batchSize: 250, timeoutMs: 1000 }).maxRecords).toBe(250);
    expect(batchLimits({ type: 'stdout' }).maxRecords).toBe(1000);
  });

  it('lingers only for a trickle, never with a backlog or while draining', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.integer({ min: -10, max: 1000 }), (lastBatchFull, draining, lingerMs) => {
        const linger = lingerBeforeRead({ lastBatchFull, draining, lingerMs });
        expect(linger).toBe(lastBatchFull || draining ? 0 : Math.max(0, lingerMs));
      }),
    );
  });
});
