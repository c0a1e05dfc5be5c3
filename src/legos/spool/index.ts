/**
 * Public API of the durable local spool (`LocalDurableSpool` in SENSOR-IO.md): see
 * `spool.ts` for guarantees, assumptions, failure behaviour and limitations, `format.ts`
 * for the on-disk layout and `recovery.ts` for what happens on open after a crash.
 */
export { crc32c } from './crc32c.ts';
export { SpoolClosedError, SpoolConfigError, SpoolCorruptionError, SpoolError, SpoolFailedError, SpoolFullError, SpoolWriteError } from './errors.ts';
export { MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from './format.ts';
export { DEFAULT_FSYNC, type FsyncPolicy, type ResolvedSpoolOptions, type SpoolOptions } from './options.ts';
export type { OverflowPolicy } from './plan.ts';
export { type ReadOptions, type SpoolReader, type SpoolRecord } from './reader.ts';
export type { RecoveryReport, TruncatedTail } from './recovery.ts';
export { type AppendResult, LocalDurableSpool, type SpoolInput } from './spool.ts';
export type { DroppedCounts, SpoolStats } from './stats.ts';
