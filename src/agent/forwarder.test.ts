import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../legos/clock.ts';
import { BackoffPolicy } from '../legos/sensor/index.ts';
import { LocalDurableSpool } from '../legos/spool/index.ts';
import { silentLogger } from '../runtime/log.ts';
import type { OutboundBatch } from './batch.ts';
import { Forwarder } from './forwarder.ts';
import type { Sink } from './sinks.ts';
import { ForwardStats } from './stats.ts';
import { tempDir } from './testing.test-helper.ts';

const fleet = { namespace: 'edge', name: 'plant' };
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A sink whose answers follow a script (true = take the batch), then always take. */
class ScriptedSink implements Sink {
  readonly delivered: number[] = [];
  readonly violations: string[] = [];
  private answers: boolean[];
  private readonly spool: LocalDurableSpool;

  constructor(answers: boolean[], spool: LocalDurableSpool) {
    this.answers = [...answers];
    this.spool = spool;
  }

  async send(batch: OutboundBatch): Promise<void> {
    await turn();
    // The forwarder must never have acknowledged what it is still sending.
    if (this.spool.ackedOffset >= batch.ref.firstOffset) this.violations.push(`acked ${this.spool.ackedOffset} before sending ${batch.ref.firstOffset}`);
    if (this.answers.shift() === false) throw new Error('HTTP 503');
    for (const record of batch.records) this.delivered.push(record.offset);
  }
}

async function setup(answers: boolean[], batchSize: number) {
  const clock = new ManualClock();
  const spool = await LocalDurableSpool.open({ dir: tempDir(), maxBytes: 1024 * 1024, maxRecordBytes: 1024, fsync: { mode: 'never' }, clock });
  const sink = new ScriptedSink(answers, spool);
  const stats = new ForwardStats();
  const forwarder = new Forwarder({
    spool,
    sink,
    clock,
    backoff: new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: 8000, jitter: 'full', random: () => 0.5 }),
    limits: { maxRecords: batchSize, maxBytes: 1024 * 1024 },
    lingerMs: 50,
    fleet,
    node: 'n1',
    stats,
    log: silentLogger,
  });
  return { clock, spool, sink, stats, forwarder };
}

describe('Forwarder', () => {
  it('delivers every appended record at least once and acknowledges only behind the sink, whatever the sink answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 7 }),
        async (answers, appends, batchSize) => {
          const { clock, spool, sink, stats, forwarder } = await setup(answers, batchSize);
          const controller = new AbortController();
          const running = forwarder.run(controller.signal);
          let n = 0;
          for (const count of appends) {
            await spool.appendBatch(Array.from({ length: count }, () => ({ payload: Buffer.from(`{"n":${++n}}`), sequence: n })));
            for (let i = 0; i < 5; i++) {
              await turn();
              clock.advance(500);
            }
          }
          for (let i = 0; i < 400 && spool.ackedOffset < spool.lastOffset; i++) {
            await turn();
            clock.advance(1000);
          }
          controller.abort();
          expect(await running).toBe('aborted');
          expect(sink.violations).toEqual([]);
          expect(spool.ackedOffset).toBe(n);
          expect(new Set(sink.delivered)).toEqual(new Set(Array.from({ length: n }, (_, i) => i + 1)));
          expect(stats.records).toBe(sink.delivered.length);
          expect(stats.errorsTotal).toBe(answers.slice(0, stats.batches + stats.errorsTotal).filter((a) => !a).length);
          await spool.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('drains what is spooled and stops; stops at the deadline when the sink is down, leaving the rest spooled', async () => {
    const up = await setup([], 4);
    await up.spool.appendBatch(Array.from({ length: 10 }, (_, i) => ({ payload: Buffer.from(`${i}`) })));
    const running = up.forwarder.run(new AbortController().signal);
    up.forwarder.drain(up.clock.monotonic() + 5000);
    for (let i = 0; i < 20; i++) await turn();
    expect(await running).toBe('drained');
    expect(up.spool.ackedOffset).toBe(10);
    await up.spool.close();

    const down = await setup(Array.from({ length: 100 }, () => false), 4);
    await down.spool.appendBatch(Array.from({ length: 10 }, (_, i) => ({ payload: Buffer.from(`${i}`) })));
    const stuck = down.forwarder.run(new AbortController().signal);
    for (let i = 0; i < 5; i++) {
      await turn();
      down.clock.advance(1500);
    }
    expect(down.forwarder.state.phase.kind).toBe('backingOff');
    down.forwarder.drain(down.clock.monotonic() + 5000);
    for (let i = 0; i < 10; i++) {
      await turn();
      down.clock.advance(1000);
    }
    expect(await stuck).toBe('deadline');
    expect(down.spool.ackedOffset).toBe(0);
    expect(down.stats.consecutiveFailures).toBeGreaterThan(0);
    await down.spool.close();
  });
});
