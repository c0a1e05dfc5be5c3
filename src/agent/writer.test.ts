import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../legos/clock.ts';
import { LocalDurableSpool, type SpoolReader } from '../legos/spool/index.ts';
import { MAX_PAYLOAD_BYTES } from './decode.ts';
import { AgentStats } from './stats.ts';
import { ackedSequences, eventually, tempDir } from './testing.test-helper.ts';
import { AckLog, type PendingSample, SampleWriter } from './writer.ts';

function sample(stats: AgentStats, value: number, sensor = 'temp'): PendingSample {
  return { sensor, sensorJson: JSON.stringify(sensor), value, sourceTimeMs: 1, ingestTimeMs: 2, stats: stats.sensor(sensor) };
}

function openSpool(dir: string, options: { maxBytes?: number; overflow?: 'dropOldest' | 'block' } = {}) {
  return LocalDurableSpool.open({ dir, maxBytes: options.maxBytes ?? 1024 * 1024, overflow: options.overflow, maxRecordBytes: MAX_PAYLOAD_BYTES, fsync: { mode: 'never' } });
}

function readAll(reader: SpoolReader): { seq: number; value: number }[] {
  const out: { seq: number; value: number }[] = [];
  for (let batch = reader.read(); batch.length > 0; batch = reader.read()) out.push(...batch.map((r) => JSON.parse(r.payload.toString()) as { seq: number; value: number }));
  return out;
}

describe('SampleWriter', () => {
  it('spools samples in order with gap-free sequence numbers that continue after a reopen, and logs what it accepted', async () => {
    const dir = tempDir();
    const ackLog = join(dir, 'acks');
    const stats = new AgentStats();
    let spool = await openSpool(join(dir, 'spool'));
    const writer = new SampleWriter({ spool, clock: SystemClock, stats, ackLog: new AckLog(ackLog), maxBatch: 7 });
    for (let i = 0; i < 50; i++) writer.offer(sample(stats, i, i % 2 === 0 ? 'a' : 'b'));
    await writer.flush();
    expect(writer.lastSequence).toBe(50);
    await writer.pause();
    await spool.close();
    spool = await openSpool(join(dir, 'spool'));
    writer.resume(spool);
    for (let i = 50; i < 60; i++) writer.offer(sample(stats, i));
    await writer.flush();
    const records = readAll(spool.reader());
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(records.map((r) => r.value)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(ackedSequences(ackLog)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(stats.sensor('a').accepted + stats.sensor('b').accepted + stats.sensor('temp').accepted).toBe(60);
    expect(writer.averageRecordBytes).toBeGreaterThan(32);
    await writer.close();
    await spool.close();

    // A new writer on the same spool (a restart) resumes from the spool's last sequence.
    const again = await openSpool(join(dir, 'spool'));
    const restarted = new SampleWriter({ spool: again, clock: SystemClock, stats });
    restarted.offer(sample(stats, 99));
    await restarted.flush();
    expect(restarted.lastSequence).toBe(61);
    await restarted.close();
    await again.close();
  });

  it('rejects offers beyond its queue, counted as queueFull', async () => {
    const stats = new AgentStats();
    const spool = await openSpool(tempDir());
    const writer = new SampleWriter({ spool, clock: SystemClock, stats, capacity: 5 });
    const accepted = Array.from({ length: 8 }, (_, i) => writer.offer(sample(stats, i)));
    expect(accepted).toEqual([true, true, true, true, true, false, false, false]);
    expect(stats.sensor('temp').dropped.queueFull).toBe(3);
    await writer.flush();
    expect(stats.sensor('temp').accepted).toBe(5);
    await writer.close();
    await spool.close();
  });

  it('under overflow block, parks the batch while the spool is full, refuses offers as spoolFull, and resumes once acknowledgements free room', async () => {
    const stats = new AgentStats();
    const spool = await openSpool(tempDir(), { maxBytes: 64 * 1024, overflow: 'block' });
    const writer = new SampleWriter({ spool, clock: SystemClock, stats, capacity: 100_000 });
    const big = 'x'.repeat(2000);
    let offered = 0;
    while (!writer.blocked && offered < 200) {
      writer.offer({ ...sample(stats, 0), value: big });
      offered++;
      await new Promise((r) => setImmediate(r));
    }
    expect(writer.blocked).toBe(true);
    expect(writer.offer(sample(stats, 1))).toBe(false);
    expect(stats.sensor('temp').dropped.spoolFull).toBe(1);
    expect(spool.stats().dropped.overflow).toBe(0); // block never evicts
    expect(spool.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    const acceptedWhileFull = stats.sensor('temp').accepted;
    spool.ack(spool.lastOffset); // the sink took everything: room again
    await eventually('the writer to unblock and spool the parked batch', () => !writer.blocked && writer.pending === 0);
    expect(stats.sensor('temp').accepted).toBe(offered);
    expect(stats.sensor('temp').accepted).toBeGreaterThan(acceptedWhileFull);
    await writer.close();
    await spool.close();
  });
});
