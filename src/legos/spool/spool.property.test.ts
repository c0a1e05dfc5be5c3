import { statSync, truncateSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { crashImage, replay, segmentFiles, tempDir } from './fixtures.test-helper.ts';
import { LocalDurableSpool, type SpoolOptions } from './index.ts';

/**
 * Model-based recovery property: run appends, acks, checkpoints, clean reopens, crashes
 * (a copy of the directory while the spool is open is what `kill -9` leaves) and crashes
 * in the middle of an append (the copy's newest segment cut anywhere inside the bytes the
 * append wrote, or a byte of its last record flipped). After every reopen the replay must
 * hold every returned, unacknowledged record, in order, unaltered, and nothing else
 * except records acknowledged after the last checkpoint and a prefix of the torn append.
 */

type Op =
  | { readonly kind: 'append'; readonly sizes: readonly number[] }
  | { readonly kind: 'ack'; readonly frac: number }
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'reopen' }
  | { readonly kind: 'crash' }
  | { readonly kind: 'tornAppend'; readonly sizes: readonly number[]; readonly cut: number; readonly mode: 'truncate' | 'flip' };

const sizes = fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 6 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), sizes }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('tornAppend' as const), sizes, cut: fc.double({ min: 0, max: 0.999, noNaN: true }), mode: fc.constantFrom('truncate' as const, 'flip' as const) }),
  },
);

interface Stored {
  readonly payload: string;
  readonly sequence: number;
}

function options(dir: string): SpoolOptions {
  return { dir, maxBytes: 1024 * 1024, segmentBytes: 1024, maxRecordBytes: 256, fsync: { mode: 'never' }, clock: new ManualClock() };
}

class Harness {
  dir: string;
  spool!: LocalDurableSpool;
  readonly model = new Map<number, Stored>();
  acked = 0;
  private counter = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  async start(): Promise<void> {
    this.spool = await LocalDurableSpool.open(options(this.dir));
  }

  async append(lengths: readonly number[]): Promise<Map<number, Stored>> {
    const records = lengths.map((n) => {
      const sequence = ++this.counter;
      return { payload: JSON.stringify({ n: sequence, pad: 'x'.repeat(n) }), sequence };
    });
    const result = await this.spool.appendBatch(records.map((r) => ({ payload: Buffer.from(r.payload), sequence: r.sequence })));
    expect(result.count).toBe(records.length);
    return new Map(records.map((r, i) => [result.firstOffset + i, r]));
  }

  async run(o: Op): Promise<void> {
    switch (o.kind) {
      case 'append':
        for (const [offset, stored] of await this.append(o.sizes)) this.model.set(offset, stored);
        return;
      case 'ack': {
        const { ackedOffset, lastOffset } = this.spool;
        const k = ackedOffset + Math.ceil(o.frac * (lastOffset - ackedOffset));
        this.spool.ack(k);
        this.acked = Math.max(this.acked, k);
        return;
      }
      case 'checkpoint':
        await this.spool.checkpoint();
        return;
      case 'reopen': {
        const persisted = this.spool.ackedOffset; // close() persists the in-memory acknowledgement
        await this.spool.close();
        await this.start();
        this.verify(persisted, new Map());
        return;
      }
      case 'crash':
        await this.crash(() => undefined, new Map());
        return;
      case 'tornAppend': {
        const before = segmentFiles(this.dir).at(-1) as string;
        const beforeSize = statSync(join(this.dir, before)).size;
        const torn = await this.append(o.sizes);
        const lastLength = Buffer.byteLength([...torn.values()].at(-1)?.payload ?? '');
        await this.crash((image) => {
          const newest = segmentFiles(image).at(-1) as string;
          const path = join(image, newest);
          const size = statSync(path).size;
          if (o.mode === 'truncate') {
            const start = newest === before ? beforeSize : 0;
            truncateSync(path, start + Math.floor(o.cut * (size - start)));
          } else {
            const bytes = readFileSync(path);
            const at = size - 1 - Math.floor(o.cut * (32 + lastLength));
            bytes[at] = (bytes[at] as number) ^ 0x20;
            writeFileSync(path, bytes);
          }
        }, torn);
        return;
      }
    }
  }

  private async crash(damage: (image: string) => void, torn: Map<number, Stored>): Promise<void> {
    const persisted = this.spool.persistedAckOffset;
    const image = crashImage(this.dir);
    await this.spool.close();
    damage(image);
    this.dir = image;
    await this.start();
    this.verify(persisted, torn);
  }

  /** Checks the replay after a reopen; `torn` holds the records of an append that never returned. */
  private verify(persisted: number, torn: Map<number, Stored>): void {
    expect(this.spool.recovery.corruptions).toEqual([]);
    const replayed = replay(this.spool);
    const offsets = replayed.map((r) => r.offset);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
    const survivors: number[] = [];
    for (const rec of replayed) {
      expect(rec.offset).toBeGreaterThan(persisted);
      const stored = this.model.get(rec.offset) ?? torn.get(rec.offset);
      expect(stored, `offset ${rec.offset} was never appended`).toBeDefined();
      expect(rec.payload.toString('utf8')).toBe(stored?.payload);
      expect(rec.sequence).toBe(stored?.sequence);
      if (torn.has(rec.offset)) survivors.push(rec.offset);
    }
    const seen = new Set(offsets);
    for (const offset of this.model.keys()) if (offset > this.acked) expect(seen.has(offset), `lost offset ${offset}`).toBe(true);
    const tornOffsets = [...torn.keys()];
    expect(survivors).toEqual(tornOffsets.slice(0, survivors.length));
    for (const offset of survivors) this.model.set(offset, torn.get(offset) as Stored);
    const last = Math.max(0, ...this.model.keys());
    expect(this.spool.lastOffset).toBe(last);
    expect(this.spool.lastSequence).toBe(this.model.get(last)?.sequence);
  }
}

describe('LocalDurableSpool recovery (model-based)', () => {
  it('replays every returned, unacknowledged record after clean reopens, crashes and torn appends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const harness = new Harness(tempDir());
        await harness.start();
        try {
          for (const o of ops) await harness.run(o);
          await harness.run({ kind: 'reopen' });
        } finally {
          await harness.spool.close();
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('LocalDurableSpool limits (property)', () => {
  it('under dropOldest stays within maxBytes and keeps a contiguous, intact suffix of what was appended', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(sizes, fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 60 }), async (steps) => {
        const spool = await LocalDurableSpool.open({ ...options(tempDir()), maxBytes: 4096 });
        const payloads = new Map<number, string>();
        try {
          let n = 0;
          for (const step of steps) {
            if (typeof step === 'number') {
              spool.ack(spool.ackedOffset + Math.floor(step * (spool.lastOffset - spool.ackedOffset)));
            } else {
              for (const length of step) {
                const payload = `${++n}:${'y'.repeat(length)}`;
                payloads.set(await spool.append(Buffer.from(payload)), payload);
              }
            }
            const stats = spool.stats();
            expect(stats.bytes).toBeLessThanOrEqual(4096);
            const replayed = replay(spool);
            expect(stats.records).toBe(replayed.length);
            replayed.forEach((rec, i) => {
              expect(rec.offset).toBe(spool.lastOffset - replayed.length + 1 + i);
              expect(rec.payload.toString()).toBe(payloads.get(rec.offset));
            });
            expect(stats.dropped.overflow).toBeGreaterThanOrEqual(spool.lastOffset - spool.ackedOffset - replayed.length);
          }
        } finally {
          await spool.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
