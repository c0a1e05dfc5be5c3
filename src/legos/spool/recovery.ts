/**
 * Opening a spool directory after a clean shutdown or a crash. Reads the checkpoint,
 * deletes segments wholly acknowledged, scans every other segment (see `scan.ts`) and
 * repairs what it finds:
 * - a torn tail of the newest segment (a partial last record, or a bad CRC with nothing
 *   valid after it: what a crash mid-write leaves) is truncated and counted;
 * - any other damage (a bad record followed by valid ones, or damage in a sealed
 *   segment, or a bad header) fails closed for that segment: the original file is copied
 *   to `<name>.corrupt` (or `<name>.<k>.corrupt`), the segment is cut back to its intact
 *   prefix, which stays readable, and a `SpoolCorruptionError` naming the file and byte
 *   position goes into the report. Other segments are untouched.
 *
 * Offsets stay unique: the next offset is above every offset seen, even in quarantined
 * data, and above the checkpoint. A new active segment is started when the newest one
 * was quarantined. Unless the policy is `never`, every live segment is fsynced before the
 * spool opens, since a killed process may have left its last writes in the page cache.
 *
 * Limitations: reads each segment whole (segments are at most 64 MiB by default) and
 * blocks between reads only on the fs calls; a crash during repair is safe (every step
 * is idempotent: the copy is made before the cut) but may leave an extra quarantine copy.
 */
import { closeSync, copyFileSync, existsSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SpoolCorruptionError } from './errors.ts';
import { encodeSegmentHeader, MAX_OFFSET, parseSegmentFileName, SEGMENT_HEADER_BYTES, segmentFileName } from './format.ts';
import { CHECKPOINT_TEMP_FILE, createSegment, fsyncDirectory, fsyncPathSync, readCheckpoint, removeIfPresent, writeAll } from './io.ts';
import type { ResolvedSpoolOptions } from './options.ts';
import { recordsAbove } from './plan.ts';
import { scanSegment } from './scan.ts';
import type { SegmentState } from './segment.ts';

/** A torn tail cut off on open. */
export interface TruncatedTail {
  readonly file: string;
  /** Byte position the file was cut back to. */
  readonly position: number;
  readonly bytes: number;
  readonly reason: string;
}

/** What `LocalDurableSpool.open` found and repaired. */
export interface RecoveryReport {
  /** Live segments after recovery, the new active one included. */
  readonly segments: number;
  /** Records above the persisted acknowledgement, ready for replay. */
  readonly records: number;
  /** The acknowledged offset read from the checkpoint (0 when none). */
  readonly ackedOffset: number;
  /** Highest offset appended so far (0 when none). */
  readonly lastOffset: number;
  readonly truncated: readonly TruncatedTail[];
  readonly truncatedBytes: number;
  /** Damage found, one error per segment failed closed; the agent reports these. */
  readonly corruptions: readonly SpoolCorruptionError[];
  /** Segments deleted on open because the checkpoint covered them. */
  readonly deletedSegments: number;
  /** Why the checkpoint was ignored (everything is then replayed), if it was. */
  readonly checkpointError: string | undefined;
  /** Every `*.corrupt` file in the directory, from this open or earlier ones. */
  readonly quarantineFiles: readonly string[];
  /** Wall-clock duration of the open, ms (monotonic clock). */
  readonly durationMs: number;
}

/** The state the spool starts from. */
export interface RecoveredState {
  /** Oldest first; the last one is the active segment, with its write descriptor open. */
  readonly segments: SegmentState[];
  readonly ackedOffset: number;
  readonly nextOffset: number;
  readonly lastSequence: number | undefined;
  readonly lastIngestMs: number;
  readonly report: RecoveryReport;
}

