/**
 * Benchmark of the durable local spool (src/legos/spool): CRC-32C speed, append throughput
 * of 100-byte records under each fsync policy (single awaited appends, concurrent appends
 * and batches), a producer with a forwarder (append -> durable -> read -> ack), and
 * append + recovery + replay of a large spool (1 GiB by default).
 *
 *   node bench/spool.ts                       (Node 24: `npx node bench/spool.ts`)
 *   SPOOL_BENCH_BYTES=100000000 node bench/spool.ts   (a quicker run: 100 MB)
 *   SPOOL_BENCH_DIR=/var/tmp node bench/spool.ts      (where the temp spools go; default os.tmpdir())
 *
 * Prints figures only; temporary directories are removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '../src/legos/spool/crc32c.ts';
import { type FsyncPolicy, LocalDurableSpool, type SpoolInput, type SpoolOptions } from '../src/legos/spool/index.ts';

const PAYLOAD_BYTES = 100;
const RECORD_ON_DISK = PAYLOAD_BYTES + 32;
const BIG_BYTES = Number(process.env.SPOOL_BENCH_BYTES ?? 1024 * 1024 * 1024);
const ROOT = mkdtempSync(join(process.env.SPOOL_BENCH_DIR ?? tmpdir(), 'manyfold-spool-bench-'));
let dirs = 0;

function freshDir(): string {
  return join(ROOT, `spool-${++dirs}`);
}

/** A 100-byte JSON sample, as the agent stores them. */
function payload(n: number): Buffer {
  const base = JSON.stringify({ s: 'thermal_zone0', v: 41234 + (n % 1000), t: 1767225600000 + n, q: 'good', n });
  return Buffer.from(base.padEnd(PAYLOAD_BYTES, ' ').slice(0, PAYLOAD_BYTES));
}

const SAMPLES = Array.from({ length: 1000 }, (_, i) => payload(i));
const sampleAt = (i: number): Buffer => SAMPLES[i % SAMPLES.length] as Buffer;

function rate(records: number, ms: number): string {
  const perSec = (records / ms) * 1000;
  return `${Math.round(perSec).toLocaleString('en-US').padStart(10)} records/s  ${((perSec * PAYLOAD_BYTES) / 1e6).toFixed(1).padStart(6)} MB/s payload  ${((perSec * RECORD_ON_DISK) / 1e6).toFixed(1).padStart(6)} MB/s on disk`;
}

function spoolOptions(fsync: FsyncPolicy, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir: freshDir(), fsync, maxBytes: 4 * 1024 * 1024 * 1024, maxRecordBytes: 4096, ...extra };
}

type Mode = 'await each' | 'concurrent 64' | 'batch 100';

/** Appends for about `seconds` (or `maxRecords`) in the given mode; returns records and ms. */
async function appendFor(spool: LocalDurableSpool, mode: Mode, seconds: number, maxRecords: number): Promise<{ records: number; ms: number }> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let n = 0;
  while (n < maxRecords && performance.now() < deadline) {
    if (mode === 'await each') {
      for (let i = 0; i < 100; i++) await spool.append(sampleAt(n++), { sequence: n });
    } else if (mode === 'concurrent 64') {
      const inFlight: Promise<number>[] = [];
      for (let i = 0; i < 64; i++) inFlight.push(spool.append(sampleAt(n++), { sequence: n }));
      await Promise.all(inFlight);
    } else {
      const batch: SpoolInput[] = [];
      for (let i = 0; i < 100; i++) batch.push({ payload: sampleAt(n++), sequence: n });
      await spool.appendBatch(batch);
    }
  }
  return { records: n, ms: performance.now() - start };
}

async function benchCrc(): Promise<void> {
  const buf = Buffer.alloc(64 * 1024 * 1024);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131) & 0xff;
  crc32c(buf.subarray(0, 1024 * 1024));
  const start = performance.now();
  crc32c(buf);
  const ms = performance.now() - start;
  const small = sampleAt(1);
  const t = performance.now();
  for (let i = 0; i < 1_000_000; i++) crc32c(small);
  const perRecord = (performance.now() - t) / 1e6;
  console.log(`crc32c: ${((buf.length / ms) * 1000 / 1e6).toFixed(0)} MB/s over 64 MiB; ${(perRecord * 1e6).toFixed(0)} ns per 100-byte payload`);
}

