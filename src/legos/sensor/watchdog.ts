/**
 * SensorHealthWatchdog: turns "when did this sensor last deliver, and is it failing?"
 * into a `HealthStatus` (`ok`, `stale` or `error`) that the agent reports in its
 * heartbeat and the operator aggregates into the `SensorFleet` status.
 *
 * - `stale` when no sample arrived for `staleAfterMs` (monotonic time, so a wall-clock
 *   step cannot fake or hide staleness). Before the first sample, time counts from the
 *   watchdog's start, which gives a new sensor one `staleAfterMs` of grace.
 * - Better than the reference: `error` when the source's failure count (for example
 *   `LocalSensorSource.consecutiveFailures`) reaches `errorAfter`; error wins over
 *   stale because it says why. And `run(signal)` checks on its own timer through the
 *   Clock, so staleness is reported even when nothing arrives to trigger a check.
 *
 * `assessHealth` is the pure decision; the class holds the state and the timer.
 *
 * Limitations: the watchdog learns of samples only through `observe()`; wire it into
 * the publish path after filtering decisions you do not want to count as liveness.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { checkInterval, runOnInterval } from './schedule.ts';
import type { HealthState, HealthStatus } from './types.ts';

/** Inputs of {@link assessHealth}; times are monotonic ms. */
export interface HealthInputs {
  readonly nowMs: number;
  /** Last sample, or the watchdog's start when none arrived yet. */
  readonly lastSeenMs: number;
  readonly sawSample: boolean;
  readonly staleAfterMs: number;
  readonly errorCount: number;
  readonly errorAfter: number;
}

/** The pure health decision: the state and the reason. */
export function assessHealth(input: HealthInputs): { status: HealthState; message: string } {
  if (input.errorCount >= input.errorAfter) {
    return { status: 'error', message: `source failing: ${input.errorCount} consecutive failure(s)` };
  }
  const age = input.nowMs - input.lastSeenMs;
  if (age >= input.staleAfterMs) {
    const what = input.sawSample ? 'no sample' : 'no sample since start';
    return { status: 'stale', message: `${what} for ${Math.round(age)} ms (stale after ${input.staleAfterMs} ms)` };
  }
  return { status: 'ok', message: '' };
}

/** Options of a {@link SensorHealthWatchdog}. */
export interface SensorHealthWatchdogOptions {
  /** Silence (ms) after which the sensor is stale; > 0. */
  staleAfterMs: number;
  /** Period of `run`'s checks, in ms. Default `min(staleAfterMs / 2, 10 000)`. */
  checkIntervalMs?: number | undefined;
  /** The source's current failure count. Default: always 0. */
  errorCount?: (() => number) | undefined;
  /** Failure count at which the status is `error`; >= 1. Default 1. */
  errorAfter?: number | undefined;
  /** Receives every status `run` computes; must not throw. */
  report?: ((status: HealthStatus) => void) | undefined;
  clock?: Clock | undefined;
  group?: string | undefined;
}

/** Tracks sample arrivals and reports ok / stale / error. */
export class SensorHealthWatchdog {
  readonly staleAfterMs: number;
  readonly checkIntervalMs: number;
  readonly errorAfter: number;
  readonly group: string | undefined;
  readonly #options: SensorHealthWatchdogOptions;
  readonly #clock: Clock;
  #lastSeenMs: number;
  #lastSampleWallMs: number | undefined;
  #samples = 0;
  #checks = 0;
  #transitions = 0;
  #current: HealthStatus | undefined;

  constructor(options: SensorHealthWatchdogOptions) {
    this.#options = options;
    this.staleAfterMs = options.staleAfterMs;
    checkInterval('SensorHealthWatchdog', 'staleAfterMs', this.staleAfterMs);
    this.checkIntervalMs = options.checkIntervalMs ?? Math.min(this.staleAfterMs / 2, 10_000);
    checkInterval('SensorHealthWatchdog', 'checkIntervalMs', this.checkIntervalMs);
    this.errorAfter = options.errorAfter ?? 1;
    if (!Number.isSafeInteger(this.errorAfter) || this.errorAfter < 1) throw new RangeError(`SensorHealthWatchdog: errorAfter must be a positive integer, got ${this.errorAfter}`);
    this.group = options.group;
    this.#clock = options.clock ?? SystemClock;
    this.#lastSeenMs = this.#clock.monotonic();
  }

  /** Samples observed. */
  get samples(): number {
    return this.#samples;
  }
  /** Checks made. */
  get checks(): number {
    return this.#checks;
  }
  /** Checks whose status differed from the previous one. */
  get transitions(): number {
    return this.#transitions;
  }
  /** The latest computed status, if any. */
  get current(): HealthStatus | undefined {
    return this.#current;
  }

  /** Records that a sample arrived now (the argument is ignored, so it can be used as a publish tap). */
  observe(_sample?: unknown): void {
    this.#samples++;
    this.#lastSeenMs = this.#clock.monotonic();
    this.#lastSampleWallMs = this.#clock.now();
  }

  /** Computes the status now. */
  check(): HealthStatus {
    const errorCount = this.#options.errorCount?.() ?? 0;
    const decision = assessHealth({
      nowMs: this.#clock.monotonic(),
      lastSeenMs: this.#lastSeenMs,
      sawSample: this.#samples > 0,
      staleAfterMs: this.staleAfterMs,
      errorCount,
      errorAfter: this.errorAfter,
    });
    const status: HealthStatus = {
      ...decision,
      observedAtMs: this.#clock.now(),
      errorCount,
      ...(this.#lastSampleWallMs === undefined ? {} : { lastSampleAtMs: this.#lastSampleWallMs }),
    };
    this.#checks++;
    if (this.#current !== undefined && this.#current.status !== status.status) this.#transitions++;
    this.#current = status;
    return status;
  }

  /** Checks every `checkIntervalMs` (first at once) and reports each status, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#samples === 0) this.#lastSeenMs = this.#clock.monotonic(); // grace counts from the start of monitoring
    await runOnInterval({
      clock: this.#clock,
      intervalMs: this.checkIntervalMs,
      signal,
      tick: () => {
        const status = this.check();
        this.#options.report?.(status);
      },
    });
  }
}
