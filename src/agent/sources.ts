/**
 * Read functions of the polled sources (`file`, `command`, `http`, `simulated`): one call
 * reads the sensor once and returns the raw reading, which the sensor pipeline decodes.
 * They run inside `LocalSensorSource`'s retry loop and honour its attempt signal, so a
 * hung command or endpoint is abandoned at the attempt timeout.
 *
 * Failure behaviour: an unreadable file, a command that exits non-zero or cannot start,
 * an HTTP answer other than 2xx, or a reading above {@link MAX_READING_BYTES} (for HTTP
 * and files; the decoder counts it `tooLarge`) reject; the pipeline counts them as read
 * errors and the watchdog turns repeated ones into health `error`.
 *
 * Limitations: a command's output is capped at {@link MAX_READING_BYTES} (more fails the
 * read); HTTP sources use one connection pool per sensor, without authentication.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import type { Clock } from '../legos/clock.ts';
import type { AttemptContext } from '../legos/sensor/index.ts';
import type { SensorDefinition } from './config.ts';
import { MAX_READING_BYTES } from './decode.ts';
import { simulatedValue } from './simulated.ts';

/** A raw reading: bytes or text to decode, or a number from the simulated source. */
export type Reading = Uint8Array | string | number;

/** Reads a sensor once. */
export type ReadFunction = (context: AttemptContext) => Promise<Reading>;

type PolledSource = Exclude<SensorDefinition['source'], { type: 'stream' }>;

/** Reads at most `MAX_READING_BYTES + 1` bytes of a file (so oversize readings are detected, and /dev/zero cannot hang a read). */
async function readFileCapped(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(MAX_READING_BYTES + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}

const execFileAsync = promisify(execFile);

async function runCommand(argv: readonly string[], signal: AbortSignal): Promise<Uint8Array> {
  const [file, ...args] = argv;
  const { stdout } = await execFileAsync(file as string, args, { signal, encoding: 'buffer', maxBuffer: MAX_READING_BYTES, windowsHide: true });
  return stdout;
}

/** An HTTP GET whose body is read up to the cap; non-2xx rejects. */
async function httpGet(dispatcher: Agent, url: string, signal: AbortSignal): Promise<Uint8Array> {
  const response = await request(url, { method: 'GET', signal, dispatcher });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_READING_BYTES) {
      response.body.destroy();
      return Buffer.alloc(MAX_READING_BYTES + 1); // decoded as tooLarge
    }
    chunks.push(chunk);
  }
  if (response.statusCode < 200 || response.statusCode > 299) throw new Error(`GET ${url}: HTTP ${response.statusCode}`);
  return Buffer.concat(chunks);
}

/** The read function of a polled source, and what it holds open (closed by `close`). */
export function pollReader(source: PolledSource, options: { clock: Clock; random: () => number }): { read: ReadFunction; close: () => Promise<void> } {
  switch (source.type) {
    case 'file':
      return { read: () => readFileCapped(source.path), close: async () => undefined };
    case 'command': {
      const argv = [...source.command, ...(source.args ?? [])];
      return { read: (ctx) => runCommand(argv, ctx.signal), close: async () => undefined };
    }
    case 'http': {
      const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
      return { read: (ctx) => httpGet(dispatcher, source.url, ctx.signal), close: () => dispatcher.close() };
    }
    case 'simulated':
      return { read: async () => simulatedValue(source, options.clock.now(), options.random), close: async () => undefined };
  }
}
