/**
 * The agent's counters: plain numbers on the hot path (a sample costs a few increments,
 * no label hashing), read by the Prometheus collectors at scrape time (`metrics.ts`) and
 * by tests. Counters are per process: they start at zero after a restart.
 */
import type { MalformedReason } from './decode.ts';

/**
 * Why a sample read from a sensor did not reach the spool: malformed data (see
 * `decode.ts`), suppressed by a filter (`filtered`), superseded by a newer value before
 * a stream sensor's release tick (`superseded`), the writer queue full (`queueFull`),
 * refused by a full spool under `overflow: block` (`spoolFull`; polled sensors skip
 * their reads instead and count them here), or a spool write that failed (`spoolError`).
 */
export type DropReason = MalformedReason | 'filtered' | 'superseded' | 'queueFull' | 'spoolFull' | 'spoolError';

export const DROP_REASONS: readonly DropReason[] = [
  'invalidUtf8',
  'blank',
  'invalidJson',
  'nonFiniteNumber',
  'tooLarge',
  'filtered',
  'superseded',
  'queueFull',
  'spoolFull',
  'spoolError',
];

/** Counters of one sensor. */
export class SensorStats {
  /** Readings taken (polls that returned, stream messages received). */
  read = 0;
  /** Readings that decoded and passed every filter. */
  passed = 0;
  /** Samples whose spool append returned (the agent's acknowledgement). */
  accepted = 0;
  /** Reads that failed (file missing, command failed, connection lost). */
  readErrors = 0;
  readonly dropped: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

  /** Sum of `dropped` over all reasons. */
  get droppedTotal(): number {
    let sum = 0;
    for (const reason of DROP_REASONS) sum += this.dropped[reason];
    return sum;
  }
}

/** Counters of the forwarder. */
export class ForwardStats {
  batches = 0;
  records = 0;
  bytes = 0;
  /** Failed sends by class: `network`, `timeout`, `http5xx`, `http4xx`, `other`. */
  readonly errors = new Map<string, number>();
  consecutiveFailures = 0;
  lastError: string | undefined;

  countError(errorClass: string): void {
    this.errors.set(errorClass, (this.errors.get(errorClass) ?? 0) + 1);
  }

  get errorsTotal(): number {
    let sum = 0;
    for (const n of this.errors.values()) sum += n;
    return sum;
  }
}

/** All counters of one agent process; sensors are keyed by name (at most MAX_SENSORS live ones). */
export class AgentStats {
  readonly sensors = new Map<string, SensorStats>();
  readonly forward = new ForwardStats();
  heartbeats = 0;
  heartbeatFailures = 0;
  reloads = 0;
  reloadFailures = 0;
  spoolWriteErrors = 0;
  spoolReopens = 0;

  /** The counters of `sensor`, created on first use. */
  sensor(name: string): SensorStats {
    let stats = this.sensors.get(name);
    if (stats === undefined) {
      stats = new SensorStats();
      this.sensors.set(name, stats);
    }
    return stats;
  }

  /** Forgets sensors no longer configured (their series disappear from /metrics). */
  retainSensors(names: ReadonlySet<string>): void {
    for (const name of [...this.sensors.keys()]) if (!names.has(name)) this.sensors.delete(name);
  }
}