async function benchPolicies(): Promise<void> {
  const policies: [string, FsyncPolicy][] = [
    ['never', { mode: 'never' }],
    ['interval 200 ms (default)', { mode: 'interval', intervalMs: 200 }],
    ['interval 500 ms', { mode: 'interval', intervalMs: 500 }],
    ['always', { mode: 'always' }],
  ];
  console.log(`\nappend throughput, ${PAYLOAD_BYTES}-byte payloads (${RECORD_ON_DISK} B on disk), ~2 s per line:`);
  for (const [name, fsync] of policies) {
    for (const mode of ['await each', 'concurrent 64', 'batch 100'] as const) {
      const spool = await LocalDurableSpool.open(spoolOptions(fsync));
      const { records, ms } = await appendFor(spool, mode, 2, 2_000_000);
      const fsyncs = spool.stats().fsyncs;
      await spool.close();
      console.log(`  ${name.padEnd(26)} ${mode.padEnd(14)} ${rate(records, ms)}  (${records.toLocaleString('en-US')} records, ${fsyncs} fsyncs)`);
    }
  }
}

/**
 * Producer and forwarder together on one event loop, as in the agent: batches of 100
 * appended, a reader that waits for records to become durable, reads and acknowledges.
 */
async function benchRoundTrip(fsync: FsyncPolicy, name: string): Promise<void> {
  const spool = await LocalDurableSpool.open(spoolOptions(fsync));
  const reader = spool.reader();
  const stop = new AbortController();
  let delivered = 0;
  const forwarder = (async () => {
    while (!stop.signal.aborted) {
      const records = reader.read({ maxRecords: 1000 });
      const last = records.at(-1);
      if (last === undefined) {
        await reader.wait(stop.signal).catch(() => undefined);
        continue;
      }
      delivered += records.length;
      spool.ack(last.offset);
    }
  })();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < 2000) {
    const batch: SpoolInput[] = [];
    for (let i = 0; i < 100; i++) batch.push({ payload: sampleAt(n++), sequence: n });
    await spool.appendBatch(batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ms = performance.now() - start;
  const lag = spool.lastOffset - spool.ackedOffset;
  stop.abort();
  await forwarder;
  reader.close();
  await spool.close();
  console.log(`  ${name.padEnd(26)} appended ${rate(n, ms)}; forwarded ${Math.round((delivered / ms) * 1000).toLocaleString('en-US')} records/s, ${lag.toLocaleString('en-US')} records behind at the end`);
}

async function benchBig(): Promise<void> {
  const records = Math.ceil(BIG_BYTES / RECORD_ON_DISK);
  const options = spoolOptions({ mode: 'interval', intervalMs: 200 }, { maxBytes: 2 * BIG_BYTES + 256 * 1024 * 1024 });
  console.log(`\n${(BIG_BYTES / 1e6).toFixed(0)} MB spool (${records.toLocaleString('en-US')} records of ${RECORD_ON_DISK} B, batches of 1000, default fsync):`);
  const spool = await LocalDurableSpool.open(options);
  const start = performance.now();
  for (let n = 0; n < records; ) {
    const batch: SpoolInput[] = [];
    for (let i = 0; i < 1000 && n < records; i++) batch.push({ payload: sampleAt(n++), sequence: n });
    await spool.appendBatch(batch);
  }
  await spool.sync();
  const appendMs = performance.now() - start;
  const { bytes, segments } = spool.stats();
  await spool.close();
  console.log(`  append + final fsync: ${(appendMs / 1000).toFixed(2)} s  ${rate(records, appendMs)}  (${segments} segments, ${(bytes / 1e6).toFixed(0)} MB)`);

  const reopenStart = performance.now();
  const reopened = await LocalDurableSpool.open(options);
  const reopenMs = performance.now() - reopenStart;
  console.log(`  recovery (open: scan + CRC-32C of every record, warm page cache): ${(reopenMs / 1000).toFixed(2)} s, ${((bytes / reopenMs) * 1000 / 1e6).toFixed(0)} MB/s; report: ${reopened.recovery.records.toLocaleString('en-US')} records, ${reopened.recovery.corruptions.length} corruptions`);
  const reader = reopened.reader();
  const replayStart = performance.now();
  let replayed = 0;
  for (;;) {
    const batch = reader.read({ maxRecords: 10_000, maxBytes: 4 * 1024 * 1024 });
    if (batch.length === 0) break;
    replayed += batch.length;
  }
  const replayMs = performance.now() - replayStart;
  console.log(`  replay (read + CRC check of every record): ${(replayMs / 1000).toFixed(2)} s  ${rate(replayed, replayMs)}`);
  reader.close();
  await reopened.close();
}

try {
  console.log(`node ${process.version}, temp dir ${ROOT}`);
  await benchCrc();
  await benchPolicies();
  console.log('\nappend batch 100 + yield, with a forwarder reading durable records and acknowledging them, ~2 s each:');
  await benchRoundTrip({ mode: 'never' }, 'never');
  await benchRoundTrip({ mode: 'interval', intervalMs: 200 }, 'interval 200 ms (default)');
  await benchRoundTrip({ mode: 'always' }, 'always');
  await benchBig();
} finally {
  rmSync(ROOT, { recursive: true, force: true });
}
