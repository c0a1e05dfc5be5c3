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
 * Limitations: with election disabled, the process leads unconditionally with the
 * published epoch + 1; two such processes fence each other off in turn.
 */
import { rfc3339, type Clock } from '../../legos/clock.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { Runnable } from '../runnable.ts';
import { LeaderElector } from './elector.ts';
import { awaitFencingEffective, publishEpoch, readPublishedEpoch } from './fence.ts';

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
    if (!le.enabled) {
      log.info({ event: 'leader_election_disabled' }, 'leader election disabled; leading unconditionally (unfenced epoch 0 is not allowed, using the published epoch + 1)');
      const epoch = (await readPublishedEpoch(client, le.namespace).catch(() => 0)) + 1;
      await this.#publish(epoch, signal);
      await this.#options.runTerm({ epoch, signal }, () => undefined);
      return;
    }
    const leaseName = le.name ?? DefaultLeaseName;
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
