/**
 * JsonEventDecoder: one JSON object per message (a line from a
 * `DelimitedMessageBuffer`) into a `SensorEvent`. Device input is untrusted, so
 * `decode` never throws: a message that is not valid UTF-8, is blank, is not JSON, is
 * not an object, or holds a number JSON cannot represent (`1e999` parses to Infinity)
 * yields `undefined`, and every such drop is counted by reason (better than the
 * reference, which dropped silently). `classify` is the pure decider behind it: it
 * returns the event or the reason.
 *
 * Message shape: `{ "<typeField>": "...", "<dataField>": ..., ...other }`; the type
 * defaults to `defaultType` when missing, not a string, or blank; `data` defaults to
 * `{}`; the other top-level fields become `metadata`.
 *
 * Limitations: no schema validation of `data` (callers validate with zod at the
 * boundary that knows the schema); messages are fully parsed, so bound their size
 * upstream (`DelimitedMessageBuffer.maxMessageBytes`).
 */
import { type Clock, SystemClock } from '../clock.ts';
import type { SequenceCounter } from './sequence.ts';
import type { JsonValue, SensorEvent, SensorIdentity } from './types.ts';

/** Why a message was dropped. */
export type JsonDropReason = 'invalidUtf8' | 'blank' | 'invalidJson' | 'notObject' | 'nonFiniteNumber';

/** The outcome of classifying one message. */
export type JsonDecodeResult = { readonly ok: true; readonly event: SensorEvent } | { readonly ok: false; readonly reason: JsonDropReason };

/** Options of a {@link JsonEventDecoder}. */
export interface JsonEventDecoderOptions {
  /** Supplies `observedAtMs`. Default `SystemClock`. */
  clock?: Clock | undefined;
  /** Identity stamped on every event. Default `{ group }`. */
  identity?: SensorIdentity | undefined;
  /** Type for messages without a usable one. Default `'sensor.event'`. */
  defaultType?: string | undefined;
  /** Field holding the event type. Default `'event_type'` (the catalog's device convention). */
  typeField?: string | undefined;
  /** Field holding the payload. Default `'data'`. */
  dataField?: string | undefined;
  /** When given, each decoded event consumes its next number. */
  sequence?: SequenceCounter | undefined;
  /** Keep the message bytes in `event.raw`. Default true. */
  keepRaw?: boolean | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

const REASONS: readonly JsonDropReason[] = ['invalidUtf8', 'blank', 'invalidJson', 'notObject', 'nonFiniteNumber'];
const encoder = new TextEncoder();

function isPlainObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when every number in the parsed tree is finite; iterative, so deep nesting cannot overflow the stack. */
function allNumbersFinite(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
    } else if (Array.isArray(value)) {
      stack.push(...(value as unknown[]));
    } else if (isPlainObject(value)) {
      for (const key in value) stack.push(value[key]);
    }
  }
  return true;
}

/** Decodes JSON device messages into events, counting what it drops. */
export class JsonEventDecoder {
  readonly group: string | undefined;
  readonly defaultType: string;
  readonly typeField: string;
  readonly dataField: string;
  readonly #clock: Clock;
  readonly #identity: SensorIdentity;
  readonly #sequence: SequenceCounter | undefined;
  readonly #keepRaw: boolean;
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });
  readonly #drops: Record<JsonDropReason, number> = { invalidUtf8: 0, blank: 0, invalidJson: 0, notObject: 0, nonFiniteNumber: 0 };
  #decoded = 0;

  constructor(options: JsonEventDecoderOptions = {}) {
    this.group = options.group;
    this.defaultType = options.defaultType ?? 'sensor.event';
    this.typeField = options.typeField ?? 'event_type';
    this.dataField = options.dataField ?? 'data';
    this.#clock = options.clock ?? SystemClock;
    this.#identity = options.identity ?? { group: options.group };
    this.#sequence = options.sequence;
    this.#keepRaw = options.keepRaw ?? true;
  }

  /** Messages decoded into events. */
  get decoded(): number {
    return this.#decoded;
  }
  /** Messages dropped, by reason (a read-only view of live counters). */
  get drops(): Readonly<Record<JsonDropReason, number>> {
    return this.#drops;
  }
  /** Messages dropped, all reasons. */
  get dropped(): number {
    return REASONS.reduce((sum, reason) => sum + this.#drops[reason], 0);
  }

  /** The event for `message`, or undefined (counted) when it is unusable. Never throws. */
  decode(message: Uint8Array | string): SensorEvent | undefined {
    const result = this.classify(message);
    if (!result.ok) {
      this.#drops[result.reason]++;
      return undefined;
    }
    this.#decoded++;
    if (this.#sequence === undefined) return result.event;
    return this.#sequence.withNext((sequence) => ({ ...result.event, sequence }));
  }

  /** Pure decision: the event (without a sequence number) or why the message is unusable. Counts nothing. */
  classify(message: Uint8Array | string): JsonDecodeResult {
    let text: string;
    if (typeof message === 'string') {
      text = message;
    } else {
      try {
        text = this.#utf8.decode(message);
      } catch {
        return { ok: false, reason: 'invalidUtf8' };
      }
    }
    if (text.trim() === '') return { ok: false, reason: 'blank' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'invalidJson' };
    }
    if (!isPlainObject(parsed)) return { ok: false, reason: 'notObject' };
    if (!allNumbersFinite(parsed)) return { ok: false, reason: 'nonFiniteNumber' };
    const typeValue = parsed[this.typeField];
    const type = typeof typeValue === 'string' && typeValue.trim() !== '' ? typeValue.trim() : this.defaultType;
    // Object.fromEntries defines own properties, so a "__proto__" key stays plain data.
    const metadata = Object.fromEntries(Object.entries(parsed).filter(([key]) => key !== this.typeField && key !== this.dataField));
    const event: SensorEvent = {
      type,
      data: Object.hasOwn(parsed, this.dataField) ? parsed[this.dataField] : {},
      observedAtMs: this.#clock.now(),
      identity: this.#identity,
      metadata,
      ...(this.#keepRaw ? { raw: typeof message === 'string' ? encoder.encode(message) : message } : {}),
    };
    return { ok: true, event };
  }
}
