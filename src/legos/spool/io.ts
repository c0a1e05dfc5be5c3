/**
 * The spool's file operations on top of node:fs: writing a whole buffer at a position,
 * fsync of files and directories, creating a segment file, and the checkpoint file
 * written atomically (temp file, fsync, rename, directory fsync).
 *
 * Assumptions: POSIX semantics as on Linux ext4/xfs: `rename` within a directory is
 * atomic, fsync of a directory makes entries created, renamed or removed in it durable,
 * and an unlinked file stays readable through descriptors already open.
 *
 * Limitations: synchronous calls block the event loop for their duration (microseconds
 * against the page cache; longer on a stalled disk). fsyncs run on libuv's thread pool.
 */
import { closeSync, fdatasync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, encodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName } from './format.ts';
import { emptyIndex, type SegmentState } from './segment.ts';

/** Name of the checkpoint file in the spool directory. */
export const CHECKPOINT_FILE = 'checkpoint';
/** Temporary name the checkpoint is written under before the rename. */
export const CHECKPOINT_TEMP_FILE = 'checkpoint.tmp';

/** Writes `buf[start, end)` at file `position`, looping over short writes. */
export function writeAll(fd: number, buf: Uint8Array, start: number, end: number, position: number): void {
  let done = start;
  while (done < end) {
    const n = writeSync(fd, buf, done, end - done, position + (done - start));
    if (n <= 0) throw new Error(`write returned ${n}`);
    done += n;
  }
}

/** fdatasync on the thread pool. */
export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync of a directory, so entries created, renamed or removed in it survive power loss. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Synchronous fsync of a file by path (used on open, for quarantine copies). */
export function fsyncPathSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the segment file for `baseOffset` (failing if it exists), writes its header and
 * returns its state with the write descriptor open. The caller fsyncs file and directory
 * as its policy says.
 */
export function createSegment(dir: string, baseOffset: number, prevSequence: number | undefined): SegmentState {
  const name = segmentFileName(baseOffset);
  const path = join(dir, name);
  const fd = openSync(path, 'wx');
  try {
    writeAll(fd, encodeSegmentHeader({ baseOffset, prevSequence }), 0, SEGMENT_HEADER_BYTES, 0);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return {
    name,
    path,
    baseOffset,
    bytes: SEGMENT_HEADER_BYTES,
    visibleBytes: SEGMENT_HEADER_BYTES,
    lastOffset: baseOffset - 1,
    lastIngestMs: undefined,
    lastSequence: prevSequence,
    index: emptyIndex(),
    nextIndexAt: SEGMENT_HEADER_BYTES,
    fd,
    sealed: false,
    syncing: 0,
  };
}

/** The persisted acknowledgement, or why the checkpoint file could not be used. */
export type CheckpointRead = { readonly kind: 'missing' } | { readonly kind: 'ok'; readonly ackedOffset: number } | { readonly kind: 'invalid'; readonly error: string };

/** Reads the checkpoint file of `dir`. */
export async function readCheckpoint(dir: string): Promise<CheckpointRead> {
  let buf: Buffer;
  try {
    buf = await readFile(join(dir, CHECKPOINT_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  const decoded = decodeCheckpoint(buf);
  return 'error' in decoded ? { kind: 'invalid', error: decoded.error } : { kind: 'ok', ackedOffset: decoded.ackedOffset };
}

/**
 * Replaces the checkpoint atomically: write a temp file, fsync it, rename it over the old
 * one, fsync the directory (the fsyncs are skipped when `sync` is false). A crash at any
 * point leaves either the old or the new checkpoint, never a mix.
 */
export async function writeCheckpoint(dir: string, ackedOffset: number, options: { sync: boolean }): Promise<void> {
  const temp = join(dir, CHECKPOINT_TEMP_FILE);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(encodeCheckpoint(ackedOffset));
    if (options.sync) await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, CHECKPOINT_FILE));
  if (options.sync) await fsyncDirectory(dir);
}

/** Removes a file, ignoring one that is already gone. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Closes a segment's write descriptor unless an fsync is still using it. */
export function closeSegment(seg: SegmentState): void {
  if (seg.fd === undefined || seg.syncing > 0) return;
  closeSync(seg.fd);
  seg.fd = undefined;
}

/** Deletes a segment file; false when that failed for a reason other than it being gone. */
export function deleteSegmentFile(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
