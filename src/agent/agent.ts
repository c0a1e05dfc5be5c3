/**
 * `Agent`: the edge-sensor node agent of a SensorFleet, assembled from its parts. It
 * reads `config.json`, opens the fleet's spool, runs the sensors into the spool writer,
 * forwards the spool to the sink, renews the heartbeat Lease, serves `/metrics` and
 * `/healthz`, follows config changes, and shuts down cleanly.
 *
 * Guarantees: a sample counts as accepted only once its spool append returned; the
 * spool is acknowledged only behind batches the sink took; so every accepted sample
 * reaches the sink at least once across `kill -9`, sink outages, reloads and spool
 * reopens (in-flight batches are not acknowledged and are sent again).
 *
 * Config changes (polled every `configPollMs`, the contract's 2 s by default) apply the
 * pure `planReload`: only added, removed or changed sensors restart; a changed sink
 * rebuilds the forwarder; changed spool limits or fleet identity close and reopen the
 * spool while the writer is paused (sensors keep queueing). A config that fails
 * validation is reported (health `error`, message naming the field) and the running one
 * stays; at startup the last config that ran (kept under `--spool-dir`) stands in for an
 * invalid one.
 *
 * A spool that fails (fsync error, damage found on read) is closed and reopened, whose
 * recovery repairs and quarantines; until then samples wait in the writer's queue.
 *
 * `stop()` (SIGTERM): stops sensors, spools what they queued, forwards for the rest of
 * `shutdownTimeoutMs` (default 5 s), closes the spool (persisting acknowledgements).
 *
 * Limitations: after a fleet identity change the old spool's backlog is left on disk
 * until a config with that identity runs again; operations that change the running set
 * (reload, reopen, stop) are serialized, so a slow spool open delays the next reload.
 */
import { readFile } from 'node:fs/promises';
import { type Clock, SystemClock } from '../legos/clock.ts';
import type { BackoffPolicyOptions } from '../legos/sensor/index.ts';
import type { FsyncPolicy, LocalDurableSpool, SpoolStats } from '../legos/spool/index.ts';
import type { Logger } from '../runtime/log.ts';
import { type AgentConfig, parseAgentConfig, parseFleetIdentity, planReload, type SinkDefinition } from './config.ts';
import { ForwardingSlot } from './forwarding.ts';
import { type AgentHealth, aggregateHealth } from './health.ts';
import { Heartbeat, type LeaseApi } from './heartbeat.ts';
import { estimateBacklogBytes, type HeartbeatReport } from './lease.ts';
import { createAgentMetrics } from './metrics.ts';
import { SensorSet } from './sensor-set.ts';
import { type AgentEndpoint, serveAgentEndpoint } from './server.ts';
import type { Sink } from './sinks.ts';
import { AgentStats } from './stats.ts';
import { lastGoodConfigPath, loadLastGoodConfig, openFleetSpool, saveLastGoodConfig } from './storage.ts';
import { agentVersion } from './version.ts';
import { AckLog, SampleWriter } from './writer.ts';

/** Options of {@link Agent.start}. */
export interface AgentOptions {
  readonly configPath: string;
  /** `--spool-dir`: the fleet's spool lives in `<spoolRoot>/<namespace>_<fleet>/`. */
  readonly spoolRoot: string;
  readonly nodeName: string;
  readonly log: Logger;
  /** Default `SystemClock`. */
  readonly clock?: Clock | undefined;
  /** Uniform [0, 1) for jitter and simulated sensors. Default `Math.random`. */
  readonly random?: (() => number) | undefined;
  /** Heartbeat Lease writes; undefined disables the heartbeat (`--no-heartbeat`). */
  readonly leaseApi?: LeaseApi | undefined;
  /** `/metrics` and `/healthz`; default `0` (disabled). */
  readonly metricsBindAddress?: string | undefined;
  /** Appends the sequence range of every accepted batch here (tests, debugging). */
  readonly ackLogPath?: string | undefined;
  /** How often the config file is checked for changes, ms (the contract's). @default 2000 */
  readonly configPollMs?: number | undefined;
  /** How long shutdown waits for the forwarder and sensors, ms. @default 5000 */
  readonly shutdownTimeoutMs?: number | undefined;
  /** The forwarder's delays between failed sends. Default 1 s doubling to 30 s, equal jitter. */
  readonly forwarderBackoff?: BackoffPolicyOptions | undefined;
  /** Wait after new records arrive on an idle forwarder, ms. @default 100 */
  readonly lingerMs?: number | undefined;
  /** The spool's fsync policy. Default the spool's (`interval`, 200 ms). */
  readonly fsync?: FsyncPolicy | undefined;
  /** Builds the sink of a config (default: the declared http/stdout/file sink). */
  readonly sinkFactory?: ((definition: SinkDefinition) => Sink & Partial<AsyncDisposable>) | undefined;
  /** Default process metrics in /metrics. Default true. */
  readonly processMetrics?: boolean | undefined;
}

