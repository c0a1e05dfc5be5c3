/**
 * The `stream` source: delimited readings pushed by a device file or a Unix socket.
 * Chunks are split on the declared delimiter by a `DelimitedMessageBuffer` (bounded
 * message size, UTF-8 split across chunks reassembled), each message is decoded at once
 * (malformed ones counted and dropped), and a `RateMatchedSensor` in `latest` mode
 * releases the newest decoded value every `intervalMs` (the CRD's meaning of
 * `intervalMs` for streams); values it replaced are counted as dropped `superseded`.
 *
 * What the path is decides how it is read: a Unix socket is connected to; a FIFO or a
 * character device is opened non-blocking and read as a stream (a tty through
 * `tty.ReadStream`); a regular file is followed like `tail -f` from its end at open,
 * polled every `intervalMs` (a file that shrank is read again from its start).
 * A connection that ends or fails is reopened with jittered exponential backoff
 * (100 ms doubling to 5 s); failures count toward the health watchdog's `error`.
 *
 * Limitations: non-tty character devices that libuv cannot poll fall back to blocking
 * reads on the libuv thread pool (one thread per such sensor); messages are not
 * acknowledged to the device (a stream cannot be replayed), so a reading is safe only
 * once the writer accepted it.
 */
import { constants, createReadStream, openSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createConnection, Socket } from 'node:net';
import { isatty, ReadStream } from 'node:tty';
import { BackoffPolicy, DelimitedMessageBuffer, type HealthStatus, type JsonValue, RateMatchedSensor, SensorHealthWatchdog } from '../legos/sensor/index.ts';
import type { Clock } from '../legos/clock.ts';
import type { SensorDefinition } from './config.ts';
import { MAX_READING_BYTES } from './decode.ts';
import { ERROR_AFTER_FAILURES, type SensorDeps, SensorPipeline, type SensorRunner } from './sensor.ts';

type StreamDefinition = SensorDefinition & { source: { type: 'stream'; path: string; delimiter: string } };

interface Released {
  readonly value: JsonValue;
  readonly atMs: number;
}

/** Chunks of a socket, FIFO or device until it ends; see the module header. */
async function* deviceChunks(path: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  const info = await stat(path);
  let stream: NodeJS.ReadableStream & { destroy(): void };
  if (info.isSocket()) {
    const socket = createConnection({ path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    stream = socket;
  } else {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (isatty(fd)) {
      stream = new ReadStream(fd);
    } else {
      try {
        stream = new Socket({ fd, readable: true, writable: false });
      } catch {
        stream = createReadStream('', { fd });
      }
    }
  }
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** Follows a regular file from its end, polling every `pollMs`, until `signal` aborts. */
async function* tailChunks(path: string, pollMs: number, clock: Clock, signal: AbortSignal): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    let position = (await handle.stat()).size;
    const buf = Buffer.allocUnsafe(64 * 1024);
    while (!signal.aborted) {
      const size = (await handle.stat()).size;
      if (size < position) position = 0; // truncated: start over
      if (size === position) {
        await clock.sleep(pollMs, signal).catch(() => undefined);
        continue;
      }
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - position), position);
      if (bytesRead === 0) continue;
      position += bytesRead;
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/** A `stream` sensor; see the module header. */
export class StreamSensor implements SensorRunner {
  readonly name: string;
  readonly definition: StreamDefinition;
  readonly #deps: SensorDeps;
  readonly #pipeline: SensorPipeline;
  readonly #rate: RateMatchedSensor<Released>;
  readonly #watchdog: SensorHealthWatchdog;
  readonly #backoff: BackoffPolicy;
  #failures = 0;
  #superseded = 0;
  #overflowSeen = 0;

  constructor(definition: StreamDefinition, deps: SensorDeps) {
    this.name = definition.name;
    this.definition = definition;
    this.#deps = deps;
    this.#pipeline = new SensorPipeline(definition, deps);
    this.#rate = new RateMatchedSensor<Released>({
      mode: 'latest',
      releaseIntervalMs: definition.intervalMs,
      clock: deps.clock,
      emit: (item) => this.#pipeline.accept(item.value, item.atMs, item.atMs),
      group: definition.name,
    });
    this.#watchdog = new SensorHealthWatchdog({ staleAfterMs: deps.staleAfterMs, errorCount: () => this.#failures, errorAfter: ERROR_AFTER_FAILURES, clock: deps.clock, group: definition.name });
    this.#backoff = new BackoffPolicy({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 5000, jitter: 'equal', random: deps.random, group: definition.name });
  }

  health(): HealthStatus {
    return this.#watchdog.check();
  }

  async run(signal: AbortSignal): Promise<void> {
    const releasing = this.#rate.run(signal);
    try {
      await this.#readLoop(signal);
    } finally {
      await releasing;
    }
  }

  async #readLoop(signal: AbortSignal): Promise<void> {
    const { clock, log, stats } = this.#deps;
    const { path, delimiter } = this.definition.source;
    let attempt = 0;
    while (!signal.aborted) {
      const splitter = new DelimitedMessageBuffer({ delimiter, maxMessageBytes: MAX_READING_BYTES, group: this.name });
      this.#overflowSeen = 0;
      try {
        const info = await stat(path);
        const chunks = info.isFile() ? tailChunks(path, this.definition.intervalMs, clock, signal) : deviceChunks(path, signal);
        for await (const chunk of chunks) {
          attempt = 0;
          this.#failures = 0;
          for (const message of splitter.push(chunk)) this.#ingest(message);
          this.#countOverflow(splitter);
        }
        const tail = splitter.end();
        if (tail !== undefined) this.#ingest(tail);
        this.#countOverflow(splitter);
      } catch (error) {
        if (signal.aborted) break;
        stats.readErrors++;
        if (this.#failures++ === 0) log.warn({ event: 'sensor_stream_failed', sensor: this.name, path, err: error }, 'stream sensor cannot read');
      }
      attempt++;
      await clock.sleep(this.#backoff.delayForAttempt(attempt + 1), signal).catch(() => undefined);
    }
  }

  #countOverflow(splitter: DelimitedMessageBuffer): void {
    const stats = this.#deps.stats;
    stats.read += splitter.overflowed - this.#overflowSeen;
    stats.dropped.tooLarge += splitter.overflowed - this.#overflowSeen;
    this.#overflowSeen = splitter.overflowed;
  }

  #ingest(message: Uint8Array): void {
    const value = this.#pipeline.decode(message);
    if (value === undefined) return;
    this.#watchdog.observe();
    this.#rate.offer({ value, atMs: this.#deps.clock.now() });
    const superseded = this.#rate.dropped;
    this.#deps.stats.dropped.superseded += superseded - this.#superseded;
    this.#superseded = superseded;
  }
}
