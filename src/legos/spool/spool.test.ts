import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../clock.ts';
import { crashImage, readAll, sample, sampleNumber, segmentFiles, tempDir } from './fixtures.test-helper.ts';
import { LocalDurableSpool, SpoolClosedError, SpoolConfigError, SpoolFullError, type SpoolOptions } from './index.ts';

/** Small segments so a few hundred records span several of them; no fsync (tmp files). */
function small(dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir, maxBytes: 64 * 1024, segmentBytes: 4096, maxRecordBytes: 512, fsync: { mode: 'never' }, clock: new ManualClock(), ...extra };
}

/** File position of the `k`-th record of a segment of `sample` records starting at offset `base`. */
function startOf(base: number, k: number): number {
  let pos = 32;
  for (let i = 0; i < k; i++) pos += 32 + sample(base + i).length;
  return pos;
}

async function appendSamples(spool: LocalDurableSpool, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await spool.append(sample(n), { sequence: n });
}

describe('LocalDurableSpool: append, replay, ack', () => {
  it('replays in order from the oldest unacknowledged record and resumes offsets and sequences after reopen', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    expect(await spool.append(sample(1), { sequence: 1 })).toBe(1);
    const batch = await spool.appendBatch([2, 3, 4].map((n) => ({ payload: sample(n), sequence: n })));
    expect(batch).toEqual({ firstOffset: 2, lastOffset: 4, count: 3 });
    await appendSamples(spool, 5, 300);
    expect(segmentFiles(dir).length).toBeGreaterThan(3);
    const replay = readAll(spool.reader());
    expect(replay.map((r) => r.offset)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(replay.map((r) => sampleNumber(r.payload))).toEqual(replay.map((r) => r.offset));
    expect(replay.every((r) => r.sequence === r.offset)).toBe(true);
    spool.ack(120);
    await spool.close();

    const again = await LocalDurableSpool.open(small(dir));
    expect(again.recovery).toMatchObject({ ackedOffset: 120, lastOffset: 300, records: 180, corruptions: [], truncated: [] });
    expect(again.lastOffset).toBe(300);
    expect(again.lastSequence).toBe(300);
    expect(readAll(again.reader()).map((r) => r.offset)).toEqual(Array.from({ length: 180 }, (_, i) => i + 121));
    expect(await again.append(sample(301))).toBe(301);
    expect(again.lastSequence).toBe(300);
    await again.close();
  });

  it('deletes whole segments at or below the acknowledgement, never the active one', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    await appendSamples(spool, 1, 300);
    const before = segmentFiles(dir);
    const firstBases = before.map((n) => Number(n.slice(0, 20)));
    const secondBase = firstBases[1] as number;
    spool.ack(secondBase - 1);
    expect(segmentFiles(dir)).toEqual(before.slice(1));
    spool.ack(secondBase);
    expect(segmentFiles(dir)).toEqual(before.slice(1));
    spool.ack(300);
    expect(segmentFiles(dir)).toEqual(before.slice(-1));
    expect(spool.stats()).toMatchObject({ records: 0, segments: 1, oldestUnackedAgeMs: undefined });
    expect(readAll(spool.reader())).toEqual([]);
    await spool.close();
  });

  it('keeps the at-least-once window: a crash replays acknowledgements not yet persisted, never fewer records', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    await appendSamples(spool, 1, 50);
    spool.ack(20);
    const beforeCheckpoint = crashImage(dir);
    await spool.checkpoint();
    expect(spool.persistedAckOffset).toBe(20);
    const afterCheckpoint = crashImage(dir);
    await spool.close();

    const early = await LocalDurableSpool.open(small(beforeCheckpoint));
    expect(readAll(early.reader()).map((r) => r.offset)[0]).toBe(1);
    await early.close();
    const late = await LocalDurableSpool.open(small(afterCheckpoint));
    expect(readAll(late.reader()).map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i + 21));
    await late.close();
  });

  it('follows new appends, waits for them, and rewinds to the oldest unacknowledged record', async () => {
    const spool = await LocalDurableSpool.open(small(tempDir()));
    const reader = spool.reader();
    expect(reader.read()).toEqual([]);
    const woken = reader.wait();
    await spool.append(sample(1));
    await woken;
    expect(reader.read().map((r) => r.offset)).toEqual([1]);
    await appendSamples(spool, 2, 5);
    expect(reader.read({ maxRecords: 2 }).map((r) => r.offset)).toEqual([2, 3]);
    spool.ack(2);
    reader.rewind();
    expect(reader.read().map((r) => r.offset)).toEqual([3, 4, 5]);
    const aborted = new AbortController();
    const waiting = reader.wait(aborted.signal);
    aborted.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    await spool.close();
  });

  it('round-trips records larger than one read chunk', async () => {
    const spool = await LocalDurableSpool.open({ dir: tempDir(), maxBytes: 16 * 1024 * 1024, maxRecordBytes: 1024 * 1024, fsync: { mode: 'never' } });
    const big = Buffer.alloc(700 * 1024, 7);
    big.write('tail', big.length - 4);
    await spool.append(sample(1));
    await spool.append(big);
    await spool.append(sample(3));
    const replay = readAll(spool.reader());
    expect(replay.map((r) => r.payload.length)).toEqual([sample(1).length, big.length, sample(3).length]);
    expect(Buffer.compare(replay[1]?.payload ?? Buffer.alloc(0), big)).toBe(0);
    await spool.close();
  });
});

