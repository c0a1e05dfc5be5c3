// Watches a held lease from the outside while etcd misbehaves: every `intervalMs` it
// checks that `validUntil` never exceeds what the holder's own confirmed keep-alives
// justify (send time + TTL - margin, from `lease_keepalive_confirmed` events) and never
// moves backwards while the lease lives. Violations are collected, not thrown, so the
// test asserts them once at the end.
import type { LeaseEvent, LeaseHandle } from '../../../src/legos/lease/index.ts';

export interface DeadlineMonitor {
  readonly violations: string[];
  samples: number;
  /** Stops sampling. */
  stop(): void;
}

export function monitorDeadline(handle: LeaseHandle, events: readonly LeaseEvent[], timing: { ttlMs: number; marginMs: number; intervalMs?: number }): DeadlineMonitor {
  // Justified at the start: the deadline the holder had when it was handed out.
  const baseline = handle.validUntil;
  let last = baseline;
  const monitor: DeadlineMonitor = {
    violations: [],
    samples: 0,
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(() => {
    if (handle.signal.aborted) return;
    const validUntil = handle.validUntil;
    let justified = baseline;
    for (const e of events) {
      if (e.type === 'lease_keepalive_confirmed' && e.token === handle.fencingToken) {
        justified = Math.max(justified, e.sentAt + Math.min(timing.ttlMs, e.serverTtlSeconds * 1000) - timing.marginMs);
      }
    }
    monitor.samples++;
    if (validUntil > justified) monitor.violations.push(`validUntil ${validUntil.toFixed(1)} > justified ${justified.toFixed(1)}`);
    if (validUntil < last) monitor.violations.push(`validUntil moved back from ${last.toFixed(1)} to ${validUntil.toFixed(1)}`);
    last = validUntil;
  }, timing.intervalMs ?? 20);
  return monitor;
}

/** Polls `check` every 50 ms until true; false after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}
