/**
 * Child process for `crash.test.ts`, run directly by Node (type stripping):
 * `node crash-child.test-helper.ts <dir> <always|interval|never> <progress file>`.
 *
 * Opens the spool, prints `ready` on stdout, then appends numbered JSON samples as fast as
 * it can (single appends, batches, and concurrent appends), numbering them
 * `sequence = lastSequence + 1`, so in an intact spool a record's number equals its
 * offset. After each append returns it writes the offsets to the progress file with a
 * synchronous `write()` (which a SIGKILL cannot undo), so a logged offset is one whose
 * append returned. Every few hundred records it logs `a <offset>` and then acknowledges
 * that offset. It yields to the event loop between appends, as the agent does between
 * samples, so the spool's timers run. It never exits on its own: the parent kills it.
 */
import { openSync, writeSync } from 'node:fs';
import { LocalDurableSpool } from './index.ts';
import type { FsyncPolicy } from './options.ts';

const [dir, mode, progressFile] = process.argv.slice(2);
if (dir === undefined || progressFile === undefined) throw new Error('usage: crash-child.test-helper.ts <dir> <always|interval|never> <progress file>');
const progress = openSync(progressFile, 'a');
const log = (text: string): void => {
  writeSync(progress, text);
};
const fsync: FsyncPolicy = mode === 'always' ? { mode: 'always' } : mode === 'interval' ? { mode: 'interval', intervalMs: 5 } : { mode: 'never' };

/** The spool options the parent also uses to reopen. */
export const CHILD_SPOOL = { maxBytes: 64 * 1024 * 1024, segmentBytes: 64 * 1024, maxRecordBytes: 1024, checkpointIntervalMs: 10 } as const;

const spool = await LocalDurableSpool.open({ dir, fsync, ...CHILD_SPOOL });
let n = spool.lastSequence ?? 0;
const payload = (k: number): Buffer => Buffer.from(JSON.stringify({ n: k, value: k % 1000, unit: 'mC' }));
log(`ready ${spool.lastOffset}\n`);
process.stdout.write('ready\n');

let sinceAck = 0;
for (;;) {
  const pick = Math.random();
  let offsets: number[];
  if (pick < 0.6) {
    const k = ++n;
    offsets = [await spool.append(payload(k), { sequence: k })];
  } else if (pick < 0.9) {
    const ks = Array.from({ length: 1 + Math.floor(Math.random() * 20) }, () => ++n);
    const result = await spool.appendBatch(ks.map((k) => ({ payload: payload(k), sequence: k })));
    offsets = ks.map((_, i) => result.firstOffset + i);
  } else {
    const ks = Array.from({ length: 1 + Math.floor(Math.random() * 8) }, () => ++n);
    offsets = await Promise.all(ks.map((k) => spool.append(payload(k), { sequence: k })));
  }
  log(`${offsets.join('\n')}\n`);
  sinceAck += offsets.length;
  if (sinceAck >= 300) {
    sinceAck = 0;
    const ack = Math.max(spool.ackedOffset, spool.lastOffset - 200);
    log(`a ${ack}\n`);
    spool.ack(ack);
  }
  await new Promise((resolve) => setImmediate(resolve));
}
