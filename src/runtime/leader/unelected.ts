/**
 * `--leader-elect=false`, defined: the process is the only operator. It still fences
 * (every write carries an epoch, the published one + 1), so it must never fence out an
 * elected leader that is alive, and must not linger as a zombie once one fences it out.
 *
 * - Before it starts, {@link assertNoActiveLeader} reads the election Lease: absent,
 *   released (empty holder) or held by this identity is fine; a recorded holder is
 *   watched for its lease duration on this process's monotonic clock (as a candidate
 *   would before taking over), and if the record changes meanwhile (a renewal) the
 *   start is refused with {@link LeaderActiveError} naming the holder.
 * - Once leading, a write fenced by a newer epoch (an elected leader won a term after
 *   the check) ends the process's term and {@link FencedOutError} is thrown, so
 *   `manyfold operator` exits non-zero instead of running with every write rejected.
 *
 * Limitations: the check and the publication are two requests: a leader elected in
 * between is fenced out for one term by this process's epoch and then wins the next
 * term, fencing this process out (which exits); the elected leader loses no write (its
 * fenced writes are retried in its next term), only a failover's time.
 */
import type { Clock } from '../../legos/clock.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { recordFingerprint, type LeaseSpec } from './decide.ts';

/** Thrown when `--leader-elect=false` meets an elected leader that is alive. */
export class LeaderActiveError extends Error {
  override readonly name = 'LeaderActiveError';
  readonly holder: string;
  constructor(lease: string, holder: string) {
    super(
      `refusing to run with --leader-elect=false: ${holder} holds the election Lease ${lease} and renews it; ` +
        'a second operator would fence it out. Stop the elected replicas first, or run with --leader-elect',
    );
    this.holder = holder;
  }
}

/** Thrown when an operator running without election is fenced out by a newer epoch. */
export class FencedOutError extends Error {
  override readonly name = 'FencedOutError';
  constructor(epoch: number, reason: string) {
    super(`fenced out: epoch ${epoch} is no longer current (${reason}); an elected operator leads now, so this one stops`);
  }
}

/** Poll interval while watching a recorded holder, ms. */
const WATCH_INTERVAL_MS = 250;

/**
 * Resolves once no live leader holds the Lease `namespace/name`; throws
 * {@link LeaderActiveError} when its record changes while watched for its lease
 * duration (`spec.leaseDurationSeconds`, else `defaultLeaseDurationMs`).
 */
export async function assertNoActiveLeader(
  client: KubeClient,
  options: { namespace: string; name: string; identity: string; clock: Clock; signal: AbortSignal; defaultLeaseDurationMs: number; onWatching?: (holder: string, ms: number) => void },
): Promise<void> {
  const read = async () => (await client.getOrUndefined<KubeObject & { spec?: LeaseSpec }>(Resources.Lease, options.name, options.namespace))?.spec;
  const first = await read();
  const holder = first?.holderIdentity ?? '';
  if (holder === '' || holder === options.identity) return;
  const durationMs = (first?.leaseDurationSeconds ?? 0) > 0 ? (first?.leaseDurationSeconds ?? 0) * 1000 : options.defaultLeaseDurationMs;
  options.onWatching?.(holder, durationMs);
  const fingerprint = recordFingerprint(first);
  const deadline = options.clock.monotonic() + durationMs;
  while (options.clock.monotonic() < deadline) {
    await options.clock.sleep(WATCH_INTERVAL_MS, options.signal);
    const now = await read();
    if (recordFingerprint(now) !== fingerprint) {
      const current = now?.holderIdentity ?? '';
      if (current === '' || current === options.identity) return;
      throw new LeaderActiveError(`${options.namespace}/${options.name}`, current);
    }
  }
}
