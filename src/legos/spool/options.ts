/**
 * Spool options, their defaults and their validation. Every limit is checked once here,
 * at construction, with a message that names the option; the rest of the spool trusts
 * the resolved values.
 */
import { type Clock, SystemClock } from '../clock.ts';
import { SpoolConfigError } from './errors.ts';
import { MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.ts';
import type { OverflowPolicy } from './plan.ts';

/**
 * When appended bytes are forced to stable storage (protection against power loss; a
 * `kill -9` never loses a returned append under any policy):
 * - `always`: `append` resolves only after its bytes are fsynced (concurrent appends
 *   share one fsync, "group commit");
 * - `interval`: an fsync every `intervalMs` while there is unsynced data; a power loss
 *   loses at most the appends of about the last interval;
 * - `never`: the spool never fsyncs (tmpfs, tests, or data you can afford to lose on power
 *   loss); segment rolls and checkpoints are not fsynced either.
 */
export type FsyncPolicy = { readonly mode: 'always' } | { readonly mode: 'interval'; readonly intervalMs: number } | { readonly mode: 'never' };

/** The default fsync policy: every 200 ms (Vector's disk buffer uses 500 ms). */
export const DEFAULT_FSYNC: FsyncPolicy = { mode: 'interval', intervalMs: 200 };

/** Options of `LocalDurableSpool.open`. */
export interface SpoolOptions {
  /** Directory holding the segments and the checkpoint; created if missing. One spool per directory. */
  readonly dir: string;
  /** Upper bound on the bytes of all segments (headers included). Default 1 GiB. */
  readonly maxBytes?: number | undefined;
  /**
   * Segment size in bytes at which a new segment starts. Default `maxBytes / 8`, at most
   * 64 MiB and at least one segment header plus one largest record. Must be at most half
   * of `maxBytes` (eviction and acknowledgement free whole segments) and at most 1 GiB.
   */
  readonly segmentBytes?: number | undefined;
  /** Largest payload accepted, in bytes. Default 1 MiB, at most 16 MiB. */
  readonly maxRecordBytes?: number | undefined;
  /** Records ingested longer ago than this are dropped (counted as `age`). Default: no age limit. */
  readonly maxAgeSeconds?: number | undefined;
  /** What an append beyond `maxBytes` does. Default `dropOldest`. */
  readonly overflow?: OverflowPolicy | undefined;
  /** Default `DEFAULT_FSYNC` (`interval`, 200 ms). */
  readonly fsync?: FsyncPolicy | undefined;
  /** How often acknowledgements (and segment deletions) are persisted, in ms. Default 500. */
  readonly checkpointIntervalMs?: number | undefined;
  /** Time source for ingest times, ages and the fsync/checkpoint timers. Default `SystemClock`. */
  readonly clock?: Clock | undefined;
  /** Aborting it closes the spool. */
  readonly signal?: AbortSignal | undefined;
  /** Label for metrics and logs, passed down by the composite that owns the spool. */
  readonly group?: string | undefined;
}

/** Options with every default applied and every limit checked. */
export interface ResolvedSpoolOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly maxAgeMs: number | undefined;
  readonly overflow: OverflowPolicy;
  readonly fsync: FsyncPolicy;
  readonly checkpointIntervalMs: number;
  readonly clock: Clock;
  readonly group: string | undefined;
}

const MiB = 1024 * 1024;
/** Largest segment accepted: recovery reads a segment into memory whole. */
const MAX_SEGMENT_BYTES = 1024 * MiB;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new SpoolConfigError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Applies defaults and validates; throws `SpoolConfigError` naming the option at fault. */
export function resolveSpoolOptions(options: SpoolOptions): ResolvedSpoolOptions {
  if (typeof options.dir !== 'string' || options.dir === '') throw new SpoolConfigError('dir must be a non-empty path');
  const maxRecordBytes = positiveInteger('maxRecordBytes', options.maxRecordBytes ?? MiB);
  if (maxRecordBytes > MAX_PAYLOAD_BYTES) throw new SpoolConfigError(`maxRecordBytes ${maxRecordBytes} exceeds the format limit of ${MAX_PAYLOAD_BYTES} bytes`);
  const oneRecord = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + maxRecordBytes;
  const maxBytes = positiveInteger('maxBytes', options.maxBytes ?? 1024 * MiB);
  if (maxBytes < oneRecord) {
    throw new SpoolConfigError(
      `maxBytes ${maxBytes} is smaller than one record: a segment header (${SEGMENT_HEADER_BYTES} B) plus a record of maxRecordBytes ${maxRecordBytes} with its ${RECORD_HEADER_BYTES} B header needs ${oneRecord} bytes`,
    );
  }
  const segmentBytes = positiveInteger('segmentBytes', options.segmentBytes ?? Math.max(oneRecord, Math.min(64 * MiB, Math.floor(maxBytes / 8))));
  if (segmentBytes < oneRecord) throw new SpoolConfigError(`segmentBytes ${segmentBytes} cannot hold one record of maxRecordBytes ${maxRecordBytes} (needs ${oneRecord} bytes)`);
  if (segmentBytes > MAX_SEGMENT_BYTES) throw new SpoolConfigError(`segmentBytes ${segmentBytes} exceeds ${MAX_SEGMENT_BYTES} (segments are read whole on open)`);
  if (2 * segmentBytes > maxBytes) {
    throw new SpoolConfigError(`maxBytes ${maxBytes} must be at least twice segmentBytes ${segmentBytes} (space is freed a whole segment at a time); raise maxBytes or lower segmentBytes/maxRecordBytes`);
  }
  const maxAge = options.maxAgeSeconds;
  if (maxAge !== undefined && !(Number.isFinite(maxAge) && maxAge > 0)) throw new SpoolConfigError(`maxAgeSeconds must be a positive number, got ${maxAge}`);
  const overflow = options.overflow ?? 'dropOldest';
  if (overflow !== 'dropOldest' && overflow !== 'block') throw new SpoolConfigError(`overflow must be 'dropOldest' or 'block', got ${String(overflow)}`);
  const fsync = options.fsync ?? DEFAULT_FSYNC;
  if (fsync.mode === 'interval') positiveInteger('fsync.intervalMs', fsync.intervalMs);
  else if (fsync.mode !== 'always' && fsync.mode !== 'never') throw new SpoolConfigError(`fsync.mode must be 'always', 'interval' or 'never'`);
  return {
    dir: options.dir,
    maxBytes,
    segmentBytes,
    maxRecordBytes,
    maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000,
    overflow,
    fsync,
    checkpointIntervalMs: positiveInteger('checkpointIntervalMs', options.checkpointIntervalMs ?? 500),
    clock: options.clock ?? SystemClock,
    group: options.group,
  };
}
