import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { FrameAssembler, type FrameEvictionReason, type SensorFrame } from './frame-assembler.ts';

interface Sample {
  readonly id: number;
  readonly slot: number;
  readonly n: number;
}

type Op = { kind: 'add'; id: number; slot: number } | { kind: 'wait'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 5 }), slot: fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 11 }) }, { weight: 1, arbitrary: fc.constant(Number.NaN) }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

describe('FrameAssembler', () => {
  it('emits a frame exactly when it has the expected distinct slots, in numeric slot order, within the eviction bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        fc.array(opArb, { maxLength: 150 }),
        (expectedSlots, maxPendingFrames, maxFrameAgeMs, ops) => {
          const clock = new ManualClock();
          const evicted: { frame: SensorFrame<Sample>; reason: FrameEvictionReason }[] = [];
          const assembler = new FrameAssembler<Sample>({
            expectedSlots,
            maxPendingFrames,
            maxFrameAgeMs,
            clock,
            frameId: (s) => s.id,
            slot: (s) => s.slot,
            onEvict: (frame, reason) => evicted.push({ frame, reason }),
          });
          // Model: pending frames oldest first, each with its first-seen time and slots.
          const model: { id: number; first: number; slots: Map<number, Sample> }[] = [];
          const expectedEvictions: { id: number; reason: FrameEvictionReason }[] = [];
          let accepted = 0;
          let replaced = 0;
          let emittedSamples = 0;
          let n = 0;
          for (const op of ops) {
            if (op.kind === 'wait') {
              clock.advance(op.ms);
              continue;
            }
            const now = clock.monotonic();
            while (maxFrameAgeMs !== undefined && model.length > 0 && now - model[0]!.first >= maxFrameAgeMs) {
              expectedEvictions.push({ id: model.shift()!.id, reason: 'age' });
            }
            const sample = { id: op.id, slot: op.slot, n: n++ };
            const frame = assembler.add(sample);
            if (Number.isNaN(op.slot)) {
              expect(frame).toBeUndefined();
              continue;
            }
            accepted++;
            let pending = model.find((f) => f.id === op.id);
            if (pending === undefined) {
              if (model.length >= maxPendingFrames) expectedEvictions.push({ id: model.shift()!.id, reason: 'count' });
              pending = { id: op.id, first: now, slots: new Map() };
              model.push(pending);
            }
            if (pending.slots.has(op.slot)) replaced++;
            pending.slots.set(op.slot, sample);
            if (pending.slots.size === expectedSlots) {
              model.splice(model.indexOf(pending), 1);
              const slots = [...pending.slots.keys()].sort((a, b) => a - b);
              expect(frame).toEqual({ frameId: op.id, slots, samples: slots.map((s) => pending.slots.get(s)) });
              expect(frame?.slots).toHaveLength(expectedSlots);
              emittedSamples += expectedSlots;
            } else {
              expect(frame).toBeUndefined();
            }
            expect(assembler.pendingFrames).toBe(model.length);
            expect(assembler.pendingFrames).toBeLessThanOrEqual(maxPendingFrames);
          }
          expect(evicted.map((e) => ({ id: e.frame.frameId, reason: e.reason }))).toEqual(expectedEvictions);
          expect(assembler.evictedByAge + assembler.evictedByCount).toBe(evicted.length);
          for (const { frame } of evicted) {
            expect(frame.slots.length).toBeLessThan(expectedSlots);
            expect(frame.slots).toEqual([...frame.slots].sort((a, b) => a - b));
          }
          const pendingSamples = model.reduce((sum, f) => sum + f.slots.size, 0);
          const evictedSamples = evicted.reduce((sum, e) => sum + e.frame.samples.length, 0);
          expect(accepted).toBe(emittedSamples + pendingSamples + evictedSamples + replaced);
          expect(assembler.replacedSlots).toBe(replaced);
          expect(assembler.rejected).toBe(n - accepted);
        },
      ),
    );
  });

  it('orders slots numerically, not as strings', () => {
    const assembler = new FrameAssembler<{ slot: number }>({ expectedSlots: 3, frameId: () => 'f', slot: (s) => s.slot });
    assembler.add({ slot: 10 });
    assembler.add({ slot: 2 });
    expect(assembler.add({ slot: 1 })?.slots).toEqual([1, 2, 10]);
  });

  it('evicts an incomplete frame once it reaches maxFrameAgeMs, even without new samples', () => {
    const clock = new ManualClock();
    const assembler = new FrameAssembler<number>({ expectedSlots: 2, frameId: () => 1, slot: (s) => s, maxFrameAgeMs: 100, clock });
    assembler.add(0);
    clock.advance(99);
    expect(assembler.evictExpired()).toBe(0);
    clock.advance(1);
    expect(assembler.evictExpired()).toBe(1);
    expect(assembler.evictedByAge).toBe(1);
    expect(() => new FrameAssembler<number>({ expectedSlots: 0, frameId: () => 1, slot: (s) => s })).toThrow(RangeError);
  });
});
