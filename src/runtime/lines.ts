/**
 * Line framing for child processes' output: the operator and the agent log one JSON
 * object per line, and the CLI, the test support and the benchmarks read them back.
 *
 * Limitations: a line longer than `maxLineChars` is delivered in pieces of that size
 * (never buffered without bound); a last line without a newline is never delivered.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export interface LineOptions {
  /** The longest line held back waiting for its newline, in UTF-16 code units. Default 1 MiB. */
  readonly maxLineChars?: number;
}

/**
 * A push-style splitter: `push(chunk)` calls `onLine` once per complete line, in order,
 * without the `\n` (a `\r` before it is kept). UTF-8 characters split across chunks are
 * decoded whole.
 */
export function lineSplitter(onLine: (line: string) => void, options: LineOptions = {}): (chunk: Buffer | string) => void {
  const max = options.maxLineChars ?? 1 << 20;
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return (chunk) => {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    let newline = pending.indexOf('\n', start);
    while (newline >= 0) {
      onLine(pending.slice(start, newline));
      start = newline + 1;
      newline = pending.indexOf('\n', start);
    }
    pending = pending.slice(start);
    while (pending.length > max) {
      onLine(pending.slice(0, max));
      pending = pending.slice(max);
    }
  };
}

/** Calls `onLine` for every complete line `stream` emits (see {@link lineSplitter}). */
export function onLines(stream: Readable, onLine: (line: string) => void, options: LineOptions = {}): void {
  stream.on('data', lineSplitter(onLine, options));
}
