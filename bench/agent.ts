/**
 * Throughput of the edge agent's data path on one core: samples per second through
 * decode (delimited stream split + JSON), filter (a threshold dead band), spool (the
 * default fsync policy: every 200 ms) and forward (batches read back from the spool,
 * encoded as the HTTP body, acknowledged by the sink, spool acknowledged).
 *
 * The source is a stream sensor's byte stream fed by the bench in 64 KiB chunks (what a
 * device or socket delivers); every stage is the agent's own code (`SensorPipeline`,
 * `SampleWriter`, `LocalDurableSpool`, `Forwarder`). The sink is in-process by default
 * (acks as soon as the body is encoded); `--http` posts to an HTTP server in this same
 * process instead (so the server's cost counts against the same core).
 *
 * Then each stage alone on the same data, to show where the time goes.
 *
 * Usage: `npx node bench/agent.ts [samples=1000000] [--http]`. Target: >= 100,000 samples/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { encodeJsonBatch, type OutboundBatch } from '../src/agent/batch.ts';
import { decodeReading, encodeSample, MAX_PAYLOAD_BYTES, MAX_READING_BYTES } from '../src/agent/decode.ts';
import { Forwarder } from '../src/agent/forwarder.ts';
import { SensorPipeline } from '../src/agent/sensor.ts';
import { HttpSink, type Sink } from '../src/agent/sinks.ts';
import { AgentStats } from '../src/agent/stats.ts';
import { SampleWriter } from '../src/agent/writer.ts';
import { SystemClock } from '../src/legos/clock.ts';
import { BackoffPolicy, DelimitedMessageBuffer, ThresholdFilter } from '../src/legos/sensor/index.ts';
import { LocalDurableSpool } from '../src/legos/spool/index.ts';
import { silentLogger } from '../src/runtime/log.ts';

const args = process.argv.slice(2);
const SAMPLES = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const HTTP = args.includes('--http');
const CHUNK = 64 * 1024;
const fleet = { namespace: 'bench', name: 'fleet' };

/** The device stream: JSON objects, one per line, with a slowly varying reading and noise. */
function makeStream(count: number): Buffer[] {
  let state = 7;
  const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  let size = 0;
  for (let i = 0; i < count; i++) {
    const line = `{"t":${(20 + 5 * Math.sin(i / 1000) + random()).toFixed(3)},"rh":${(40 + random() * 2).toFixed(2)},"n":${i}}\n`;
    lines.push(line);
    size += line.length;
    if (size >= CHUNK) {
      chunks.push(Buffer.from(lines.join('')));
      lines = [];
      size = 0;
    }
  }
  if (lines.length > 0) chunks.push(Buffer.from(lines.join('')));
  return chunks;
}

function rate(count: number, ms: number): string {
  return `${Math.round(count / (ms / 1000)).toLocaleString('en-US')} samples/s (${((ms * 1000) / count).toFixed(2)} µs/sample)`;
}