const ignore = (): void => undefined;

/** The running agent; see the module header. */
export class Agent {
  readonly stats = new AgentStats();
  readonly #o: AgentOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #life = new AbortController();
  readonly #sensors = new SensorSet();
  readonly #loops: Promise<void>[] = [];
  #config: AgentConfig | undefined;
  #seenText: string | undefined;
  #configError: string | undefined;
  #spool: LocalDurableSpool | undefined;
  #corruptions: string[] = [];
  #writer: SampleWriter | undefined;
  readonly #forwarding: ForwardingSlot;
  #endpoint: AgentEndpoint | undefined;
  #serial: Promise<void> = Promise.resolve();
  #draining = false;
  #stopping: Promise<void> | undefined;

  private constructor(options: AgentOptions) {
    this.#o = options;
    this.#clock = options.clock ?? SystemClock;
    this.#random = options.random ?? Math.random;
    this.#log = options.log;
    this.#forwarding = new ForwardingSlot({
      clock: this.#clock,
      random: this.#random,
      log: this.#log,
      stats: this.stats.forward,
      node: options.nodeName,
      userAgent: `manyfold-agent/${agentVersion()}`,
      backoff: options.forwarderBackoff,
      lingerMs: options.lingerMs,
      sinkFactory: options.sinkFactory,
      onFailure: (error) => this.#spoolFailed(error),
    });
  }

  /** Starts the agent: endpoint, config (or waiting for a valid one), heartbeat, config polling. */
  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    await agent.#start();
    return agent;
  }

  /** The config running now, if any. */
  get config(): AgentConfig | undefined {
    return this.#config;
  }
  /** The bound `/metrics` address, when enabled. */
  get address(): string | undefined {
    return this.#endpoint?.address;
  }
  /** The open spool's statistics. */
  spoolStats(): SpoolStats | undefined {
    return this.#spool?.stats();
  }

  /** The agent's health now (pure aggregation of its parts). */
  health(): AgentHealth {
    const state = this.#forwarding.state;
    return aggregateHealth({
      sensors: this.#sensors.health(),
      configError: this.#configError,
      configured: this.#config !== undefined,
      spool: { state: this.#spool?.stats().state ?? 'absent', corruptions: this.#corruptions },
      writer: { blocked: this.#writer?.blocked ?? false, problem: this.#writer?.problem },
      forwarder: { consecutiveFailures: state?.consecutiveFailures ?? 0, lastError: this.stats.forward.lastError, draining: this.#draining },
    });
  }

  /** Reads the config file now and applies it if it changed (the poller calls this). */
  checkConfig(): Promise<void> {
    return this.#enqueue(() => this.#checkConfig());
  }

  /** Stops sensors, flushes and forwards what it can within the shutdown timeout, closes everything. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#enqueue(() => this.#shutdown());
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const registry = createAgentMetrics({ stats: this.stats, spool: () => this.spoolStats(), health: () => this.health() }, { processMetrics: this.#o.processMetrics });
    this.#endpoint = await serveAgentEndpoint(this.#o.metricsBindAddress ?? '0', registry, {
      health: () => this.health(),
      alive: () => this.#spool?.stats().state !== 'failed',
    });
    if (this.#endpoint) this.#log.info({ event: 'metrics_listening', address: this.#endpoint.address }, 'serving /metrics and /healthz');
    await this.checkConfig().catch(ignore); // logged, and reported in health; the poller retries
    const signal = this.#life.signal;
    this.#loops.push(this.#pollConfig(signal));
    if (this.#o.leaseApi !== undefined) {
      const heartbeat = new Heartbeat({
        api: this.#o.leaseApi,
        clock: this.#clock,
        log: this.#log,
        stats: this.stats,
        report: () => this.#heartbeatReport(),
        intervalSeconds: () => this.#config?.heartbeatIntervalSeconds ?? 10,
      });
      this.#loops.push(heartbeat.run(signal));
    }
    this.#log.info({ event: 'agent_started', node: this.#o.nodeName, version: agentVersion(), configured: this.#config !== undefined }, 'agent started');
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.#serial.then(op);
    this.#serial = run.catch((error: unknown) => this.#log.error({ event: 'agent_operation_failed', err: error }, 'agent operation failed'));
    return run;
  }

  async #pollConfig(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#clock.sleep(this.#o.configPollMs ?? 2000, signal).catch(ignore);
      if (!signal.aborted) await this.checkConfig().catch(ignore);
    }
  }

  async #checkConfig(): Promise<void> {
    if (this.#stopping !== undefined) return;
    let text: string;
    try {
      text = await readFile(this.#o.configPath, 'utf8');
    } catch (error) {
      if (this.#seenText !== '') this.#log.warn({ event: 'config_unreadable', path: this.#o.configPath, err: (error as Error).message }, 'cannot read config');
      this.#seenText = '';
      if (this.#config === undefined) this.#configError = `cannot read ${this.#o.configPath}`;
      return;
    }
    if (text === this.#seenText) return;
    this.#seenText = text;
    const parsed = parseAgentConfig(text);
    if (!parsed.ok) {
      this.stats.reloadFailures++;
      this.#configError = parsed.message;
      this.#log.error({ event: 'config_rejected', issues: parsed.issues }, `config rejected: ${parsed.message}`);
      if (this.#config === undefined) await this.#startFromLastGood(text);
      return;
    }
    try {
      if (this.#config === undefined) await this.#startWith(parsed.value);
      else await this.#reload(parsed.value);
    } catch (error) {
      this.stats.reloadFailures++;
      this.#configError = `cannot apply config: ${error instanceof Error ? error.message : String(error)}`;
      this.#seenText = undefined; // try again at the next poll
      throw error;
    }
    this.#configError = undefined;
    await saveLastGoodConfig(lastGoodConfigPath(this.#o.spoolRoot, parsed.value.fleet), text).catch((error: unknown) =>
      this.#log.warn({ event: 'config_save_failed', err: error }, 'could not keep the last good config'),
    );
  }

  async #startFromLastGood(invalidText: string): Promise<void> {
    const fleet = parseFleetIdentity(invalidText);
    if (fleet === undefined) return;
    const saved = await loadLastGoodConfig(lastGoodConfigPath(this.#o.spoolRoot, fleet));
    const parsed = saved === undefined ? undefined : parseAgentConfig(saved);
    if (parsed?.ok !== true) return;
    this.#log.warn({ event: 'config_last_good_used', generation: parsed.value.fleet.generation }, 'running the last config that ran before');
    await this.#startWith(parsed.value);
  }

  async #startWith(config: AgentConfig): Promise<void> {
    await this.#openSpool(config);
    this.#config = config;
    this.#startForwarder(config);
    for (const sensor of config.sensors) this.#startSensor(sensor, config);
    this.#log.info({ event: 'config_applied', generation: config.fleet.generation, sensors: config.sensors.map((s) => s.name), sink: config.sink.type }, 'config applied');
  }

  async #reload(next: AgentConfig): Promise<void> {
    const current = this.#config as AgentConfig;
    const plan = planReload(current, next);
    await this.#sensors.stop([...plan.stop, ...plan.restart]);
    if (plan.spoolChanged) {
      await this.#forwarding.stop();
      await this.#writer?.pause();
      await this.#spool?.close().catch((error: unknown) => this.#log.warn({ event: 'spool_close_failed', err: error }, 'spool close failed'));
      try {
        await this.#openSpool(next);
      } catch (error) {
        this.#log.error({ event: 'spool_open_failed', err: error }, 'cannot open the spool of the new config; keeping the old one');
        await this.#openSpool(current);
        this.#startForwarder(current);
        for (const name of [...plan.stop, ...plan.restart]) this.#startSensor(current.sensors.find((s) => s.name === name) as AgentConfig['sensors'][number], current);
        throw error;
      }
      this.#startForwarder(next);
    } else if (plan.sinkChanged) {
      await this.#forwarding.stop();
      this.#startForwarder(next);
    }
    this.#config = next;
    for (const name of [...plan.start, ...plan.restart]) this.#startSensor(next.sensors.find((s) => s.name === name) as AgentConfig['sensors'][number], next);
    this.stats.retainSensors(new Set(next.sensors.map((s) => s.name)));
    this.stats.reloads++;
    this.#log.info({ event: 'config_reloaded', generation: next.fleet.generation, reasons: plan.reasons }, 'config reloaded');
  }

  async #openSpool(config: AgentConfig): Promise<void> {
    const { spool, corruptions } = await openFleetSpool({ spoolRoot: this.#o.spoolRoot, config, clock: this.#clock, fsync: this.#o.fsync, log: this.#log });
    this.#spool = spool;
    this.#corruptions = corruptions;
    if (this.#writer === undefined) {
      this.#writer = new SampleWriter({
        spool,
        clock: this.#clock,
        stats: this.stats,
        ackLog: this.#o.ackLogPath === undefined ? undefined : new AckLog(this.#o.ackLogPath),
        onSpoolFailed: (error) => this.#spoolFailed(error),
      });
    } else {
      this.#writer.resume(spool);
    }
  }

  #startSensor(definition: AgentConfig['sensors'][number], config: AgentConfig): void {
    this.#sensors.start(definition, {
      writer: this.#writer as SampleWriter,
      stats: this.stats.sensor(definition.name),
      clock: this.#clock,
      random: this.#random,
      staleAfterMs: config.staleAfterSeconds * 1000,
      log: this.#log,
    });
  }

  #startForwarder(config: AgentConfig): void {
    this.#forwarding.start(config, this.#spool as LocalDurableSpool);
  }

  /** The spool failed under the writer or the forwarder: reopen it (recovery repairs), retrying every 5 s. */
  #spoolFailed(error: unknown): void {
    if (this.#stopping !== undefined) return;
    this.#log.error({ event: 'spool_failed', err: error }, 'spool failed; reopening it');
    void this.#enqueue(async () => {
      const config = this.#config;
      if (config === undefined || this.#stopping !== undefined) return;
      await this.#forwarding.stop();
      await this.#writer?.pause();
      await this.#spool?.close().catch(ignore);
      while (this.#stopping === undefined && !this.#life.signal.aborted) {
        try {
          await this.#openSpool(config);
          break;
        } catch (reopenError) {
          this.#log.error({ event: 'spool_reopen_failed', err: reopenError }, 'spool reopen failed; retrying in 5 s');
          await this.#clock.sleep(5000, this.#life.signal).catch(ignore);
        }
      }
      this.stats.spoolReopens++;
      if (this.#spool?.stats().state === 'open') this.#startForwarder(config);
    });
  }

  #heartbeatReport(): HeartbeatReport | undefined {
    const config = this.#config;
    if (config === undefined) return undefined;
    const health = this.health();
    const spool = this.#spool?.stats();
    const records = spool?.records ?? 0;
    return {
      namespace: config.fleet.namespace,
      fleet: config.fleet.name,
      node: this.#o.nodeName,
      staleAfterSeconds: config.staleAfterSeconds,
      health: health.status,
      message: health.message,
      backlogRecords: records,
      backlogBytes: estimateBacklogBytes(records, spool?.bytes ?? 0, this.#writer?.averageRecordBytes),
      lastSampleTimeMs: this.#writer?.lastAcceptedMs,
      agentVersion: agentVersion(),
    };
  }

  async #shutdown(): Promise<void> {
    const started = this.#clock.monotonic();
    const budget = this.#o.shutdownTimeoutMs ?? 5000;
    this.#draining = true;
    this.#life.abort();
    await this.#sensors.stopAll();
    const timers = new AbortController();
    const flushDeadline = new AbortController();
    void this.#clock.sleep(budget / 2, timers.signal).then(() => flushDeadline.abort(), ignore);
    await this.#writer?.flush(flushDeadline.signal);
    timers.abort();
    // Accept nothing more before the drain: an append that completed after the drain had
    // caught up stayed in the spool (durable, but not forwarded by this stop).
    await this.#writer?.close();
    // Readers see records once fsynced: make the last appends visible so the drain can forward them.
    await this.#spool?.sync().catch(ignore);
    await this.#forwarding.drain(started + budget);
    await this.#spool?.close().catch((error: unknown) => this.#log.warn({ event: 'spool_close_failed', err: error }, 'spool close failed'));
    await Promise.allSettled(this.#loops);
    await this.#endpoint?.close();
    const backlog = this.#spool?.stats().records;
    this.#log.info({ event: 'agent_stopped', backlogRecords: backlog, forwardedRecords: this.stats.forward.records }, 'agent stopped');
  }
}
