import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import { decideExpiry, decideRoom, deletableSegments, heldBytes, oldestIngestMs, planChunks, recordsAbove } from './plan.ts';
import type { SegmentView } from './segment.ts';

/**
 * Segment views over consecutive offsets from 1: `sizes[i]` records in segment i, ingest
 * times from `times` (made non-decreasing), an index entry every `stride` records.
 */
function segmentsOf(sizes: readonly number[], times: readonly number[], stride: number): { segments: SegmentView[]; ingest: number[] } {
  const ingest: number[] = [];
  let t = 0;
  const segments: SegmentView[] = [];
  let offset = 1;
  for (const size of sizes) {
    const index = { offsets: [] as number[], positions: [] as number[], ingestMs: [] as number[] };
    for (let i = 0; i < size; i++) {
      t = Math.max(t, times[(offset - 1) % Math.max(1, times.length)] ?? 0);
      ingest[offset] = t;
      if (i % stride === 0) {
        index.offsets.push(offset);
        index.positions.push(SEGMENT_HEADER_BYTES + i * 40);
        index.ingestMs.push(t);
      }
      offset++;
    }
    const base = offset - size;
    segments.push({ baseOffset: base, lastOffset: offset - 1, bytes: SEGMENT_HEADER_BYTES + size * 40, lastIngestMs: size > 0 ? t : undefined, index });
  }
  return { segments, ingest };
}

const layout = fc.record({
  sizes: fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 8 }),
  times: fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 40 }),
  stride: fc.integer({ min: 1, max: 5 }),
});

describe('planChunks', () => {
  it('keeps every segment within segmentBytes and accounts for every record and new header', () => {
    fc.assert(
      fc.property(fc.integer({ min: SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 150, max: 2000 }), fc.nat(), fc.array(fc.nat({ max: 150 }), { maxLength: 40 }), (segmentBytes, fillAt, sizes) => {
        const active = SEGMENT_HEADER_BYTES + (fillAt % (segmentBytes - SEGMENT_HEADER_BYTES));
        const { chunks, needBytes } = planChunks(active, sizes, segmentBytes);
        expect(chunks.reduce((s, c) => s + c.count, 0)).toBe(sizes.length);
        const recordBytes = sizes.reduce((s, n) => s + RECORD_HEADER_BYTES + n, 0);
        const rolls = chunks.filter((c) => c.roll).length;
        expect(needBytes).toBe(recordBytes + rolls * SEGMENT_HEADER_BYTES);
        let fill = active;
        let i = 0;
        chunks.forEach((c, k) => {
          if (k > 0) expect(c.roll).toBe(true);
          if (c.roll) fill = SEGMENT_HEADER_BYTES;
          const bytes = sizes.slice(i, i + c.count).reduce((s, n) => s + RECORD_HEADER_BYTES + n, 0);
          expect(c.bytes).toBe(bytes);
          fill += bytes;
          expect(fill).toBeLessThanOrEqual(segmentBytes);
          i += c.count;
        });
      }),
    );
  });
});

describe('decideRoom', () => {
  it('under block, fits exactly when the bytes fit and never evicts', () => {
    fc.assert(
      fc.property(layout, fc.nat({ max: 600 }), fc.nat({ max: 2000 }), fc.nat({ max: 60 }), ({ sizes, times, stride }, need, max, floor) => {
        const { segments } = segmentsOf(sizes, times, stride);
        const d = decideRoom({ segments, floorOffset: floor, needBytes: need, maxBytes: max, overflow: 'block' });
        expect(d.kind).toBe(heldBytes(segments) + need <= max ? 'fits' : 'full');
      }),
    );
  });

  it('under dropOldest, evicts the fewest oldest sealed segments that make room and counts their undelivered records', () => {
    fc.assert(
      fc.property(layout, fc.nat({ max: 600 }), fc.nat({ max: 2000 }), fc.nat({ max: 60 }), ({ sizes, times, stride }, need, max, floor) => {
        const { segments } = segmentsOf(sizes, times, stride);
        const d = decideRoom({ segments, floorOffset: floor, needBytes: need, maxBytes: max, overflow: 'dropOldest' });
        const held = heldBytes(segments);
        if (d.kind === 'fits') expect(held + need).toBeLessThanOrEqual(max);
        if (d.kind === 'full') expect((segments.at(-1) as SegmentView).bytes + need).toBeGreaterThan(max);
        if (d.kind === 'evict') {
          expect(d.segments).toBeGreaterThan(0);
          expect(d.segments).toBeLessThan(segments.length);
          const evicted = segments.slice(0, d.segments);
          expect(held - heldBytes(evicted) + need).toBeLessThanOrEqual(max);
          expect(held - heldBytes(evicted.slice(0, -1)) + need).toBeGreaterThan(max);
          expect(d.droppedRecords).toBe(evicted.reduce((s, seg) => s + recordsAbove(seg, floor), 0));
        }
      }),
    );
  });
});

describe('decideExpiry', () => {
  it('drops only expired records, all of them when the index proves it, and counts them', () => {
    fc.assert(
      fc.property(layout, fc.nat({ max: 1200 }), fc.integer({ min: 1, max: 500 }), fc.nat({ max: 40 }), ({ sizes, times, stride }, now, maxAge, floor) => {
        const { segments, ingest } = segmentsOf(sizes, times, stride);
        const d = decideExpiry({ segments, floorOffset: floor, nowMs: now, maxAgeMs: maxAge });
        const cutoff = now - maxAge;
        expect(d.floorOffset).toBeGreaterThanOrEqual(floor);
        for (let o = floor + 1; o <= d.floorOffset; o++) if (ingest[o] !== undefined) expect(ingest[o]).toBeLessThan(cutoff);
        const last = ingest.length - 1;
        for (const seg of segments) if (seg.lastIngestMs !== undefined && seg.lastIngestMs < cutoff) expect(d.floorOffset).toBeGreaterThanOrEqual(Math.min(seg.lastOffset, last));
        const before = segments.reduce((s, seg) => s + recordsAbove(seg, floor), 0);
        const after = segments.reduce((s, seg) => s + recordsAbove(seg, d.floorOffset), 0);
        expect(d.droppedRecords).toBe(before - after);
        expect(decideExpiry({ segments, floorOffset: floor, nowMs: now, maxAgeMs: undefined })).toEqual({ floorOffset: floor, droppedRecords: 0 });
      }),
    );
  });
});

describe('ages and deletion', () => {
  it('never understates the oldest held record age, and deletes only sealed segments at or below the floor', () => {
    fc.assert(
      fc.property(layout, fc.nat({ max: 60 }), ({ sizes, times, stride }, floor) => {
        const { segments, ingest } = segmentsOf(sizes, times, stride);
        const oldest = oldestIngestMs(segments, floor);
        const firstHeld = ingest.findIndex((t, o) => t !== undefined && o > floor);
        if (firstHeld < 0) expect(oldest).toBeUndefined();
        else expect(oldest).toBeLessThanOrEqual(ingest[firstHeld] as number);
        const n = deletableSegments(segments, floor);
        expect(n).toBeLessThan(segments.length);
        segments.slice(0, n).forEach((seg) => expect(seg.lastOffset).toBeLessThanOrEqual(floor));
        const next = segments[n];
        if (n < segments.length - 1 && next) expect(next.lastOffset).toBeGreaterThan(floor);
      }),
    );
  });
});
