/**
 * The values that flow through the edge-sensor agent: samples from polled or pushed
 * sources, events decoded from device messages, and the health a watchdog reports.
 * Plain readonly data (no classes) so they serialize to JSON for the spool and sinks,
 * apart from `SensorEvent.raw`, which the spool encodes itself.
 *
 * Time fields are wall-clock ms since the Unix epoch (`Clock.now()`); staleness and
 * deadlines are measured separately on monotonic time by the blocks that need them.
 */

/** A JSON value, as `JSON.parse` returns it. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { readonly [key: string]: JsonValue };

/** Who produced a reading or event. */
export interface SensorIdentity {
  /** Stable sensor id (for example the `SensorFleet` sensor name). */
  readonly id?: string | undefined;
  /** The group label of the block that produced it. */
  readonly group?: string | undefined;
  /** Free-form tags (node name, bus, unit). */
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/** One normalized reading of a sensor. */
export interface SensorSample<T> {
  readonly value: T;
  /** When the sensor says it measured the value (wall ms); the read time when it does not say. */
  readonly sourceTimeMs: number;
  /** When the agent received the value (wall ms). */
  readonly ingestTimeMs: number;
  /** Per-source sequence number, consumed only by a successful publish (see `SequenceCounter`). */
  readonly sequence: number;
  /** Optional quality marker, for example `good`, `uncertain`, `bad`. */
  readonly quality?: string | undefined;
  /** Optional device status string. */
  readonly status?: string | undefined;
}

/** One normalized event from an event-style device or stream. */
export interface SensorEvent {
  /** Event type; the decoder's default when the message has none. */
  readonly type: string;
  /** The event's payload: a `JsonValue` from the JSON decoder, any value from a `PeripheralAdapter`. */
  readonly data: unknown;
  /** When the agent observed the event (wall ms). */
  readonly observedAtMs: number;
  readonly identity: SensorIdentity;
  /** Per-source sequence number, when the producer assigns one. */
  readonly sequence?: number | undefined;
  /** The message bytes the event was decoded from, when kept. */
  readonly raw?: Uint8Array | undefined;
  /** Other top-level fields of the message. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

/** Health of one sensor: `ok`, `stale` (nothing arrived for too long) or `error` (the source is failing). */
export type HealthState = 'ok' | 'stale' | 'error';

/** What a `SensorHealthWatchdog` reports. */
export interface HealthStatus {
  readonly status: HealthState;
  /** When the status was computed (wall ms). */
  readonly observedAtMs: number;
  /** Human-readable reason; empty when `ok`. */
  readonly message: string;
  /** The source's current count of failures (consecutive failures for the built-in sources). */
  readonly errorCount: number;
  /** Wall time of the last sample seen, if any. */
  readonly lastSampleAtMs?: number | undefined;
}
