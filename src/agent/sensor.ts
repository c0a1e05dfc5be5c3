/**
 * One configured sensor, running: the source (polled here, streams in `stream.ts`), the
 * decoder, the filters in order, a health watchdog, and the hand-over to the spool
 * writer. Every reading is counted (`read`), then either dropped with a reason
 * (malformed, filtered, spool full) or passed to the writer, which counts it accepted
 * once spooled.
 *
 * Polled sensors use `LocalSensorSource` (retry loop, per-attempt timeout, failure
 * counters) on a drift-corrected interval; while the spool is full under
 * `overflow: block` they skip their reads and count each skip as dropped `spoolFull`.
 * Sequence numbers are not the source's own poll counter: the writer stamps the
 * agent-wide sequence when it spools the sample.
 *
 * Health: the watchdog reports `stale` after `staleAfterSeconds` without a decodable
 * reading (a sensor whose values a filter suppresses is not stale; one that delivers
 * only garbage is), and `error` after {@link ERROR_AFTER_FAILURES} consecutive failed reads.
 *
 * Limitations: filters keep their reference value in memory, so after a restart or a
 * reload that changes the sensor the first reading passes again.
 */
import type { Logger } from '../runtime/log.ts';
import type { Clock } from '../legos/clock.ts';
import {
  ChangeFilter,
  type HealthStatus,
  type JsonValue,
  LocalSensorSource,
  runOnInterval,
  type SensorSample,
  SensorHealthWatchdog,
  ThresholdFilter,
} from '../legos/sensor/index.ts';
import type { SensorDefinition } from './config.ts';
import { decodeReading, valueAtPath } from './decode.ts';
import { pollReader, type Reading } from './sources.ts';
import type { SensorStats } from './stats.ts';
import type { SampleWriter } from './writer.ts';

/** Consecutive failed reads (or stream connections) at which a sensor's health is `error`. */
export const ERROR_AFTER_FAILURES = 3;

/** A running sensor. */
export interface SensorRunner {
  readonly name: string;
  readonly definition: SensorDefinition;
  /** Reads until `signal` aborts; never rejects for sensor failures. */
  run(signal: AbortSignal): Promise<void>;
  /** The watchdog's verdict now. */
  health(): HealthStatus;
}

/** What every sensor needs from the agent. */
export interface SensorDeps {
  /** Where passing samples go (the spool writer); `blocked` makes polled sensors skip reads. */
  readonly writer: Pick<SampleWriter, 'offer' | 'blocked'>;
  readonly stats: SensorStats;
  readonly clock: Clock;
  readonly random: () => number;
  readonly staleAfterMs: number;
  readonly log: Logger;
}

type Filter = { accepts(value: unknown): boolean };

function buildFilters(definition: SensorDefinition): Filter[] {
  return definition.filters.map((f): Filter => {
    const key = (value: unknown) => valueAtPath(value, f.key);
    return f.type === 'change' ? new ChangeFilter<unknown>({ key, group: definition.name }) : new ThresholdFilter<unknown>({ key, threshold: f.threshold, group: definition.name });
  });
}

/** Decode, filter and hand over: the part of a sensor shared by polled and stream sources. */
export class SensorPipeline {
  readonly name: string;
  readonly #sensorJson: string;
  readonly #filters: Filter[];
  readonly #deps: SensorDeps;

  constructor(definition: SensorDefinition, deps: SensorDeps) {
    this.name = definition.name;
    this.#sensorJson = JSON.stringify(definition.name);
    this.#filters = buildFilters(definition);
    this.#deps = deps;
  }

  /** Counts a reading and decodes it; undefined (counted by reason) when malformed. */
  decode(raw: Reading): JsonValue | undefined {
    const stats = this.#deps.stats;
    stats.read++;
    if (typeof raw === 'number') {
      if (Number.isFinite(raw)) return raw;
      stats.dropped.nonFiniteNumber++;
      return undefined;
    }
    const result = decodeReading(raw);
    if (result.ok) return result.value;
    stats.dropped[result.reason]++;
    return undefined;
  }

  /** Runs the filters and offers a passing value to the writer. */
  accept(value: JsonValue, sourceTimeMs: number, ingestTimeMs: number): void {
    const stats = this.#deps.stats;
    for (const filter of this.#filters) {
      if (!filter.accepts(value)) {
        stats.dropped.filtered++;
        return;
      }
    }
    stats.passed++;
    this.#deps.writer.offer({ sensor: this.name, sensorJson: this.#sensorJson, value, sourceTimeMs, ingestTimeMs, stats });
  }
}

/** A sensor read on an interval: file, command, http or simulated. */
export class PolledSensor implements SensorRunner {
  readonly name: string;
  readonly definition: SensorDefinition;
  readonly #deps: SensorDeps;
  readonly #pipeline: SensorPipeline;
  readonly #source: LocalSensorSource<Reading>;
  readonly #watchdog: SensorHealthWatchdog;
  readonly #close: () => Promise<void>;

  constructor(definition: SensorDefinition & { source: { type: 'file' | 'command' | 'http' | 'simulated' } }, deps: SensorDeps) {
    this.name = definition.name;
    this.definition = definition;
    this.#deps = deps;
    this.#pipeline = new SensorPipeline(definition, deps);
    const reader = pollReader(definition.source, { clock: deps.clock, random: deps.random });
    this.#close = reader.close;
    this.#source = new LocalSensorSource<Reading>({
      read: reader.read,
      publish: (sample) => this.#publish(sample),
      intervalMs: definition.intervalMs,
      clock: deps.clock,
      attemptTimeoutMs: Math.min(30_000, Math.max(1000, definition.intervalMs)),
      group: definition.name,
    });
    this.#watchdog = new SensorHealthWatchdog({
      staleAfterMs: deps.staleAfterMs,
      errorCount: () => this.#source.consecutiveFailures,
      errorAfter: ERROR_AFTER_FAILURES,
      clock: deps.clock,
      group: definition.name,
    });
  }

  health(): HealthStatus {
    return this.#watchdog.check();
  }

  async run(signal: AbortSignal): Promise<void> {
    const { stats, log, writer, clock } = this.#deps;
    try {
      await runOnInterval({
        clock,
        intervalMs: this.definition.intervalMs,
        signal,
        tick: async () => {
          if (writer.blocked) {
            stats.dropped.spoolFull++; // back-pressure: skip the read while the spool refuses samples
            return;
          }
          const failedBefore = this.#source.consecutiveFailures;
          try {
            await this.#source.poll({ signal });
            if (failedBefore > 0) log.info({ event: 'sensor_recovered', sensor: this.name, failures: failedBefore }, 'sensor reads again');
          } catch (error) {
            if (signal.aborted) return;
            stats.readErrors++;
            if (failedBefore === 0) log.warn({ event: 'sensor_read_failed', sensor: this.name, err: error }, 'sensor read failed');
          }
        },
      });
    } finally {
      await this.#close();
    }
  }

  #publish(sample: SensorSample<Reading>): void {
    const value = this.#pipeline.decode(sample.value);
    if (value === undefined) return;
    this.#watchdog.observe();
    this.#pipeline.accept(value, sample.sourceTimeMs, sample.ingestTimeMs);
  }
}
