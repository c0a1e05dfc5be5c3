/**
 * Clocks: the seam through which every deadline, timestamp and delay in Manyfold
 * comes, so tests drive time by hand instead of sleeping.
 *
 * Two kinds of time, never mixed:
 * - wall time (`now()`, ms since the Unix epoch) for timestamps people and other
 *   machines read (sample times, condition transition times, status fields);
 * - monotonic time (`monotonic()`, ms from an arbitrary origin) for deadlines, TTLs,
 *   backoff and ages: it never jumps when NTP steps the wall clock.
 *
 * Limitations: `SystemClock.sleep` has the resolution of Node timers (about 1 ms) and
 * can fire late under load; callers that need a hard deadline re-check `monotonic()`.
 */

/** Time and sleeping, injected wherever code has a deadline. */
export interface Clock {
  /** Wall-clock time in ms since the Unix epoch. */
  now(): number;
  /** Monotonic time in ms from an arbitrary origin; use for deadlines and durations. */
  monotonic(): number;
  /** Resolves after `ms` of monotonic time; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason; // AbortSignal's default DOMException is an Error
  return new Error(reason === undefined ? 'This operation was aborted' : `aborted: ${JSON.stringify(reason) ?? 'unknown reason'}`);
}

/** The process's real clocks (`Date.now()` and `performance.now()`). */
export const SystemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal as AbortSignal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Sleeper {
  readonly until: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` moves both wall and monotonic
 * time and wakes, in deadline order, every sleeper whose deadline has passed; `set`
 * moves only the wall clock (as an NTP step would), never the monotonic one.
 */
export class ManualClock implements Clock {
  private wall: number;
  private mono: number;
  private seq = 0;
  private sleepers: Sleeper[] = [];

  constructor(options: { wallMs?: number; monotonicMs?: number } = {}) {
    this.wall = options.wallMs ?? Date.UTC(2026, 0, 1);
    this.mono = options.monotonicMs ?? 0;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  /** Steps the wall clock to `wallMs` (monotonic time is unaffected). */
  set(wallMs: number): void {
    this.wall = wallMs;
  }

  /** Moves time forward by `ms` and wakes the sleepers that are due. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.wall += ms;
    this.mono += ms;
    const due = this.sleepers.filter((s) => s.until <= this.mono).sort((a, b) => a.until - b.until || a.seq - b.seq);
    this.sleepers = this.sleepers.filter((s) => s.until > this.mono);
    for (const sleeper of due) sleeper.resolve();
  }

  /** Number of pending sleeps (for tests that wait until code is parked). */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      if (ms <= 0) {
        resolve();
        return;
      }
      const sleeper: Sleeper = {
        until: this.mono + ms,
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }
}

/** RFC 3339 with seconds precision (`2026-01-01T00:00:00Z`), as `metav1.Time` fields want. */
export function rfc3339(wallMs: number): string {
  return new Date(wallMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 with microseconds, as `metav1.MicroTime` fields (Lease, Event) want. */
export function microTime(wallMs: number): string {
  return new Date(wallMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