/** Opens (creating if needed) and repairs the spool directory. */
export async function recoverSpool(options: ResolvedSpoolOptions): Promise<RecoveredState> {
  const started = options.clock.monotonic();
  const sync = options.fsync.mode !== 'never';
  const { dir } = options;
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  if (created && sync) await fsyncDirectory(dirname(dir));

  const names = readdirSync(dir);
  if (names.includes(CHECKPOINT_TEMP_FILE)) await removeIfPresent(join(dir, CHECKPOINT_TEMP_FILE));
  const bases = names.flatMap((n) => parseSegmentFileName(n) ?? []).sort((a, b) => a - b);
  const checkpoint = await readCheckpoint(dir);
  const ackedOffset = checkpoint.kind === 'ok' ? checkpoint.ackedOffset : 0;

  let changed = false;
  let deletedSegments = 0;
  while (bases.length > 1 && (bases[1] as number) - 1 <= ackedOffset) {
    unlinkSync(join(dir, segmentFileName(bases.shift() as number)));
    deletedSegments++;
    changed = true;
  }

  const segments: SegmentState[] = [];
  const truncated: TruncatedTail[] = [];
  const corruptions: SpoolCorruptionError[] = [];
  let maxSeen = ackedOffset;
  let lastSequence: number | undefined;
  let lastIngestMs = 0;
  let newestUsable = false;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i] as number;
    const name = segmentFileName(base);
    const path = join(dir, name);
    const newest = i === bases.length - 1;
    const maxOffset = newest ? MAX_OFFSET : (bases[i + 1] as number) - 1;
    const buf = await readFile(path);
    const scan = scanSegment(buf, { baseOffset: base, maxOffset });
    const damage = scan.damage;
    maxSeen = Math.max(maxSeen, scan.lastOffset);
    const seg: SegmentState = {
      name,
      path,
      baseOffset: base,
      bytes: scan.validBytes,
      visibleBytes: scan.validBytes,
      lastOffset: scan.lastOffset,
      lastIngestMs: scan.lastIngestMs,
      lastSequence: scan.lastSequence ?? lastSequence,
      index: scan.index,
      nextIndexAt: scan.nextIndexAt,
      fd: undefined,
      sealed: !newest,
      syncing: 0,
    };
    if (damage === undefined) {
      segments.push(seg);
      newestUsable = newest;
    } else if (newest && damage.fault === 'bad-header' && buf.length < SEGMENT_HEADER_BYTES) {
      // Crash while creating the segment: rewrite its header.
      const fd = openSync(path, 'r+');
      writeAll(fd, encodeSegmentHeader({ baseOffset: base, prevSequence: lastSequence }), 0, SEGMENT_HEADER_BYTES, 0);
      seg.fd = fd;
      seg.bytes = SEGMENT_HEADER_BYTES;
      seg.visibleBytes = SEGMENT_HEADER_BYTES;
      seg.lastSequence = lastSequence;
      truncated.push({ file: path, position: 0, bytes: buf.length, reason: 'segment header torn; rewritten' });
      segments.push(seg);
      newestUsable = true;
      changed = true;
    } else if (newest && !damage.validAfter && damage.fault !== 'bad-header') {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, scan.validBytes);
      seg.fd = fd;
      truncated.push({ file: path, position: scan.validBytes, bytes: buf.length - scan.validBytes, reason: `torn tail: ${damage.detail}` });
      segments.push(seg);
      newestUsable = true;
      changed = true;
    } else {
      const quarantinedAs = quarantine(dir, name, sync);
      if (scan.header === undefined) unlinkSync(path);
      else truncateTo(path, scan.validBytes, sync);
      const lastLost = newest ? Math.max(damage.maxOffsetAfter, damage.expectedOffset) : maxOffset;
      maxSeen = Math.max(maxSeen, lastLost);
      if (damage.maxSequenceAfter !== undefined) seg.lastSequence = Math.max(seg.lastSequence ?? 0, damage.maxSequenceAfter);
      const recordsLost = Math.max(0, lastLost - Math.max(damage.expectedOffset - 1, ackedOffset));
      corruptions.push(new SpoolCorruptionError({ file: path, position: damage.position, expectedOffset: damage.expectedOffset, detail: damage.detail, recordsLost, quarantinedAs }));
      if (scan.header !== undefined) segments.push(seg);
      newestUsable = false;
      changed = true;
    }
    lastSequence = seg.lastSequence;
    if (seg.lastIngestMs !== undefined) lastIngestMs = Math.max(lastIngestMs, seg.lastIngestMs);
  }

  const nextOffset = maxSeen + 1;
  const active = segments.at(-1);
  if (newestUsable && active !== undefined) {
    active.fd ??= openSync(active.path, 'r+');
    active.sealed = false;
  } else {
    if (active !== undefined) active.sealed = true;
    segments.push(createSegment(dir, nextOffset, lastSequence));
    changed = true;
  }
  if (sync) {
    // What a killed process wrote may still be only in the page cache: make all of it
    // durable before readers see it (cheap for files with nothing dirty).
    for (const seg of segments) fsyncPathSync(seg.path);
    if (changed) await fsyncDirectory(dir);
  }

  let records = 0;
  for (const seg of segments) records += recordsAbove(seg, ackedOffset);
  const quarantineFiles = readdirSync(dir).filter((n) => n.endsWith('.corrupt')).map((n) => join(dir, n));
  const report: RecoveryReport = {
    segments: segments.length,
    records,
    ackedOffset,
    lastOffset: nextOffset - 1,
    truncated,
    truncatedBytes: truncated.reduce((sum, t) => sum + t.bytes, 0),
    corruptions,
    deletedSegments,
    checkpointError: checkpoint.kind === 'invalid' ? checkpoint.error : undefined,
    quarantineFiles,
    durationMs: options.clock.monotonic() - started,
  };
  return { segments, ackedOffset, nextOffset, lastSequence, lastIngestMs, report };
}

/** Copies a damaged segment aside under a free `.corrupt` name and returns that path. */
function quarantine(dir: string, name: string, sync: boolean): string {
  let target = join(dir, `${name}.corrupt`);
  for (let k = 1; existsSync(target); k++) target = join(dir, `${name}.${k}.corrupt`);
  copyFileSync(join(dir, name), target);
  if (sync) fsyncPathSync(target);
  return target;
}

function truncateTo(path: string, bytes: number, sync: boolean): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, bytes);
    if (sync) fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
