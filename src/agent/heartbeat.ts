/**
 * Heartbeat: renews the node's Lease in the fleet's namespace every
 * `heartbeatIntervalSeconds` with the agent's health, backlog and last sample time
 * (object shape in `lease.ts`). Creates the Lease when missing; updates it with the
 * resourceVersion it read (optimistic concurrency), and on a 409 reads again and
 * retries, a few times per beat.
 *
 * Failure behaviour: a failed beat is counted (`heartbeatFailures`), logged on the first
 * failure in a row and on recovery, and never crashes the agent; the next beat comes
 * one interval later. A beat is abandoned after max(interval, 5 s), at most 30 s: with
 * a 1 s interval and an API server answering in more than 1 s (200 agents on a loaded
 * 2-core control plane, bench/sensorfleet-heartbeats.ts), a 1 s bound failed nine beats
 * in ten although each would have landed, and the aborted requests still loaded the
 * server; a late renewal keeps a node reporting, an abandoned one never does.
 *
 * Limitations: no jitter between nodes' beats (they start when the agents start); the
 * interval and the report are read at each beat, so a reload takes effect at the next.
 */
import type { Clock } from '../legos/clock.ts';
import { KubeApiError } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Logger } from '../runtime/log.ts';
import { desiredLease, heartbeatLeaseName, type HeartbeatReport, type LeaseObject } from './lease.ts';
import type { AgentStats } from './stats.ts';

/** The three calls the heartbeat needs (a `KubeClient` has them). */
export interface LeaseApi {
  get<T extends KubeObject>(type: typeof Resources.Lease, name: string, namespace?: string, signal?: AbortSignal): Promise<T>;
  create<T extends KubeObject>(type: typeof Resources.Lease, object: KubeObject, options?: { signal?: AbortSignal }): Promise<T>;
  replace<T extends KubeObject>(type: typeof Resources.Lease, object: KubeObject, options?: { signal?: AbortSignal }): Promise<T>;
}

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  readonly api: LeaseApi;
  readonly clock: Clock;
  readonly log: Logger;
  readonly stats: AgentStats;
  /** The report to send now, or undefined to skip this beat (no valid config yet). */
  readonly report: () => HeartbeatReport | undefined;
  /** Seconds until the next beat. */
  readonly intervalSeconds: () => number;
}

const CONFLICT_RETRIES = 3;
/** Shortest time a beat may take before it is abandoned, s (see the module header). */
export const MIN_BEAT_TIMEOUT_SECONDS = 5;

/** How long one beat may take, ms: max(interval, {@link MIN_BEAT_TIMEOUT_SECONDS}), at most 30 s. */
export function beatTimeoutMs(intervalSeconds: number): number {
  return Math.min(30, Math.max(MIN_BEAT_TIMEOUT_SECONDS, intervalSeconds)) * 1000;
}

/** Renews the heartbeat Lease; see the module header. */
export class Heartbeat {
  readonly #o: HeartbeatOptions;
  #failing = false;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** Beats at once, then every interval, until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.beat(signal);
      await this.#o.clock.sleep(this.#o.intervalSeconds() * 1000, signal).catch(() => undefined);
    }
  }

  /** One heartbeat; returns whether the Lease was written. Never rejects. */
  async beat(signal?: AbortSignal): Promise<boolean> {
    const report = this.#o.report();
    if (report === undefined) return false;
    const { stats, log } = this.#o;
    const timeout = AbortSignal.timeout(beatTimeoutMs(this.#o.intervalSeconds()));
    const bounded = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      await this.#write(report, bounded);
      stats.heartbeats++;
      if (this.#failing) log.info({ event: 'heartbeat_recovered' }, 'heartbeat Lease renewed again');
      this.#failing = false;
      return true;
    } catch (error) {
      if (signal?.aborted) return false;
      stats.heartbeatFailures++;
      if (!this.#failing) log.warn({ event: 'heartbeat_failed', err: error instanceof Error ? error.message : String(error) }, 'heartbeat Lease not renewed');
      this.#failing = true;
      return false;
    }
  }

  async #write(report: HeartbeatReport, signal: AbortSignal): Promise<void> {
    const { api, clock } = this.#o;
    const name = heartbeatLeaseName(report.fleet, report.node);
    for (let attempt = 1; ; attempt++) {
      let existing: LeaseObject | undefined;
      try {
        existing = await api.get<LeaseObject>(Resources.Lease, name, report.namespace, signal);
      } catch (error) {
        if (!(error instanceof KubeApiError && error.code === 404)) throw error;
      }
      try {
        const lease = desiredLease(existing, report, clock.now());
        if (existing === undefined) await api.create(Resources.Lease, lease, { signal });
        else await api.replace(Resources.Lease, lease, { signal });
        return;
      } catch (error) {
        // 409: someone wrote in between (Conflict) or created it first (AlreadyExists): read again.
        if (!(error instanceof KubeApiError && error.code === 409) || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  }
}
