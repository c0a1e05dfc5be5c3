/**
 * Test fixtures for the spool tests: temporary directories (removed after each test),
 * crash images (a copy of a live spool directory, which is exactly what a `kill -9`
 * leaves, since every returned write is already in the files), and replay helpers.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { SpoolReader, SpoolRecord } from './reader.ts';

const created: string[] = [];

afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the current test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'manyfold-spool-'));
  created.push(dir);
  return dir;
}

/** Copies a (possibly open) spool directory, as a crash would leave it. */
export function crashImage(dir: string): string {
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Segment file names of `dir`, oldest first. */
export function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();
}

/** Reads until the reader has caught up. */
export function readAll(reader: SpoolReader): SpoolRecord[] {
  const out: SpoolRecord[] = [];
  for (;;) {
    const batch = reader.read({ maxRecords: 500 });
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}

/** Everything a fresh reader replays; the reader is closed afterwards. */
export function replay(spool: { reader(): SpoolReader }): SpoolRecord[] {
  const reader = spool.reader();
  try {
    return readAll(reader);
  } finally {
    reader.close();
  }
}

/** A JSON payload, as the agent stores samples. */
export function sample(n: number): Buffer {
  return Buffer.from(JSON.stringify({ n, value: n * 0.5 }));
}

/** The `n` of a payload made by `sample`. */
export function sampleNumber(payload: Uint8Array): number {
  return (JSON.parse(Buffer.from(payload).toString('utf8')) as { n: number }).n;
}
