/**
 * Pure decoding of what a sensor delivers, and encoding of what the agent spools.
 *
 * A reading (a file's content, a command's stdout, an HTTP body, one line of a stream)
 * is one JSON document after trimming whitespace: a number (`45000`, `21.5`), an object
 * (`{"t": 21.5, "rh": 40}`), an array, a string, a boolean or null. Anything else is
 * malformed and dropped with a reason (never thrown): bytes that are not UTF-8, a blank
 * reading, text that is not JSON, a number JSON cannot carry (`1e999`), or a reading
 * larger than a spool record can hold.
 *
 * The spooled payload is the sample as one JSON object (`{"sensor","seq","value",
 * "sourceTimeMs","ingestTimeMs"}`), so sinks forward payloads byte for byte.
 *
 * Limitations: plain text readings such as `21.5 C` are malformed (emit JSON or a bare
 * number); the whole reading is parsed, so its size is capped before parsing.
 */
import { MAX_RECORD_BYTES } from '../crds/sensorfleet.ts';
import type { JsonValue } from '../legos/sensor/index.ts';
import { RECORD_HEADER_BYTES } from '../legos/spool/index.ts';

/** Largest spool payload: a record of {@link MAX_RECORD_BYTES} minus its header. */
export const MAX_PAYLOAD_BYTES = MAX_RECORD_BYTES - RECORD_HEADER_BYTES;
/** Largest reading decoded; leaves room in the payload for the sample's envelope. */
export const MAX_READING_BYTES = MAX_PAYLOAD_BYTES - 512;

/** Why a reading was dropped. */
export type MalformedReason = 'invalidUtf8' | 'blank' | 'invalidJson' | 'nonFiniteNumber' | 'tooLarge';

export type DecodeResult = { readonly ok: true; readonly value: JsonValue } | { readonly ok: false; readonly reason: MalformedReason };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

function allFinite(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
    } else if (typeof value === 'object' && value !== null) {
      for (const member of Object.values(value)) stack.push(member);
    }
  }
  return true;
}

/** Decodes one reading; see the module header. Never throws. */
export function decodeReading(raw: Uint8Array | string): DecodeResult {
  if (raw.length > MAX_READING_BYTES) return { ok: false, reason: 'tooLarge' };
  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else {
    try {
      text = utf8.decode(raw);
    } catch {
      return { ok: false, reason: 'invalidUtf8' };
    }
  }
  text = text.trim();
  if (text === '') return { ok: false, reason: 'blank' };
  if (NUMBER.test(text)) {
    const n = Number(text);
    return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, reason: 'nonFiniteNumber' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'invalidJson' };
  }
  if (!allFinite(value)) return { ok: false, reason: 'nonFiniteNumber' };
  return { ok: true, value: value as JsonValue };
}

/**
 * The member of `value` at a dot-separated path (`a.b.0`), or undefined when absent;
 * the whole value when `path` is undefined. Used as the key of change and threshold filters.
 */
export function valueAtPath(value: unknown, path: string | undefined): unknown {
  if (path === undefined) return value;
  let at: unknown = value;
  for (const part of path.split('.')) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, part)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** A sample as it is spooled and forwarded. */
export interface SpooledSample {
  readonly sensor: string;
  /** Agent-wide sequence number (per fleet and node), resumed from the spool after a restart. */
  readonly seq: number;
  readonly value: JsonValue;
  readonly sourceTimeMs: number;
  readonly ingestTimeMs: number;
}

/**
 * The payload of one sample. `sensorJson` is `JSON.stringify(sensor)`, computed once per
 * sensor; the value must be JSON-serializable (decoded readings are).
 */
export function encodeSample(sensorJson: string, seq: number, value: JsonValue, sourceTimeMs: number, ingestTimeMs: number): Buffer {
  return Buffer.from(`{"sensor":${sensorJson},"seq":${seq},"value":${JSON.stringify(value)},"sourceTimeMs":${sourceTimeMs},"ingestTimeMs":${ingestTimeMs}}`);
}
