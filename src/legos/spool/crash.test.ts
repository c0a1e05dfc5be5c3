import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFailed } from 'vitest';
import { replay, sampleNumber, tempDir } from './fixtures.test-helper.ts';
import { LocalDurableSpool } from './index.ts';

/**
 * Real `kill -9`: a child appends as fast as it can and logs each offset once its append
 * returned; the parent SIGKILLs it at a random moment, reopens the spool and checks
 * that every logged offset above the child's last acknowledgement is there, that the
 * replay is gap-free and uncorrupted, and that every record's number equals its offset.
 * Then the next child continues on the same directory.
 *
 * The kill moments come from a seeded PRNG; a failure prints the seed, and
 * `MANYFOLD_SPOOL_CRASH_SEED=<seed>` replays the same moments (the child's own pace still
 * varies with the machine's load).
 */

const KILLS = 50;
const CHILD = fileURLToPath(new URL('./crash-child.test-helper.ts', import.meta.url));
// Same limits as CHILD_SPOOL in the child (not imported: importing it would run the child).
const SPOOL = { maxBytes: 64 * 1024 * 1024, segmentBytes: 64 * 1024, maxRecordBytes: 1024, checkpointIntervalMs: 10, fsync: { mode: 'never' } } as const;

interface ChildRun {
  readonly readyLastOffset: number;
  readonly lastLogged: number;
  readonly logged: number;
  readonly lastAck: number;
}

/** Runs one child until SIGKILL `killAfterMs` after it reported ready, then reads its progress log. */
async function runChild(dir: string, mode: string, killAfterMs: number): Promise<ChildRun> {
  const progress = join(dir, '..', `${basename(dir)}.progress`);
  writeFileSync(progress, '');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, mode, progress], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let killed = false;
    const startup = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.stdout.once('data', () => {
      clearTimeout(startup);
      setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, killAfterMs);
    });
    child.on('close', (code, signal) => {
      clearTimeout(startup);
      if (killed && signal === 'SIGKILL') resolve();
      else reject(new Error(`child ended unexpectedly (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
  const lines = readFileSync(progress, 'utf8').split('\n');
  rmSync(progress);
  const ready = lines.shift() ?? '';
  expect(ready).toMatch(/^ready \d+$/);
  let lastLogged = 0;
  let logged = 0;
  let lastAck = 0;
  // The last line may be cut short by the kill: only whole lines count.
  for (const line of lines.slice(0, -1)) {
    if (line.startsWith('a ')) {
      lastAck = Math.max(lastAck, Number(line.slice(2)));
    } else {
      const offset = Number(line);
      expect(offset).toBeGreaterThan(lastLogged);
      lastLogged = offset;
      logged++;
    }
  }
  return { readyLastOffset: Number(ready.slice(6)), lastLogged, logged, lastAck };
}

/** A small deterministic PRNG (mulberry32): uniform [0, 1) from a 32-bit seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('LocalDurableSpool under kill -9', () => {
  it(`keeps every returned append across ${KILLS} SIGKILLs at random moments`, async () => {
    const seed = Number(process.env['MANYFOLD_SPOOL_CRASH_SEED'] ?? Date.now() % 1_000_000);
    onTestFailed(() => {
      process.stdout.write(`[spool crash test] FAILED with seed ${seed}; replay: MANYFOLD_SPOOL_CRASH_SEED=${seed} npx vitest run --project unit src/legos/spool/crash.test.ts\n`);
    });
    const random = mulberry32(seed);
    const dir = tempDir();
    const modes = ['never', 'never', 'interval', 'never', 'always'];
    let maxLogged = 0;
    let maxAck = 0;
    let verified = 0;
    let appendsReturned = 0;
    let replayed = 0;
    let truncations = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const run = await runChild(dir, modes[kill % modes.length] as string, 20 + Math.floor(random() * 180));
      expect(run.readyLastOffset).toBeGreaterThanOrEqual(maxLogged);
      maxLogged = Math.max(maxLogged, run.lastLogged);
      appendsReturned += run.logged;
      maxAck = Math.max(maxAck, run.lastAck);

      const spool = await LocalDurableSpool.open({ dir, ...SPOOL });
      try {
        expect(spool.recovery.corruptions).toEqual([]);
        truncations += spool.recovery.truncated.length;
        expect(spool.lastOffset).toBeGreaterThanOrEqual(maxLogged);
        const records = replay(spool);
        const first = records[0]?.offset ?? spool.lastOffset + 1;
        expect(first).toBeLessThanOrEqual(maxAck + 1);
        records.forEach((rec, i) => {
          expect(rec.offset).toBe(first + i);
          expect(rec.sequence).toBe(rec.offset);
          expect(sampleNumber(rec.payload)).toBe(rec.offset);
        });
        expect(records.at(-1)?.offset ?? spool.lastOffset).toBe(spool.lastOffset);
        verified += Math.max(0, maxLogged - maxAck);
        replayed += records.length;
      } finally {
        await spool.close();
      }
    }
    console.log(
      `spool crash test (seed ${seed}): ${KILLS} SIGKILLs, ${appendsReturned} appends returned (last offset ${maxLogged}), ` +
        `${verified} returned-and-unacknowledged records found intact after the kills, ${replayed} records replayed and checked, ${truncations} torn tails truncated`,
    );
    expect(appendsReturned).toBeGreaterThan(KILLS);
  }, 300_000);
});