describe('LocalDurableSpool: options and misuse', () => {
  it('rejects a spool smaller than one record, naming the sizes', async () => {
    const dir = tempDir();
    await expect(LocalDurableSpool.open({ dir, maxBytes: 100, maxRecordBytes: 1000 })).rejects.toThrow(/maxBytes 100 is smaller than one record.*1064 bytes/);
    await expect(LocalDurableSpool.open({ dir, maxBytes: 100, maxRecordBytes: 1000 })).rejects.toBeInstanceOf(SpoolConfigError);
    await expect(LocalDurableSpool.open({ dir, maxBytes: 10_000, segmentBytes: 1000, maxRecordBytes: 1000 })).rejects.toThrow(/segmentBytes 1000 cannot hold one record/);
    await expect(LocalDurableSpool.open({ dir, maxBytes: 3000, segmentBytes: 2000, maxRecordBytes: 1000 })).rejects.toThrow(/at least twice segmentBytes/);
    await expect(LocalDurableSpool.open({ dir, fsync: { mode: 'interval', intervalMs: 0 } })).rejects.toThrow(/fsync.intervalMs/);
    await expect(LocalDurableSpool.open({ dir, maxAgeSeconds: -1 })).rejects.toThrow(/maxAgeSeconds/);
    expect(segmentFiles(dir)).toEqual([]);
  });

  it('rejects oversized payloads, bad sequences and acks of offsets never appended without writing anything', async () => {
    const spool = await LocalDurableSpool.open(small(tempDir()));
    await spool.append(sample(1));
    await expect(spool.append(Buffer.alloc(513))).rejects.toThrow(/exceeds maxRecordBytes 512/);
    await expect(spool.appendBatch([{ payload: sample(2) }, { payload: sample(3), sequence: -1 }])).rejects.toBeInstanceOf(SpoolConfigError);
    expect(spool.lastOffset).toBe(1);
    expect(() => spool.ack(2)).toThrow(/never appended/);
    await spool.close();
    await expect(spool.append(sample(2))).rejects.toBeInstanceOf(SpoolClosedError);
    expect(() => spool.ack(1)).toThrow(SpoolClosedError);
  });

  it('closes when its abort signal fires', async () => {
    const abort = new AbortController();
    const spool = await LocalDurableSpool.open(small(tempDir(), { signal: abort.signal }));
    await spool.append(sample(1));
    abort.abort();
    await vi.waitFor(() => expect(spool.stats().state).toBe('closed'));
  });
});

