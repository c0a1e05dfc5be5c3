/**
 * DelimitedMessageBuffer: turns a byte stream that arrives in arbitrary chunks (a
 * device file, a Unix socket, a command's stdout) into whole messages split on a
 * delimiter of one or more bytes (default `\n`). The partial tail waits for the next
 * chunk, so a message, a multi-byte UTF-8 character or the delimiter itself may be cut
 * anywhere between chunks. Splitting happens on bytes and decoding on whole messages;
 * because UTF-8 is self-synchronizing, a delimiter that is valid UTF-8 never matches
 * inside a character.
 *
 * Better than the reference: a maximum message size. A message longer than
 * `maxMessageBytes` is discarded as soon as it is known to be too long (its bytes are
 * not kept while the rest of it streams in) and counted in `overflowed`, so a device
 * that never sends the delimiter cannot grow memory without bound.
 *
 * Limitations: matching is leftmost and non-overlapping, so a message must not contain
 * the delimiter (there is no escaping). Bytes held between pushes are at most
 * `maxMessageBytes + delimiter length - 1`; the internal array keeps the capacity of
 * the largest chunk pushed (push chunks of bounded size, as stream reads are).
 */

const encoder = new TextEncoder();

/** Options of a {@link DelimitedMessageBuffer}. */
export interface DelimitedMessageBufferOptions {
  /** Non-empty delimiter; strings are UTF-8 encoded. Default `'\n'`. */
  delimiter?: string | Uint8Array | undefined;
  /** Largest message kept, in bytes, delimiter excluded. Default 65 536. */
  maxMessageBytes?: number | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/** Incremental splitter of a byte stream into delimited messages. */
export class DelimitedMessageBuffer {
  readonly delimiter: Uint8Array;
  readonly maxMessageBytes: number;
  readonly group: string | undefined;
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #buf = new Uint8Array(256);
  #len = 0;
  #scanFrom = 0;
  #discarding = false;
  #messages = 0;
  #overflowed = 0;
  #invalidUtf8 = 0;

  constructor(options: DelimitedMessageBufferOptions = {}) {
    const delimiter = options.delimiter ?? '\n';
    this.delimiter = typeof delimiter === 'string' ? encoder.encode(delimiter) : Uint8Array.from(delimiter);
    this.maxMessageBytes = options.maxMessageBytes ?? 65_536;
    this.group = options.group;
    if (this.delimiter.length === 0) throw new RangeError('DelimitedMessageBuffer: delimiter must not be empty');
    if (!Number.isSafeInteger(this.maxMessageBytes) || this.maxMessageBytes < 0) {
      throw new RangeError(`DelimitedMessageBuffer: maxMessageBytes must be a non-negative integer, got ${this.maxMessageBytes}`);
    }
  }

  /** Messages emitted. */
  get messages(): number {
    return this.#messages;
  }
  /** Messages discarded for exceeding `maxMessageBytes`. */
  get overflowed(): number {
    return this.#overflowed;
  }
  /** Messages dropped by `pushText`/`endText` for not being valid UTF-8. */
  get invalidUtf8(): number {
    return this.#invalidUtf8;
  }
  /** Bytes waiting for a delimiter. */
  get pendingBytes(): number {
    return this.#len;
  }

  /** Appends a chunk and returns the messages it completed (delimiters removed), oldest first. */
  push(chunk: Uint8Array | string): Uint8Array[] {
    this.#append(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
    const dl = this.delimiter.length;
    const out: Uint8Array[] = [];
    let start = 0;
    for (let at = this.#find(this.#scanFrom); at >= 0; at = this.#find(start)) {
      if (this.#discarding) this.#discarding = false; // the end of an oversize message
      else if (at - start > this.maxMessageBytes) this.#overflowed++;
      else out.push(this.#buf.slice(start, at));
      start = at + dl;
    }
    // The tail may end with up to dl-1 bytes of a delimiter; beyond that it is message.
    const tail = this.#len - start;
    if (this.#discarding || tail - (dl - 1) > this.maxMessageBytes) {
      if (!this.#discarding) this.#overflowed++;
      this.#discarding = true;
      start = this.#len - Math.min(tail, dl - 1);
    }
    this.#buf.copyWithin(0, start, this.#len);
    this.#len -= start;
    this.#scanFrom = Math.max(0, this.#len - (dl - 1));
    this.#messages += out.length;
    return out;
  }

  /** Like `push`, decoding each message as UTF-8; invalid messages are dropped and counted. */
  pushText(chunk: Uint8Array | string): string[] {
    return this.#decodeAll(this.push(chunk));
  }

  /** End of stream: returns the unterminated tail as a last message (if any) and resets. */
  end(): Uint8Array | undefined {
    const tail = this.#discarding ? undefined : this.#buf.slice(0, this.#len);
    this.#len = 0;
    this.#scanFrom = 0;
    this.#discarding = false;
    if (tail === undefined || tail.length === 0) return undefined;
    if (tail.length > this.maxMessageBytes) {
      this.#overflowed++;
      return undefined;
    }
    this.#messages++;
    return tail;
  }

  /** Like `end`, decoding the last message as UTF-8. */
  endText(): string | undefined {
    const tail = this.end();
    return tail === undefined ? undefined : this.#decodeAll([tail])[0];
  }

  #decodeAll(messages: Uint8Array[]): string[] {
    const out: string[] = [];
    for (const message of messages) {
      try {
        out.push(this.#utf8.decode(message));
      } catch {
        this.#invalidUtf8++;
      }
    }
    return out;
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#len + bytes.length;
    if (needed > this.#buf.length) {
      const grown = new Uint8Array(Math.max(needed, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = needed;
  }

  /** Index of the first delimiter starting at or after `from`, or -1. */
  #find(from: number): number {
    const d = this.delimiter;
    const view = this.#buf.subarray(0, this.#len);
    const last = this.#len - d.length;
    for (let i = view.indexOf(d[0] as number, from); i >= 0 && i <= last; i = view.indexOf(d[0] as number, i + 1)) {
      let j = 1;
      while (j < d.length && view[i + j] === d[j]) j++;
      if (j === d.length) return i;
    }
    return -1;
  }
}
