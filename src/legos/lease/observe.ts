/**
 * Reading who holds a lease: `inspectLease` reads once; `observeLease` yields the
 * current state and then every change of holder, driven by a watch on the lease
 * directory (no polling). What the FencedLease controller mirrors into status.
 *
 * Limitations: `remainingSeconds` is etcd's view and jumps back to the full TTL after an
 * etcd leader change; the holder's own deadline is stricter. The first key in line is
 * reported as holder from the moment its predecessor is gone, slightly before its
 * owner has confirmed (`acquireTime` stays undefined until it has).
 */
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import { EtcdRetryBackoff } from './config.ts';
import { LeaseError } from './errors.ts';
import type { LeasePort } from './port.ts';
import type { LeaseHolder, LeaseObservation } from './types.ts';

const HolderRecordSchema = z.object({
  identity: z.string(),
  requestTime: z.string().optional(),
  acquireTime: z.string().optional(),
  ttlSeconds: z.number().optional(),
});

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function parseRecord(value: Uint8Array): z.infer<typeof HolderRecordSchema> | undefined {
  try {
    const parsed = HolderRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(value)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the holder of the lease whose keys live under `dir`. */
export async function inspectLease(port: LeasePort, name: string, dir: string): Promise<LeaseObservation> {
  const read = await port.firstCreated(dir);
  const first = read.value.first;
  if (!first) return { name, holder: undefined, revision: read.revision };
  const record = parseRecord(first.value);
  const ttl = first.leaseId === '0' ? undefined : await port.timeToLive(first.leaseId);
  const holder: LeaseHolder = {
    identity: record?.identity ?? '',
    key: first.key,
    fencingToken: first.createRevision,
    leaseId: BigInt(first.leaseId).toString(16),
    ttlSeconds: ttl?.grantedSeconds ?? record?.ttlSeconds ?? 0,
    remainingSeconds: ttl?.remainingSeconds ?? -1,
    requestTime: parseTime(record?.requestTime),
    acquireTime: parseTime(record?.acquireTime),
    waiters: Math.max(0, read.value.count - 1),
  };
  return { name, holder, revision: read.revision };
}

/** True when two observations name the same holder in the same phase. */
export function sameHolder(a: LeaseHolder | undefined, b: LeaseHolder | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.fencingToken === b.fencingToken && a.identity === b.identity && a.leaseId === b.leaseId && a.acquireTime === b.acquireTime;
}

/**
 * Yields the current observation, then one per change of holder. Changes that arrive
 * while the reader is busy collapse into one re-read (a single dirty flag: bounded).
 */
export async function* observeLease(port: LeasePort, clock: Clock, name: string, dir: string, signal: AbortSignal): AsyncGenerator<LeaseObservation> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let dirty = false;
  let wake: () => void = () => undefined;
  const notify = () => {
    dirty = true;
    wake();
  };
  stop.signal.addEventListener('abort', () => wake(), { once: true });
  try {
    let failures = 0;
    let last: LeaseObservation | undefined;
    while (!stop.signal.aborted) {
      let current: LeaseObservation;
      try {
        current = await inspectLease(port, name, dir);
        failures = 0;
      } catch (error) {
        if (!(error instanceof LeaseError) || !error.retryable) throw error;
        failures++;
        await clock.sleep(EtcdRetryBackoff.delayAfterFailures(failures), stop.signal).catch(() => undefined);
        continue;
      }
      if (last === undefined) port.watchDir(dir, current.revision + 1n, stop.signal, { onChange: notify, onResync: notify });
      if (last === undefined || !sameHolder(last.holder, current.holder)) {
        last = current;
        yield current;
      }
      if (!dirty && !stop.signal.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      wake = () => undefined;
      dirty = false;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