describe('LocalDurableSpool: fsync policies', () => {
  it('under always, concurrent appends resolve after one shared fsync (group commit)', async () => {
    const spool = await LocalDurableSpool.open(small(tempDir(), { fsync: { mode: 'always' } }));
    const offsets = await Promise.all(Array.from({ length: 40 }, (_, i) => spool.append(sample(i + 1))));
    expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(spool.stats().fsyncs).toBe(1);
    expect(readAll(spool.reader()).map((r) => r.offset)).toEqual(offsets);
    await spool.append(sample(41));
    expect(spool.stats()).toMatchObject({ fsyncs: 2, durableOffset: 41 });
    await spool.close();
  });

  it('under interval, fsyncs on the clock tick only when data is unsynced, and readers see only fsynced records', async () => {
    const clock = new ManualClock();
    const spool = await LocalDurableSpool.open(small(tempDir(), { clock, fsync: { mode: 'interval', intervalMs: 100 }, checkpointIntervalMs: 10_000 }));
    const reader = spool.reader();
    await spool.append(sample(1));
    expect(spool.stats()).toMatchObject({ fsyncs: 0, lastOffset: 1, durableOffset: 0 });
    expect(reader.read()).toEqual([]);
    const visible = reader.wait();
    clock.advance(100);
    await visible;
    expect(spool.stats()).toMatchObject({ fsyncs: 1, durableOffset: 1 });
    expect(reader.read().map((r) => r.offset)).toEqual([1]);
    clock.advance(100);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(spool.stats().fsyncs).toBe(1);
    await spool.close();
  });

  it('persists acknowledgements on the checkpoint tick', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir, { clock, checkpointIntervalMs: 500 }));
    await appendSamples(spool, 1, 10);
    spool.ack(7);
    expect(spool.persistedAckOffset).toBe(0);
    clock.advance(500);
    await vi.waitFor(() => expect(spool.persistedAckOffset).toBe(7));
    expect(existsSync(join(dir, 'checkpoint'))).toBe(true);
    await spool.close();
  });
});

describe('LocalDurableSpool: limits', () => {
  it('dropOldest evicts the oldest segments to stay under maxBytes and counts the undelivered records', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir, { maxBytes: 16 * 1024 }));
    const reader = spool.reader();
    for (let n = 1; n <= 1000; n++) {
      await spool.append(sample(n), { sequence: n });
      expect(spool.stats().bytes).toBeLessThanOrEqual(16 * 1024);
      if (n === 100) spool.ack(50);
    }
    const stats = spool.stats();
    const replay = readAll(reader);
    expect(replay.at(-1)?.offset).toBe(1000);
    expect(replay.map((r) => r.offset)).toEqual(Array.from({ length: replay.length }, (_, i) => (replay[0]?.offset ?? 0) + i));
    expect(stats.records).toBe(replay.length);
    expect(stats.dropped.overflow).toBe(1000 - 50 - replay.length);
    expect(stats.rejectedFull).toBe(0);
    await spool.close();
  });

  it('block rejects with SpoolFullError, writes nothing, and waitForRoom resolves once an ack frees a segment', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir, { maxBytes: 16 * 1024, overflow: 'block' }));
    let n = 0;
    let full: unknown;
    while (full === undefined) {
      try {
        await spool.append(sample(++n));
      } catch (err) {
        full = err;
      }
    }
    expect(full).toBeInstanceOf(SpoolFullError);
    expect(full).toMatchObject({ code: 'SpoolFull', retryable: true, maxBytes: 16 * 1024 });
    const last = n - 1;
    expect(spool.lastOffset).toBe(last);
    expect(spool.stats()).toMatchObject({ rejectedFull: 1, records: last, dropped: { overflow: 0, age: 0, corrupt: 0 } });
    await expect(spool.appendBatch([{ payload: sample(n) }, { payload: sample(n + 1) }])).rejects.toBeInstanceOf(SpoolFullError);
    expect(spool.lastOffset).toBe(last);
    const room = spool.waitForRoom();
    spool.ack(Math.floor(last / 2));
    await room;
    expect(await spool.append(sample(n))).toBe(last + 1);
    await spool.close();
  });

  it('expires records older than maxAgeSeconds: readers skip them, the tick deletes their segments, both count them', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir, { clock, maxAgeSeconds: 3, checkpointIntervalMs: 1000 }));
    await appendSamples(spool, 1, 150);
    clock.advance(2000);
    await appendSamples(spool, 151, 160);
    expect(spool.stats().oldestUnackedAgeMs).toBe(2000);
    clock.advance(1500);
    const replay = readAll(spool.reader());
    expect(replay.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 151 + i));
    expect(spool.stats().dropped.age).toBe(150);
    clock.advance(2000);
    await vi.waitFor(() => expect(spool.stats().dropped.age).toBe(160));
    expect(spool.stats()).toMatchObject({ records: 0, segments: 1 });
    await spool.close();
  });
});

