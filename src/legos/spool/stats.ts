/**
 * The spool's counters and the snapshot it reports (`LocalDurableSpool.stats()`), for
 * Prometheus metrics and the SensorFleet heartbeat (`backlogRecords` is `records`).
 * Counters start at zero in each process, seeded with what recovery found on open.
 */
import type { RecoveryReport } from './recovery.ts';

/** Records dropped without being acknowledged, by reason. */
export interface DroppedCounts {
  /** Evicted by `dropOldest` to stay under `maxBytes`. */
  readonly overflow: number;
  /** Older than `maxAgeSeconds`. */
  readonly age: number;
  /** Lost to damage found on open (a lower bound; see `SpoolCorruptionError.recordsLost`). */
  readonly corrupt: number;
}

/** A point-in-time view of the spool. */
export interface SpoolStats {
  readonly group: string | undefined;
  readonly state: 'open' | 'failed' | 'closed';
  /** Records held and not yet acknowledged or dropped (the backlog). */
  readonly records: number;
  /** Bytes of all live segment files, headers and acknowledged records included. */
  readonly bytes: number;
  readonly segments: number;
  readonly lastOffset: number;
  /** Highest offset readers can see (fsynced, unless the policy is `never`). */
  readonly durableOffset: number;
  readonly lastSequence: number | undefined;
  readonly ackedOffset: number;
  readonly persistedAckOffset: number;
  /**
   * Age (ms, wall clock) of the oldest record held, undefined when none; from the sparse
   * index, so it may overstate the age by the time 64 KiB of records span, never understate it.
   */
  readonly oldestUnackedAgeMs: number | undefined;
  readonly dropped: DroppedCounts;
  /** Bytes cut off torn tails on open, and how many tails. */
  readonly truncatedBytes: number;
  readonly truncations: number;
  /** Appends refused with `SpoolFullError`. */
  readonly rejectedFull: number;
  readonly fsyncs: number;
  readonly checkpoints: number;
  readonly checkpointErrors: number;
  /** Segment files that could not be deleted (they still use disk space). */
  readonly deleteErrors: number;
}

/** The spool's mutable counters. */
export class SpoolCounters {
  droppedOverflow = 0;
  droppedAge = 0;
  droppedCorrupt: number;
  truncatedBytes: number;
  truncations: number;
  rejectedFull = 0;
  fsyncs = 0;
  checkpoints = 0;
  checkpointErrors = 0;
  deleteErrors = 0;

  constructor(report: RecoveryReport) {
    this.droppedCorrupt = report.corruptions.reduce((sum, c) => sum + c.recordsLost, 0);
    this.truncatedBytes = report.truncatedBytes;
    this.truncations = report.truncated.length;
  }

  /** Combines the counters with the gauges the spool computes. */
  snapshot(gauges: Omit<SpoolStats, 'dropped' | 'truncatedBytes' | 'truncations' | 'rejectedFull' | 'fsyncs' | 'checkpoints' | 'checkpointErrors' | 'deleteErrors'>): SpoolStats {
    return {
      ...gauges,
      dropped: { overflow: this.droppedOverflow, age: this.droppedAge, corrupt: this.droppedCorrupt },
      truncatedBytes: this.truncatedBytes,
      truncations: this.truncations,
      rejectedFull: this.rejectedFull,
      fsyncs: this.fsyncs,
      checkpoints: this.checkpoints,
      checkpointErrors: this.checkpointErrors,
      deleteErrors: this.deleteErrors,
    };
  }
}
