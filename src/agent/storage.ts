/**
 * The agent's files under `--spool-dir`: the fleet's spool in `<namespace>_<fleet>/`
 * (opened with the config's limits, its recovery report logged), and the last config
 * that ran, in `<namespace>_<fleet>.config.json`, so an agent restarted onto a config
 * that fails validation keeps running the previous one (as a reload would).
 *
 * A corrupt segment found on open is logged as an error naming the file and the
 * quarantine copy, and returned for the health message; the intact records stay.
 *
 * Limitations: the last good config is written atomically (temp file, rename) but not
 * fsynced: after a power loss the agent may find the one before.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../legos/clock.ts';
import { type FsyncPolicy, LocalDurableSpool } from '../legos/spool/index.ts';
import type { Logger } from '../runtime/log.ts';
import { type AgentConfig, type FleetIdentity, spoolDirName } from './config.ts';
import { MAX_PAYLOAD_BYTES } from './decode.ts';

/** The spool directory of a fleet. */
export function fleetSpoolDir(spoolRoot: string, fleet: FleetIdentity): string {
  return join(spoolRoot, spoolDirName(fleet));
}

/** Where the last config that ran is kept. */
export function lastGoodConfigPath(spoolRoot: string, fleet: FleetIdentity): string {
  return join(spoolRoot, `${spoolDirName(fleet)}.config.json`);
}

/** Opens the fleet's spool with the config's limits; returns it and the damage its recovery reported. */
export async function openFleetSpool(options: {
  readonly spoolRoot: string;
  readonly config: AgentConfig;
  readonly clock: Clock;
  readonly fsync: FsyncPolicy | undefined;
  readonly log: Logger;
}): Promise<{ spool: LocalDurableSpool; corruptions: string[] }> {
  const { config, log } = options;
  const dir = fleetSpoolDir(options.spoolRoot, config.fleet);
  const spool = await LocalDurableSpool.open({
    dir,
    maxBytes: config.spool.maxBytes,
    maxAgeSeconds: config.spool.maxAgeSeconds,
    overflow: config.spool.overflow,
    maxRecordBytes: MAX_PAYLOAD_BYTES,
    fsync: options.fsync,
    clock: options.clock,
    group: spoolDirName(config.fleet),
  });
  const report = spool.recovery;
  for (const tail of report.truncated) log.info({ event: 'spool_tail_truncated', file: tail.file, bytes: tail.bytes, reason: tail.reason }, 'spool: cut a torn tail left by a crash');
  const corruptions: string[] = [];
  for (const damage of report.corruptions) {
    log.error(
      { event: 'spool_corruption', file: damage.file, position: damage.position, recordsLost: damage.recordsLost, quarantinedAs: damage.quarantinedAs },
      damage.message,
    );
    corruptions.push(`${damage.file} at byte ${damage.position} (${damage.recordsLost} record(s) lost)`);
  }
  if (report.checkpointError !== undefined) log.warn({ event: 'spool_checkpoint_ignored', reason: report.checkpointError }, 'spool: checkpoint unreadable, replaying everything');
  log.info(
    { event: 'spool_opened', dir, records: report.records, segments: report.segments, lastOffset: report.lastOffset, lastSequence: spool.lastSequence, durationMs: Math.round(report.durationMs) },
    'spool opened',
  );
  return { spool, corruptions };
}

/** Keeps `text` as the last config that ran (atomically). */
export async function saveLastGoodConfig(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/** The last config that ran, if one was kept. */
export async function loadLastGoodConfig(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