describe('LocalDurableSpool: recovery', () => {
  it('truncates a torn tail of the newest segment, counts it and continues the offsets', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    await appendSamples(spool, 1, 20);
    await spool.close();
    const newest = join(dir, segmentFiles(dir).at(-1) as string);
    const size = statSync(newest).size;
    truncateSync(newest, size - 5);
    const again = await LocalDurableSpool.open(small(dir));
    const recordSize = sample(20).length + 32;
    expect(again.recovery.truncated).toEqual([expect.objectContaining({ file: newest, position: size - recordSize, bytes: recordSize - 5 })]);
    expect(statSync(newest).size).toBe(size - recordSize);
    expect(again.recovery.truncatedBytes).toBe(recordSize - 5);
    expect(again.recovery.corruptions).toEqual([]);
    expect(again.stats()).toMatchObject({ truncations: 1, truncatedBytes: again.recovery.truncatedBytes, lastOffset: 19 });
    expect(readAll(again.reader()).map((r) => r.offset)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
    expect(await again.append(sample(20))).toBe(20);
    await again.close();
  });

  it('fails closed on a bad CRC in a sealed segment: reports file and position, quarantines a copy, keeps the records before it and the other segments', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    await appendSamples(spool, 1, 300);
    await spool.close();
    const names = segmentFiles(dir);
    const victim = join(dir, names[1] as string);
    const base = Number((names[1] as string).slice(0, 20));
    const nextBase = Number((names[2] as string).slice(0, 20));
    const original = readFileSync(victim);
    const damagedAt = startOf(base, 3); // the fourth record of the segment
    const bytes = Buffer.from(original);
    bytes[damagedAt + 40] = (bytes[damagedAt + 40] as number) ^ 0x55;
    writeFileSync(victim, bytes);

    const again = await LocalDurableSpool.open(small(dir));
    expect(again.recovery.corruptions).toHaveLength(1);
    const corruption = again.recovery.corruptions[0];
    expect(corruption).toMatchObject({ code: 'SpoolCorruption', file: victim, position: damagedAt, expectedOffset: base + 3, recordsLost: nextBase - base - 3 });
    expect(corruption?.message).toContain(names[1]);
    expect(corruption?.message).toContain(`byte ${damagedAt}`);
    expect(readFileSync(corruption?.quarantinedAs ?? '')).toEqual(bytes);
    expect(again.recovery.quarantineFiles).toEqual([corruption?.quarantinedAs]);
    expect(again.stats().dropped.corrupt).toBe(nextBase - base - 3);
    const offsets = readAll(again.reader()).map((r) => r.offset);
    const expected = Array.from({ length: 300 }, (_, i) => i + 1).filter((o) => o < base + 3 || o >= nextBase);
    expect(offsets).toEqual(expected);
    await again.close();

    const third = await LocalDurableSpool.open(small(dir));
    expect(third.recovery.corruptions).toEqual([]);
    expect(readAll(third.reader()).map((r) => r.offset)).toEqual(expected);
    await third.close();
  });

  it('fails closed on damage in the middle of the newest segment and appends above every offset seen', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir, { segmentBytes: 16 * 1024, maxBytes: 64 * 1024 }));
    await appendSamples(spool, 1, 40);
    await spool.close();
    const newest = join(dir, segmentFiles(dir).at(-1) as string);
    const bytes = readFileSync(newest);
    bytes[startOf(1, 9) + 35] = (bytes[startOf(1, 9) + 35] as number) ^ 1;
    writeFileSync(newest, bytes);
    const again = await LocalDurableSpool.open(small(dir, { segmentBytes: 16 * 1024, maxBytes: 64 * 1024 }));
    expect(again.recovery.corruptions).toEqual([expect.objectContaining({ file: newest, expectedOffset: 10, recordsLost: 31 })]);
    expect(again.recovery.truncated).toEqual([]);
    expect(readAll(again.reader()).map((r) => r.offset)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
    expect(await again.append(sample(41))).toBe(41);
    expect(segmentFiles(dir)).toHaveLength(2);
    await again.close();
  });

  it('ignores a leftover checkpoint temp file and replays everything when the checkpoint is damaged', async () => {
    const dir = tempDir();
    const spool = await LocalDurableSpool.open(small(dir));
    await appendSamples(spool, 1, 10);
    spool.ack(4);
    await spool.close();
    writeFileSync(join(dir, 'checkpoint.tmp'), 'partial');
    const again = await LocalDurableSpool.open(small(dir));
    expect(again.recovery).toMatchObject({ ackedOffset: 4, checkpointError: undefined });
    expect(existsSync(join(dir, 'checkpoint.tmp'))).toBe(false);
    await again.close();
    writeFileSync(join(dir, 'checkpoint'), Buffer.alloc(24, 9));
    const third = await LocalDurableSpool.open(small(dir));
    expect(third.recovery.checkpointError).toMatch(/magic/);
    expect(readAll(third.reader()).map((r) => r.offset)[0]).toBe(1);
    await third.close();
  });
});
