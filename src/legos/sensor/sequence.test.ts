import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SequenceCounter } from './sequence.ts';

describe('SequenceCounter', () => {
  it('proposes current+step and consumes a number only on commit', () => {
    const counter = new SequenceCounter({ step: 2 });
    expect(counter.next()).toBe(2);
    expect(counter.next()).toBe(2);
    counter.commit(2);
    expect(counter.current).toBe(2);
    expect(counter.next()).toBe(4);
    expect(() => counter.commit(2)).toThrow(RangeError);
  });

  it('publishes gap-free numbers whatever publishes fail', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 50 }), fc.integer({ min: 0, max: 1_000_000 }), async (outcomes, start) => {
        const counter = new SequenceCounter({ start });
        const published: number[] = [];
        for (const [i, ok] of outcomes.entries()) {
          const publish = (sequence: number) => {
            if (!ok) throw new Error('sink down');
            published.push(sequence);
          };
          if (i % 2 === 0) {
            try {
              counter.withNext(publish);
            } catch {
              // a failed publish leaves the number unconsumed
            }
          } else {
            await counter.withNextAsync(async (s) => publish(s)).catch(() => undefined);
          }
        }
        expect(published).toEqual(published.map((_, i) => start + i + 1));
        expect(counter.current).toBe(start + published.length);
        expect(counter.commits).toBe(published.length);
      }),
    );
  });

  it('resumes after the last published value', () => {
    const counter = new SequenceCounter();
    counter.resumeFrom(41);
    expect(counter.withNext((s) => s)).toBe(42);
    expect(() => counter.resumeFrom(1.5)).toThrow(RangeError);
  });

  it('refuses to go beyond the safe integer range', () => {
    const counter = new SequenceCounter({ start: Number.MAX_SAFE_INTEGER });
    expect(() => counter.next()).toThrow(RangeError);
    expect(() => new SequenceCounter({ step: 0 })).toThrow(RangeError);
  });
});
