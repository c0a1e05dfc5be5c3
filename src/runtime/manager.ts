/**
 * The manager: composes the runnables of the operator and owns the process's lifecycle
 * (controller-runtime's shape). It runs, on every replica, the shared informer caches
 * (caches.ts) and the probe and metrics endpoints (endpoints.ts); leadership
 * (leader/leadership.ts) wins terms, publishes and enforces each term's epoch, and for
 * each term the manager runs every controller with a writer stamped with that epoch.
 *
 * Lifecycle: `start(signal)` starts the caches, binds the endpoints, then runs
 * leadership. For each term it waits for the caches to sync (warning every 10 s) and
 * runs the controllers until the term ends (renewal failed, a write was fenced, or
 * shutdown), their urgent work (runtime/urgent.ts, the kill switch) before any
 * reconcile; then every controller stops taking work and drains. When `signal` aborts,
 * in-flight reconciles drain (up to `drainTimeoutMs`), the Lease is released, the caches
 * stop, pending events are flushed and the endpoints close, in that order.
 *
 * Limitations: controllers and informers are registered before `start`; a manager is
 * started once.
 */
import type { Clock } from '../legos/clock.ts';
import { SystemClock } from '../legos/clock.ts';
import { Caches } from './caches.ts';
import { Controller, type Cache, type ControllerSpec, type InformerSelector } from './controller.ts';
import { Endpoints, type SecureMetrics } from './endpoints.ts';
import { KubeEventRecorder, type EventRecorder } from './events.ts';
import type { SharedInformer } from './informer/fan-in.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { defaultIdentity } from './leader/elector.ts';
import { DefaultLeaseName, Leadership, type LeaderElectionOptions, type Term } from './leader/leadership.ts';
import { silentLogger, type Logger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';
import { UrgentGate } from './urgent.ts';
import { FencedWriter, FieldManager } from './writer.ts';

export type { LeaderElectionOptions } from './leader/leadership.ts';

export interface ManagerOptions {
  readonly client: KubeClient;
  /** Serve only these namespaces (empty or undefined: all namespaces). */
  readonly namespaces?: readonly string[] | undefined;
  readonly leaderElection: LeaderElectionOptions;
  /** Metrics address (`:8080`, `127.0.0.1:0`, or `0` to disable). @default '0' */
  readonly metricsBindAddress?: string;
  /** Serve `/metrics` over HTTPS to authorized callers only (endpoints.ts). @default plain HTTP */
  readonly secureMetrics?: SecureMetrics | undefined;
  /** Probe address (same syntax). @default '0' */
  readonly healthProbeBindAddress?: string;
  /** @default the pod name, else the host name and pid */
  readonly identity?: string;
  /** @default SystemClock */
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly metrics?: OperatorMetrics;
  /**
   * Refuse to lead until the API server enforces the term's epoch (default true). Turn
   * off only where the fencing policy cannot be installed; writes are then unfenced.
   */
  readonly requireFencing?: boolean;
  /** How long in-flight reconciles may finish when a term ends or on shutdown, ms. @default 30000 */
  readonly drainTimeoutMs?: number;
  /** Informer tuning shared by all informers (tests shorten the watchdog). */
  readonly informer?: { silenceTimeoutMs?: number; relistPeriodMs?: number };
}

/** How often a term still waiting for its caches says so, ms. */
const SLOW_SYNC_WARNING_EVERY_MS = 10_000;

export class Manager {
  readonly identity: string;
  readonly metrics: OperatorMetrics;
  readonly client: KubeClient;
  readonly recorder: EventRecorder & { flush(): Promise<void> };
  private readonly options: ManagerOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly caches: Caches;
  private readonly endpoints: Endpoints;
  private readonly controllers: Controller[] = [];
  private readonly gate: UrgentGate;
  private started = false;
  /** Epoch of the current term (0 when not leading). */
  epoch = 0;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.client = options.client;
    this.clock = options.clock ?? SystemClock;
    this.log = options.log ?? silentLogger;
    this.metrics = options.metrics ?? new OperatorMetrics();
    this.identity = options.identity ?? defaultIdentity();
    const recorder = new KubeEventRecorder({ client: this.client, controller: 'manyfold.dev/operator', instance: this.identity, epoch: () => this.epoch, clock: this.clock, log: this.log });
    this.metrics.trackMemory('event_dedupe', recorder.memories.dedupe);
    this.metrics.trackMemory('event_rate_limit', recorder.memories.rateLimit);
    this.recorder = recorder;
    this.gate = new UrgentGate({ clock: this.clock });
    this.caches = new Caches({ client: this.client, namespaces: options.namespaces, clock: this.clock, log: this.log, informer: options.informer });
    this.endpoints = new Endpoints({
      healthProbeBindAddress: options.healthProbeBindAddress,
      metricsBindAddress: options.metricsBindAddress,
      secureMetrics: options.secureMetrics,
      registry: this.metrics.registry,
      unsynced: () => this.caches.pending(),
    });
  }

  /** Addresses the endpoints actually bound (after start). */
  get addresses(): { metrics?: string; probes?: string } {
    return this.endpoints.addresses;
  }

  /** The shared informer for `type` and `selector` (see {@link Caches.informer}). */
  informer<T extends KubeObject = KubeObject>(type: ResourceType, selector: InformerSelector = {}): SharedInformer<T> {
    return this.caches.informer<T>(type, selector);
  }

  /** Read access to the informer caches. */
  get cache(): Cache {
    return this.caches.cache;
  }

  addController(spec: ControllerSpec): Controller {
    if (this.started) throw new Error('controllers must be added before the manager starts');
    const controller = new Controller(spec, {
      client: this.client,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      recorder: this.recorder,
      cache: this.caches.cache,
      informer: (type, selector) => this.caches.informer(type, selector),
      drainTimeoutMs: this.options.drainTimeoutMs ?? 30_000,
      gate: this.gate,
    });
    this.controllers.push(controller);
    return controller;
  }

  /** Informers that have not synced yet, with their list/error counts (diagnostics). */
  unsynced(): string[] {
    return this.caches.unsynced();
  }

  /** True when every informer has synced. */
  ready(): boolean {
    return this.caches.ready();
  }

  /** True while this process leads. */
  get leading(): boolean {
    return this.epoch > 0;
  }

  /** Runs until `signal` aborts, then shuts down gracefully. */
  async start(signal: AbortSignal): Promise<void> {
    this.started = true;
    const cachesStop = new AbortController();
    const endpointsStop = new AbortController();
    const caches = this.caches.start(cachesStop.signal);
    const endpoints = this.endpoints.start(endpointsStop.signal);
    try {
      await this.endpoints.listening;
      this.caches.instrument(this.metrics);
      this.log.info({ event: 'endpoints_serving', ...this.addresses, metricsSecure: this.options.secureMetrics !== undefined }, 'serving probes and metrics');
      const secure = this.options.secureMetrics;
      if (secure && this.addresses.metrics) {
        this.log.info({ event: 'metrics_serving', metrics: this.addresses.metrics, secure: true, certificate: secure.certificate }, 'serving authenticated metrics over HTTPS');
      }
      const leadership = new Leadership({
        client: this.client,
        identity: this.identity,
        leaderElection: this.options.leaderElection,
        requireFencing: this.options.requireFencing,
        fieldManager: FieldManager,
        clock: this.clock,
        log: this.log,
        metrics: this.metrics,
        runTerm: (term, stepDown) => this.runTerm(term, stepDown),
      });
      await leadership.start(signal);
    } finally {
      cachesStop.abort();
      await caches;
      await this.recorder.flush();
      endpointsStop.abort();
      await endpoints.catch(() => undefined);
    }
  }

  /** One leadership term: a writer stamped with its epoch, caches synced, every controller run until the term ends. */
  private async runTerm(term: Term, stepDown: (reason: string) => void): Promise<void> {
    const leaseName = this.options.leaderElection.name ?? DefaultLeaseName;
    this.epoch = term.epoch;
    this.metrics.leaderStatus.set({ name: leaseName }, 1);
    this.metrics.fencingEpoch.set(term.epoch);
    const writer = new FencedWriter({
      client: this.client,
      epoch: term.epoch,
      clock: this.clock,
      onFenced: (error) => {
        this.metrics.fencedWrites.inc();
        this.log.error({ event: 'write_fenced', epoch: term.epoch, err: error.message }, 'a write was rejected by the fencing policy; stepping down');
        stepDown(`fenced: ${error.message}`);
      },
    });
    this.metrics.trackMemory('writer_statuses', writer.memory);
    try {
      await this.waitForCaches(term.signal);
      const context = { signal: term.signal, epoch: term.epoch, writer };
      // Urgent work (the kill switch) first: it holds the gate before any worker starts.
      for (const c of this.controllers) c.beginTerm(context);
      await Promise.all(this.controllers.map((c) => c.run(context)));
    } catch (error) {
      if (!term.signal.aborted) throw error;
    } finally {
      this.epoch = 0;
      this.metrics.leaderStatus.set({ name: leaseName }, 0);
      this.metrics.fencingEpoch.set(0);
    }
  }

  /** Waits for every informer to sync, warning every 10 s while some have not. */
  private async waitForCaches(signal: AbortSignal): Promise<void> {
    const synced = new AbortController();
    const slow = (async () => {
      const either = AbortSignal.any([synced.signal, signal]);
      while (!either.aborted) {
        await this.clock.sleep(SLOW_SYNC_WARNING_EVERY_MS, either).catch(() => undefined);
        if (!either.aborted) this.log.warn({ event: 'cache_sync_slow', pending: this.unsynced() }, 'controllers wait for informer caches to sync');
      }
    })();
    try {
      await this.caches.waitForSync(signal);
    } finally {
      synced.abort();
      await slow;
    }
  }
}
