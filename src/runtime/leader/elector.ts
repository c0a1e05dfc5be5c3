/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics and
 * fencing on top.
 *
 * - Candidates try every `retryPeriodMs` (jittered ×1.0-1.2); a Lease whose record has
 *   not changed for `leaseDurationMs` on the candidate's own clock may be taken over,
 *   and a candidate tries again right when that happens if it comes before the next try.
 * - The leader renews every `retryPeriodMs`; when no renewal succeeds within
 *   `renewDeadlineMs` of the last successful one, it stops leading *at once*: the
 *   leadership signal aborts, which stops every controller.
 * - On shutdown the leader releases the Lease (empty holder), so a successor takes
 *   over without waiting out the lease duration.
 * - Every term has an epoch (the Lease's `leaseTransitions` it wrote, see decide.ts).
 *   Before `onStartedLeading` runs, the epoch is published to the fencing ConfigMap
 *   (see fence.ts); if that write is rejected (a newer epoch exists), the term ends
 *   before any controller starts.
 * - A malformed epoch in the fencing ConfigMap (not a decimal integer) cannot be
 *   repaired by campaigning: it is logged once per value (`fencing_epoch_malformed`,
 *   error) and campaigns back off from `retryPeriodMs` doubling to
 *   {@link MALFORMED_EPOCH_MAX_BACKOFF_MS}, instead of a new term every retry period;
 *   `fencing_epoch_repaired` when it reads again.
 *
 * Why shorter timings than client-go's 15 s / 10 s / 2 s are safe here: without
 * fencing, a short lease risks two leaders writing at once after a pause or a slow
 * API server; with fencing, the API server rejects every write of a deposed leader,
 * so a premature takeover costs a failover, never a lost or conflicting write.
 * Defaults (flags in `manyfold operator`): lease 3 s, renew deadline 2 s, retry 0.5 s:
 * measured failover p99 4.2 s (bench/failover.ts; 4 s / 3 s gave 5.6 s). A healthy API
 * server answers a Lease PUT well under its 1 s SLO, so 2 s and four retries tolerate one
 * slow request; under a slower API server raise them with the flags.
 *
 * Limitations: one Lease per elector; the leader's view of time is its monotonic clock.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../legos/clock.ts';
import { microTime, SystemClock } from '../../legos/clock.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isConflict, isNotFound, isAlreadyExists, KubeApiError } from '../../kube/errors.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { silentLogger, type Logger } from '../log.ts';
import { BackoffPolicy } from '../../legos/retry.ts';
import { decide, recordFingerprint, type LeaseSpec, type Observed } from './decide.ts';
import { MalformedEpochError } from './fence.ts';

/** Longest wait between campaigns while the published fencing epoch is malformed, ms. */
export const MALFORMED_EPOCH_MAX_BACKOFF_MS = 30_000;

export interface ElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** Lease name (default `manyfold-operator`). */
  readonly name?: string;
  /** Unique identity of this candidate (default `<hostname>_<uuid>`). */
  readonly identity?: string;
  /** How long a Lease is valid after its last renewal, ms. @default 3000 */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it steps down, ms. @default 2000 */
  readonly renewDeadlineMs?: number;
  /** Pause between two attempts to acquire or renew, ms. @default 500 */
  readonly retryPeriodMs?: number;
  /** Reads the last published fencing epoch (0 when none); used so epochs never go back. */
  readonly readMinEpoch?: () => Promise<number>;
  /** Publishes the epoch of a new term before leading starts; throws when fenced. */
  readonly publishEpoch?: (epoch: number, signal: AbortSignal) => Promise<void>;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: Logger;
  /** Observability hooks. */
  readonly onLeaderChange?: (holder: string) => void;
  /**
   * Fault injection for tests: keep leading after renewals fail or another holder
   * appears (a leader that does not notice it was deposed, e.g. after a long pause).
   * Only fencing can stop such a leader; the fencing e2e test proves it does.
   */
  readonly ignoreLeaseLoss?: boolean;
}

export interface Term {
  readonly epoch: number;
  readonly identity: string;
  /** Aborts the moment this term ends (renewal failed, fenced, or shutdown). */
  readonly signal: AbortSignal;
}

export type LeadingCallback = (term: Term) => Promise<void>;

type LeaseObject = KubeObject & { spec?: LeaseSpec };