async function startHttpSink(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The whole path: stream bytes in, acknowledged by the sink out. */
async function endToEnd(chunks: readonly Buffer[]): Promise<{ ms: number; cpuMs: number; forwarded: number; accepted: number; passed: number; batches: number; queueFull: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'manyfold-bench-agent-'));
  const http = HTTP ? await startHttpSink() : undefined;
  try {
    const spool = await LocalDurableSpool.open({ dir, maxBytes: 2 * 1024 ** 3, maxRecordBytes: MAX_PAYLOAD_BYTES }); // default fsync: interval 200 ms
    const stats = new AgentStats();
    const writer = new SampleWriter({ spool, clock: SystemClock, stats, capacity: 65_536 });
    const pipeline = new SensorPipeline(
      { name: 'vibration', source: { type: 'stream', path: '/dev/null', delimiter: '\n' }, intervalMs: 10, filters: [{ type: 'threshold', key: 't', threshold: 0.001 }] },
      { writer, stats: stats.sensor('vibration'), clock: SystemClock, random: Math.random, staleAfterMs: 60_000, log: silentLogger },
    );
    const sink: Sink = http
      ? new HttpSink({ url: http.url, timeoutMs: 10_000, clock: SystemClock, random: Math.random, userAgent: 'bench' })
      : { send: async (batch: OutboundBatch) => void encodeJsonBatch(batch) };
    const forwarder = new Forwarder({
      spool,
      sink,
      clock: SystemClock,
      backoff: new BackoffPolicy({ initialDelayMs: 100 }),
      limits: { maxRecords: 10_000, maxBytes: 4 * 1024 * 1024 },
      fleet,
      node: 'bench-node',
      stats: stats.forward,
      log: silentLogger,
    });
    const controller = new AbortController();
    const forwarding = forwarder.run(controller.signal);
    const splitter = new DelimitedMessageBuffer({ maxMessageBytes: MAX_READING_BYTES });
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    for (const chunk of chunks) {
      for (const message of splitter.push(chunk)) {
        const value = pipeline.decode(message);
        if (value !== undefined) pipeline.accept(value, Date.now(), Date.now());
      }
      if (writer.pending > 32_768) await writer.flush();
      else await yieldToLoop();
    }
    await writer.flush();
    await spool.sync(); // make the last appends visible to the reader now instead of at the next interval
    while (spool.ackedOffset < spool.lastOffset) await new Promise((r) => setTimeout(r, 1));
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuStart);
    controller.abort();
    await forwarding;
    await writer.close();
    await spool.close();
    const s = stats.sensor('vibration');
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, forwarded: stats.forward.records, accepted: s.accepted, passed: s.passed, batches: stats.forward.batches, queueFull: s.dropped.queueFull };
  } finally {
    await http?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each stage alone, on the same data, to show where the time goes. */
async function stages(chunks: readonly Buffer[]): Promise<void> {
  let t = performance.now();
  const values: unknown[] = [];
  const splitter = new DelimitedMessageBuffer({ maxMessageBytes: MAX_READING_BYTES });
  for (const chunk of chunks) for (const message of splitter.push(chunk)) {
    const r = decodeReading(message);
    if (r.ok) values.push(r.value);
  }
  console.log(`  split + decode          ${rate(values.length, performance.now() - t)}`);

  t = performance.now();
  const filter = new ThresholdFilter<unknown>({ threshold: 0.001, key: (v) => (v as { t: number }).t });
  let passed = 0;
  for (const v of values) if (filter.accepts(v)) passed++;
  console.log(`  threshold filter        ${rate(values.length, performance.now() - t)} (${passed} passed)`);

  t = performance.now();
  const payloads = values.map((v, i) => ({ payload: encodeSample('"vibration"', i + 1, v as number, 1, 2), sequence: i + 1 }));
  console.log(`  encode sample payload   ${rate(values.length, performance.now() - t)}`);

  const dir = mkdtempSync(join(tmpdir(), 'manyfold-bench-stage-'));
  try {
    const spool = await LocalDurableSpool.open({ dir, maxBytes: 2 * 1024 ** 3, maxRecordBytes: MAX_PAYLOAD_BYTES });
    t = performance.now();
    for (let i = 0; i < payloads.length; i += 1024) await spool.appendBatch(payloads.slice(i, i + 1024));
    await spool.sync();
    console.log(`  spool append (+1 sync)  ${rate(payloads.length, performance.now() - t)}`);
    const reader = spool.reader();
    t = performance.now();
    let read = 0;
    for (let batch = reader.read({ maxRecords: 10_000, maxBytes: 4 * 1024 * 1024 }); batch.length > 0; batch = reader.read({ maxRecords: 10_000, maxBytes: 4 * 1024 * 1024 })) {
      encodeJsonBatch({ ref: { firstOffset: batch[0]?.offset ?? 0, lastOffset: batch.at(-1)?.offset ?? 0, count: batch.length, bytes: 0 }, records: batch, fleet, node: 'bench-node' });
      spool.ack(batch.at(-1)?.offset ?? 0);
      read += batch.length;
    }
    console.log(`  read + encode + ack     ${rate(read, performance.now() - t)}`);
    reader.close();
    await spool.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const chunks = makeStream(SAMPLES);
console.log(`agent data path: ${SAMPLES.toLocaleString('en-US')} samples (${chunks.length} chunks of ~64 KiB), sink ${HTTP ? 'HTTP on 127.0.0.1 (same process)' : 'in-process (encodes the HTTP body, acks at once)'}`);
await endToEnd(makeStream(Math.min(SAMPLES, 100_000))); // warm-up
const result = await endToEnd(chunks);
console.log(
  `end to end: ${rate(result.forwarded, result.ms)}; read ${SAMPLES}, passed ${result.passed}, spooled ${result.accepted}, forwarded ${result.forwarded} in ${result.batches} batches` +
    (result.queueFull > 0 ? `, ${result.queueFull} dropped (queue full)` : ''),
);
console.log(`CPU time: ${rate(result.forwarded, result.cpuMs)} per CPU second (all threads; ${Math.round((100 * result.cpuMs) / result.ms)}% of one core over the wall time)`);
console.log(`load average while running: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} core(s)`);
console.log(`target >= 100,000 samples/s (wall): ${result.forwarded / (result.ms / 1000) >= 100_000 ? 'met' : 'NOT met'}`);
console.log('stages alone:');
await stages(chunks);
