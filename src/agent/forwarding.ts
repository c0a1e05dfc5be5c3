/**
 * The agent's one forwarder slot: builds the sink and the `Forwarder` for a config and a
 * spool, runs it, and stops it (abort: the batch in flight stays unacknowledged and is
 * sent again by the next forwarder) or drains it (shutdown). A forwarder whose run
 * rejects (the spool failed under it) is reported to `onFailure`.
 *
 * Limitations: one forwarder at a time; a sink is disposed only after its forwarder stopped.
 */
import type { Clock } from '../legos/clock.ts';
import { BackoffPolicy, type BackoffPolicyOptions } from '../legos/sensor/index.ts';
import type { LocalDurableSpool } from '../legos/spool/index.ts';
import type { Logger } from '../runtime/log.ts';
import { batchLimits } from './batch.ts';
import type { AgentConfig, SinkDefinition } from './config.ts';
import { Forwarder } from './forwarder.ts';
import type { ForwarderState } from './forwarder-machine.ts';
import { createSink, type Sink } from './sinks.ts';
import type { ForwardStats } from './stats.ts';

/** What the slot needs to build forwarders. */
export interface ForwardingOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly stats: ForwardStats;
  readonly node: string;
  readonly userAgent: string;
  /** Delays between failed sends. Default 1 s doubling to 30 s, equal jitter. */
  readonly backoff?: BackoffPolicyOptions | undefined;
  /** Wait after new records arrive on an idle forwarder, ms. @default 100 */
  readonly lingerMs?: number | undefined;
  /** Default: the sink the config declares. */
  readonly sinkFactory?: ((definition: SinkDefinition) => Sink & Partial<AsyncDisposable>) | undefined;
  /** The forwarder's run rejected (a spool read or acknowledgement failed). Must not throw. */
  readonly onFailure: (error: unknown) => void;
}

interface Running {
  readonly forwarder: Forwarder;
  readonly controller: AbortController;
  readonly sink: Sink & Partial<AsyncDisposable>;
  readonly done: Promise<void>;
}

/** Holds the running forwarder; see the module header. */
export class ForwardingSlot {
  readonly #o: ForwardingOptions;
  #running: Running | undefined;

  constructor(options: ForwardingOptions) {
    this.#o = options;
  }

  /** The running forwarder's state machine, if one runs. */
  get state(): ForwarderState | undefined {
    return this.#running?.forwarder.state;
  }

  /** Starts forwarding `spool` to the sink `config` declares (stop the previous one first). */
  start(config: AgentConfig, spool: LocalDurableSpool): void {
    if (this.#running !== undefined) throw new Error('ForwardingSlot.start: a forwarder is running');
    const o = this.#o;
    const sink = o.sinkFactory?.(config.sink) ?? createSink(config.sink, { clock: o.clock, random: o.random, userAgent: o.userAgent });
    const forwarder = new Forwarder({
      spool,
      sink,
      clock: o.clock,
      backoff: new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: 30_000, jitter: 'equal', random: o.random, ...o.backoff }),
      limits: batchLimits(config.sink),
      lingerMs: o.lingerMs,
      fleet: config.fleet,
      node: o.node,
      stats: o.stats,
      log: o.log,
    });
    const controller = new AbortController();
    const done = forwarder.run(controller.signal).then(
      (reason) => o.log.debug({ event: 'forwarder_done', reason }),
      (error: unknown) => o.onFailure(error),
    );
    this.#running = { forwarder, controller, sink, done };
  }

  /** Forwards what is spooled until caught up or `deadlineMs` (monotonic), then stops. */
  async drain(deadlineMs: number): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    running.forwarder.drain(deadlineMs);
    await running.done;
    await this.stop();
  }

  /** Stops the forwarder now and disposes its sink. */
  async stop(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#running = undefined;
    running.controller.abort();
    await running.done;
    await Promise.resolve(running.sink[Symbol.asyncDispose]?.()).catch(() => undefined);
  }
}
