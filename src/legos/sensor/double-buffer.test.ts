import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DoubleBuffer, type SamplePacket } from './double-buffer.ts';

type Op = { kind: 'push' } | { kind: 'flush' } | { kind: 'pop' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: 'push' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) },
);

describe('DoubleBuffer', () => {
  it('hands over full buffers whole, alternating buffers, and accounts for every sample', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom('dropOldest', 'dropNewest' as const),
        fc.array(opArb, { maxLength: 150 }),
        (bufferSize, maxReady, overflow, ops) => {
          const buffer = new DoubleBuffer<number>({ bufferSize, maxReady, overflow });
          const popped: SamplePacket<number>[] = [];
          let next = 0;
          for (const op of ops) {
            if (op.kind === 'push') buffer.push(next++);
            else if (op.kind === 'flush') buffer.flush();
            else {
              const packet = buffer.pop();
              if (packet !== undefined) popped.push(packet);
            }
            expect(buffer.readyCount).toBeLessThanOrEqual(maxReady);
            expect(buffer.activeCount).toBeLessThan(bufferSize);
          }
          let packet: SamplePacket<number> | undefined;
          while ((packet = buffer.pop()) !== undefined) popped.push(packet);
          const delivered = popped.flatMap((p) => p.samples);
          // Everything pushed is delivered, dropped, or still filling; delivered samples keep their order.
          expect(delivered.length + buffer.droppedSamples + buffer.activeCount).toBe(next);
          expect(delivered).toEqual([...delivered].sort((a, b) => a - b));
          for (const p of popped) {
            expect(p.samples.length).toBeGreaterThan(0);
            expect(p.samples.length).toBeLessThanOrEqual(bufferSize);
            expect(p.bufferId).toBe((p.sequence - 1) % 2);
          }
          expect(popped.length + buffer.droppedPackets).toBe(buffer.handedOver);
          const sequences = popped.map((p) => p.sequence);
          expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
        },
      ),
    );
  });

  it('drops the oldest waiting packet when the consumer falls behind', () => {
    const buffer = new DoubleBuffer<number>({ bufferSize: 2, maxReady: 1 });
    for (const v of [1, 2, 3, 4, 5]) buffer.push(v);
    expect(buffer.flush()).toBe(true);
    expect(buffer.flush()).toBe(false);
    expect(buffer.pop()).toEqual({ bufferId: 0, sequence: 3, samples: [5] });
    expect(buffer.droppedPackets).toBe(2);
    expect(buffer.droppedSamples).toBe(4);
  });
});
