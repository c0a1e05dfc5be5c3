/**
 * Sinks: where the forwarder delivers batches. One verb, `send(batch, signal)`: it
 * resolves only when the destination has the batch (HTTP 2xx; a completed write to
 * stdout; a write and fdatasync of the file), which is when the forwarder acknowledges
 * the spool. It rejects otherwise, and the forwarder retries the same batch.
 *
 * - `HttpSink` POSTs the JSON batch (`batch.ts`) through a `RetryLoop`: a few quick
 *   attempts (jittered exponential backoff from 200 ms, per-attempt timeout `timeoutMs`)
 *   for network errors, timeouts, 408, 429 and 5xx; longer outages are the forwarder's
 *   backoff. Other 4xx answers are not retried here (the forwarder still retries the
 *   batch later: accepted data is never dropped) and are classified `http4xx`.
 * - `StdoutSink` writes JSON lines to a stream (the agent's log).
 * - `FileSink` appends JSON lines to a file and fdatasyncs it.
 *
 * Limitations: HTTP without authentication or custom headers; the file sink has no
 * rotation, and a `kill -9` in the middle of its write can leave a partial last line
 * (the batch is written again, whole, after the restart); a batch the sink keeps rejecting blocks the ones behind it (by design:
 * at-least-once, in order).
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import type { Clock } from '../legos/clock.ts';
import { AttemptTimeoutError, BackoffPolicy, RetryLoop, RetryPolicy } from '../legos/sensor/index.ts';
import { encodeJsonBatch, encodeJsonLines, type OutboundBatch } from './batch.ts';
import type { SinkDefinition } from './config.ts';

/** Delivers batches; see the module header. */
export interface Sink {
  /** Resolves once the destination has `batch`; rejects otherwise. Aborting `signal` abandons the send. */
  send(batch: OutboundBatch, signal: AbortSignal): Promise<void>;
}

/** A sink answer that is not a success, with its class and whether a quick retry may help. */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  /** `http5xx`, `http4xx`, ... (the `class` label of the forward-error metric). */
  readonly errorClass: string;
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(message: string, options: { errorClass: string; retryable: boolean; status?: number | undefined; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.errorClass = options.errorClass;
    this.retryable = options.retryable;
    this.status = options.status;
  }
}

/** The metric class of a send failure: the sink's own, `timeout`, or `network`. */
export function classifySinkError(error: unknown): string {
  if (error instanceof SinkError) return error.errorClass;
  if (error instanceof AttemptTimeoutError) return 'timeout';
  return 'network';
}

/** A short description of a send failure for logs and health. */
export function describeSinkError(error: unknown): string {
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Options of an {@link HttpSink}. */
export interface HttpSinkOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly random: () => number;
  readonly userAgent: string;
  /** Quick attempts per send. Default 3. */
  readonly attempts?: number | undefined;
}

/** POSTs JSON batches; see the module header. */
export class HttpSink implements Sink, AsyncDisposable {
  readonly #url: string;
  readonly #loop: RetryLoop;
  readonly #dispatcher = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
  readonly #headers: Record<string, string>;

  constructor(options: HttpSinkOptions) {
    this.#url = options.url;
    this.#headers = { 'content-type': 'application/json', 'user-agent': options.userAgent };
    this.#loop = new RetryLoop({
      retry: new RetryPolicy({ maxAttempts: options.attempts ?? 3, retryable: (e) => !(e instanceof SinkError) || e.retryable, group: 'sink' }),
      backoff: new BackoffPolicy({ initialDelayMs: 200, multiplier: 2, maxDelayMs: 2000, jitter: 'full', random: options.random, group: 'sink' }),
      attemptTimeoutMs: options.timeoutMs,
      clock: options.clock,
      group: 'sink',
    });
  }

  async send(batch: OutboundBatch, signal: AbortSignal): Promise<void> {
    const body = encodeJsonBatch(batch);
    await this.#loop.run(async ({ signal: attempt }) => {
      const response = await request(this.#url, { method: 'POST', body, headers: this.#headers, signal: attempt, dispatcher: this.#dispatcher });
      await response.body.dump();
      const status = response.statusCode;
      if (status >= 200 && status <= 299) return;
      const retryable = status >= 500 || status === 408 || status === 429;
      throw new SinkError(`POST ${this.#url}: HTTP ${status}`, { errorClass: status >= 500 ? 'http5xx' : 'http4xx', retryable, status });
    }, { signal });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#dispatcher.destroy();
  }
}

/** Writes JSON lines to a stream (default the process's stdout). */
export class StdoutSink implements Sink {
  readonly #out: Writable;

  constructor(out: Writable = process.stdout) {
    this.#out = out;
  }

  send(batch: OutboundBatch, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const lines = encodeJsonLines(batch);
    return new Promise((resolve, reject) => this.#out.write(lines, (error) => (error ? reject(error) : resolve())));
  }
}

/** Appends JSON lines to a file and fdatasyncs it before resolving. */
export class FileSink implements Sink, AsyncDisposable {
  readonly #path: string;
  #handle: FileHandle | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  async send(batch: OutboundBatch, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const lines = encodeJsonLines(batch);
    let start: number | undefined;
    try {
      this.#handle ??= await open(this.#path, 'a');
      start = (await this.#handle.stat()).size;
      let written = 0;
      while (written < lines.length) written += (await this.#handle.write(lines, written, lines.length - written)).bytesWritten;
      await this.#handle.datasync();
    } catch (error) {
      if (start !== undefined) await this.#handle?.truncate(start).catch(() => undefined); // no half batch before the retry
      await this.#handle?.close().catch(() => undefined);
      this.#handle = undefined; // reopen on the next batch (the file may have been rotated or the disk recovered)
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }
}

/** The sink a config declares. */
export function createSink(definition: SinkDefinition, options: { clock: Clock; random: () => number; userAgent: string }): Sink & Partial<AsyncDisposable> {
  switch (definition.type) {
    case 'http':
      return new HttpSink({ url: definition.url, timeoutMs: definition.timeoutMs, clock: options.clock, random: options.random, userAgent: options.userAgent });
    case 'stdout':
      return new StdoutSink();
    case 'file':
      return new FileSink(definition.path);
  }
}
