/**
 * runOnInterval: the drift-corrected interval scheduler the sensor blocks share
 * (polling, time-based release, health checks). Tick k is due at
 * `origin + k × intervalMs` on the monotonic clock, so the time a tick takes, and
 * late timer wake-ups, do not accumulate into drift the way `sleep(interval)` after
 * each tick would. A tick that overruns one or more due times does not cause a burst
 * of catch-up ticks: the schedule skips to the next due time still ahead and counts
 * the skipped ticks as missed.
 *
 * Stops, and resolves, when `signal` aborts. A tick that throws ends the loop with
 * that error (owners catch their own errors inside the tick).
 *
 * Limitations: ticks never overlap (the next is scheduled after the previous one
 * finished); precision is the Clock's timer resolution.
 */
import { MAX_TIMER_DELAY_MS } from '../retry.ts';
import type { Clock } from '../clock.ts';

/** What a tick receives. */
export interface TickInfo {
  /** 0-based index of the due time this tick serves (skipped ticks leave gaps). */
  readonly index: number;
  /** Monotonic time the tick was due. */
  readonly dueAtMs: number;
  readonly signal: AbortSignal;
}

/** Options of {@link runOnInterval}. */
export interface IntervalOptions {
  clock: Clock;
  /** Period in ms, in (0, MAX_TIMER_DELAY_MS]. */
  intervalMs: number;
  signal: AbortSignal;
  /** Run the first tick at once (true, default) or one interval after start. */
  immediate?: boolean | undefined;
  tick: (info: TickInfo) => void | Promise<void>;
  /** Called with the number of due times skipped after an overrunning tick. */
  onMissed?: ((skipped: number) => void) | undefined;
}

/** Checks an interval option; shared by the blocks that take one. */
export function checkInterval(owner: string, name: string, ms: number): void {
  if (!(ms > 0 && ms <= MAX_TIMER_DELAY_MS)) throw new RangeError(`${owner}: ${name} must be in (0, ${MAX_TIMER_DELAY_MS}] ms, got ${ms}`);
}

/** Runs `tick` every `intervalMs` until `signal` aborts; see the module header. */
export async function runOnInterval(options: IntervalOptions): Promise<void> {
  const { clock, intervalMs, signal } = options;
  checkInterval('runOnInterval', 'intervalMs', intervalMs);
  const origin = clock.monotonic();
  let index = options.immediate === false ? 1 : 0;
  while (!signal.aborted) {
    const dueAtMs = origin + index * intervalMs;
    const wait = dueAtMs - clock.monotonic();
    if (wait > 0) {
      try {
        await clock.sleep(wait, signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
    }
    if (signal.aborted) return;
    await options.tick({ index, dueAtMs, signal });
    if (signal.aborted) return;
    // The first due time not already past; a due time equal to now still runs.
    const next = Math.max(index + 1, Math.ceil((clock.monotonic() - origin) / intervalMs));
    if (next > index + 1) options.onMissed?.(next - index - 1);
    index = next;
  }
}