export function defaultIdentity(): string {
  return `${process.env['POD_NAME'] ?? hostname()}_${randomUUID()}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly name: string;
  private readonly options: ElectorOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private observed: Observed = { spec: undefined, observedAt: 0 };
  private observedExists = false;
  private currentTerm: (Term & { end: (reason: string) => void }) | undefined;
  private lastHolder = '';
  /** Number of terms this elector has won. */
  elections = 0;

  constructor(options: ElectorOptions) {
    this.options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.name = options.name ?? 'manyfold-operator';
    this.clock = options.clock ?? SystemClock;
    this.random = options.random ?? Math.random;
    this.log = (options.log ?? silentLogger).child({ lease: `${options.namespace}/${this.name}`, identity: this.identity });
  }

  get leaseDurationMs(): number {
    return this.options.leaseDurationMs ?? 3000;
  }
  get renewDeadlineMs(): number {
    return this.options.renewDeadlineMs ?? 2000;
  }
  get retryPeriodMs(): number {
    return this.options.retryPeriodMs ?? 500;
  }

  /** The current term, when leading. */
  get term(): Term | undefined {
    return this.currentTerm;
  }

  /** Ends the current term at once (e.g. a write was fenced). */
  stepDown(reason: string): void {
    this.currentTerm?.end(reason);
  }

  /**
   * Campaigns until `signal` aborts; runs `onLeading` for each term won and awaits it
   * after the term ends. Releases the Lease when shutting down while leading.
   */
  async run(signal: AbortSignal, onLeading: LeadingCallback): Promise<void> {
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error(`renew deadline (${this.renewDeadlineMs} ms) must be shorter than the lease duration (${this.leaseDurationMs} ms)`);
    }
    this.log.info({ event: 'election_started', leaseDurationMs: this.leaseDurationMs, renewDeadlineMs: this.renewDeadlineMs, retryPeriodMs: this.retryPeriodMs }, 'campaigning for leadership');
    while (!signal.aborted) {
      const epoch = await this.acquire(signal);
      if (epoch === undefined) break;
      const controller = new AbortController();
      const term = {
        epoch,
        identity: this.identity,
        signal: controller.signal,
        end: (reason: string) => {
          if (!controller.signal.aborted) {
            this.log.warn({ event: 'leader_lost', epoch, reason }, 'stopped leading');
            controller.abort(new Error(`leadership lost: ${reason}`));
          }
        },
      };
      const onShutdown = () => term.end('shutting down');
      signal.addEventListener('abort', onShutdown, { once: true });
      this.currentTerm = term;
      this.elections++;
      try {
        await this.options.publishEpoch?.(epoch, controller.signal);
      } catch (error) {
        term.end(`could not publish epoch ${epoch}: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (!controller.signal.aborted) {
        this.log.info({ event: 'leader_elected', epoch }, 'started leading');
        const leading = onLeading(term).catch((error: unknown) => {
          term.end(`leading callback failed: ${error instanceof Error ? error.message : String(error)}`);
        });
        await this.renewLoop(term);
        term.end('renew loop ended');
        await leading;
      }
      signal.removeEventListener('abort', onShutdown);
      this.currentTerm = undefined;
      if (signal.aborted) {
        await this.release();
      } else {
        // Do not re-campaign in a tight loop after a failed term.
        await this.clock.sleep(this.retryPeriodMs * (1 + 0.2 * this.random()), signal).catch(() => undefined);
      }
    }
  }

  /** Tries until it acquires (returns the epoch) or `signal` aborts (undefined). */
  private async acquire(signal: AbortSignal): Promise<number | undefined> {
    // A malformed published epoch cannot be fixed by retrying: say so once per value and
    // back off (retry period doubling up to 30 s) instead of campaigning every retry period.
    const malformed = new BackoffPolicy({ initialDelayMs: this.retryPeriodMs, multiplier: 2, maxDelayMs: MALFORMED_EPOCH_MAX_BACKOFF_MS });
    let malformedFailures = 0;
    let reported: string | undefined;
    while (!signal.aborted) {
      let delayMs = this.retryPeriodMs * (1 + 0.2 * this.random());
      try {
        // A holder that stopped renewing: try again the moment its Lease expires (as observed
        // here), not at the next retry tick after it (saves up to one retry period per failover).
        const epoch = await this.tryAcquireOrRenew(false, (expiresInMs) => (delayMs = Math.min(delayMs, expiresInMs + 1)));
        if (reported !== undefined) this.log.info({ event: 'fencing_epoch_repaired' }, 'the published fencing epoch is readable again');
        reported = undefined;
        malformedFailures = 0;
        if (epoch !== undefined) return epoch;
      } catch (error) {
        if (error instanceof MalformedEpochError) {
          if (reported !== error.value) this.log.error({ event: 'fencing_epoch_malformed', value: error.value, err: error.message }, 'cannot campaign: the published fencing epoch is malformed');
          reported = error.value;
          delayMs = malformed.delayAfterFailures(malformedFailures++);
        } else {
          this.log.debug({ event: 'lease_acquire_failed', err: String(error) }, 'could not acquire');
        }
      }
      await this.clock.sleep(delayMs, signal).catch(() => undefined);
    }
    return undefined;
  }

  private async renewLoop(term: Term & { end: (reason: string) => void }): Promise<void> {
    let lastRenew = this.clock.monotonic();
    let ignoredLoss = false;
    const lose = (reason: string): boolean => {
      if (!this.options.ignoreLeaseLoss) {
        term.end(reason);
        return true;
      }
      // Fault injection: a leader that never learns it lost the Lease keeps going.
      if (!ignoredLoss) this.log.warn({ event: 'lease_loss_ignored', reason }, 'FAULT INJECTION: ignoring the loss of the Lease');
      ignoredLoss = true;
      return false;
    };
    while (!term.signal.aborted) {
      await this.clock.sleep(this.retryPeriodMs, term.signal).catch(() => undefined);
      if (term.signal.aborted) return;
      const deadline = lastRenew + this.renewDeadlineMs;
      const remaining = deadline - this.clock.monotonic();
      if (remaining <= 0 && lose(`no successful renewal within ${this.renewDeadlineMs} ms`)) return;
      try {
        const renewed = await withTimeout(this.tryAcquireOrRenew(true), Math.max(remaining, this.retryPeriodMs), this.clock);
        if (renewed === term.epoch) {
          lastRenew = this.clock.monotonic();
        } else if (renewed !== undefined || (this.observed.spec?.holderIdentity ?? '') !== this.identity) {
          if (lose(`the Lease is now held by ${this.observed.spec?.holderIdentity ?? 'nobody'}`)) return;
        }
      } catch (error) {
        this.log.debug({ event: 'lease_renew_failed', err: String(error) }, 'renewal failed; retrying');
      }
      if (this.clock.monotonic() - lastRenew >= this.renewDeadlineMs && lose(`no successful renewal within ${this.renewDeadlineMs} ms`)) return;
    }
  }

  /** One round trip: read the Lease, decide, write. Returns the epoch when we hold it; `onWait` learns when a held Lease expires (ms). */
  private async tryAcquireOrRenew(leading: boolean, onWait?: (expiresInMs: number) => void): Promise<number | undefined> {
    const { client, namespace } = this.options;
    const lease = await client.getOrUndefined<LeaseObject>(Resources.Lease, this.name, namespace);
    this.observe(lease);
    const minEpoch = leading ? 0 : ((await this.options.readMinEpoch?.()) ?? 0);
    const decision = decide({
      identity: this.identity,
      observed: this.observed,
      leading,
      now: this.clock.monotonic(),
      wallNow: microTime(this.clock.now()),
      leaseDurationMs: this.leaseDurationMs,
      minEpoch,
    });
    if (decision.action === 'wait') {
      onWait?.(decision.retryInMs);
      return undefined;
    }
    const body: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        namespace,
        ...(lease?.metadata.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
      },
      spec: decision.spec,
    };
    try {
      const written =
        decision.action === 'create'
          ? await client.create<LeaseObject>(Resources.Lease, body)
          : await client.replace<LeaseObject>(Resources.Lease, body);
      this.observe(written);
      if (!decision.reason.startsWith('renewing')) this.log.debug({ event: 'lease_taken', reason: decision.reason, epoch: decision.epoch }, 'took the Lease');
      return decision.epoch;
    } catch (error) {
      if (isConflict(error) || isAlreadyExists(error) || isNotFound(error)) return undefined;
      throw error;
    }
  }

  private observe(lease: LeaseObject | undefined): void {
    const spec = lease?.spec;
    if (!this.observedExists || recordFingerprint(spec) !== recordFingerprint(this.observed.spec) || lease === undefined) {
      this.observed = { spec, observedAt: this.clock.monotonic() };
    }
    this.observedExists = true;
    const holder = spec?.holderIdentity ?? '';
    if (holder !== this.lastHolder) {
      this.lastHolder = holder;
      if (holder !== '') this.log.info({ event: 'new_leader_observed', holder }, 'leader observed');
      this.options.onLeaderChange?.(holder);
    }
  }

  /** Gives the Lease up (empty holder, 1 s duration) if we still hold it. */
  private async release(): Promise<void> {
    try {
      const lease = await this.options.client.getOrUndefined<LeaseObject>(Resources.Lease, this.name, this.options.namespace);
      if (!lease?.spec || lease.spec.holderIdentity !== this.identity) return;
      await this.options.client.replace(Resources.Lease, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.clock.now()) },
      });
      this.log.info({ event: 'leader_released' }, 'released the Lease');
    } catch (error) {
      this.log.warn({ event: 'lease_release_failed', err: error instanceof KubeApiError ? error.message : String(error) }, 'could not release the Lease');
    }
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      clock.sleep(ms, timer.signal).then(
        () => {
          throw new Error(`timed out after ${Math.round(ms)} ms`);
        },
        () => new Promise<never>(() => undefined), // aborted: the work already settled
      ),
    ]);
  } finally {
    timer.abort();
  }
}
