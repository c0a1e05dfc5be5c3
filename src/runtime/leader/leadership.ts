/**
 * Leadership as a {@link Runnable}: wins terms (through the {@link LeaderElector}, or
 * unconditionally when election is disabled), publishes each term's epoch to the
 * fencing ConfigMap and, unless told otherwise, waits until the API server enforces it,
 * then hands the term to `runTerm` (the manager runs its controllers there) until the
 * term ends.
 *
 * Guarantees: `runTerm` starts only after the epoch is published and enforced (with
 * `requireFencing`, the default), so no write of an older term can land after the new
 * leader's first write.
 *
 * With election disabled (unelected.ts): the process refuses to start while an elected
 * leader holds the Lease, then leads with the published epoch + 1, and ends with
 * `FencedOutError` (the CLI exits non-zero) once a newer epoch fences it out.
 *
 * Limitations: two processes with election disabled fence each other off: the second
 * one's epoch fences the first out, which then exits.
 */
import { rfc3339, type Clock } from '../../legos/clock.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { Runnable } from '../runnable.ts';
import { LeaderElector } from './elector.ts';
import { MalformedEpochError, awaitFencingEffective, publishEpoch, readPublishedEpoch } from './fence.ts';
import { FencedOutError, assertNoActiveLeader } from './unelected.ts';

export interface LeaderElectionOptions {
  readonly enabled: boolean;
  /** Namespace of the Lease and the fencing ConfigMap. */
  readonly namespace: string;
  /** Name of the election Lease. @default 'manyfold-operator' */
  readonly name?: string;
  /** How long a Lease is valid after its last renewal, ms. @default 3000 */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it steps down, ms. @default 2000 */
  readonly renewDeadlineMs?: number;
  /** Pause between two attempts to acquire or renew, ms. @default 500 */
  readonly retryPeriodMs?: number;
  /** Fault injection for tests (see ElectorOptions.ignoreLeaseLoss). */
  readonly ignoreLeaseLoss?: boolean;
}

/** One leadership term, as handed to `runTerm`. */
export interface Term {
  readonly epoch: number;
  /** Aborts when the term ends. */
  readonly signal: AbortSignal;
}

export interface LeadershipOptions {
  readonly client: KubeClient;
  readonly identity: string;
  readonly leaderElection: LeaderElectionOptions;
  /** Refuse to lead until the API server enforces the term's epoch. @default true */
  readonly requireFencing?: boolean | undefined;
  /** Field manager of the epoch publication. */
  readonly fieldManager: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Runs one term; `stepDown` ends it early (a fenced write, say). */
  readonly runTerm: (term: Term, stepDown: (reason: string) => void) => Promise<void>;
}

/** The name of the election Lease when none is given. */
export const DefaultLeaseName = 'manyfold-operator';

export class Leadership implements Runnable {
  readonly #options: LeadershipOptions;

  constructor(options: LeadershipOptions) {
    this.#options = options;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { client, log, metrics, clock } = this.#options;
    const le = this.#options.leaderElection;
    const leaseName = le.name ?? DefaultLeaseName;
    if (!le.enabled) {
      log.info({ event: 'leader_election_disabled' }, 'leader election disabled: leading alone with the published epoch + 1, unless an elected leader is alive');
      await assertNoActiveLeader(client, {
        namespace: le.namespace,
        name: leaseName,
        identity: this.#options.identity,
        clock,
        signal,
        defaultLeaseDurationMs: le.leaseDurationMs ?? 3000,
        onWatching: (holder, ms) => log.info({ event: 'leader_recorded', holder, watchMs: ms }, 'the election Lease names a holder; checking that it is gone before leading'),
      });
      const published = await readPublishedEpoch(client, le.namespace).catch((error: unknown) => {
        if (error instanceof MalformedEpochError) throw error;
        return 0;
      });
      const epoch = published + 1;
      await this.#publish(epoch, signal);
      const term = new AbortController();
      const onShutdown = () => term.abort(signal.reason);
      signal.addEventListener('abort', onShutdown, { once: true });
      let fencedOut: string | undefined;
      try {
        await this.#options.runTerm({ epoch, signal: term.signal }, (reason) => {
          fencedOut ??= reason;
          term.abort(new Error(reason));
        });
      } finally {
        signal.removeEventListener('abort', onShutdown);
      }
      if (fencedOut !== undefined && !signal.aborted) {
        log.error({ event: 'fenced_out', epoch, reason: fencedOut }, 'fenced out by a newer epoch; stopping');
        throw new FencedOutError(epoch, fencedOut);
      }
      return;
    }
    const elector = new LeaderElector({
      client,
      namespace: le.namespace,
      name: leaseName,
      identity: this.#options.identity,
      ...(le.leaseDurationMs === undefined ? {} : { leaseDurationMs: le.leaseDurationMs }),
      ...(le.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: le.renewDeadlineMs }),
      ...(le.retryPeriodMs === undefined ? {} : { retryPeriodMs: le.retryPeriodMs }),
      ...(le.ignoreLeaseLoss ? { ignoreLeaseLoss: true } : {}),
      clock,
      log,
      readMinEpoch: () => readPublishedEpoch(client, le.namespace),
      publishEpoch: (epoch, termSignal) => this.#publish(epoch, termSignal),
    });
    await elector.run(signal, async (term) => {
      metrics.leaderElections.inc({ name: leaseName });
      await this.#options.runTerm(term, (reason) => elector.stepDown(reason));
    });
  }

  /** Publishes a term's epoch and, unless disabled, waits until the API server enforces it. */
  async #publish(epoch: number, signal: AbortSignal): Promise<void> {
    const { client, clock, log, fieldManager, identity } = this.#options;
    const namespace = this.#options.leaderElection.namespace;
    await publishEpoch(client, { namespace, epoch, identity, fieldManager, wallNow: rfc3339(clock.now()), signal });
    if (this.#options.requireFencing === false) return;
    const waitedMs = await awaitFencingEffective(client, { namespace, epoch, fieldManager, signal, clock });
    log.info({ event: 'fencing_enforced', epoch, waitedMs }, 'the API server rejects writes of older epochs');
  }
}
