/**
 * The manager: owns the informers, the controllers, leader election with fencing, the
 * probe and metrics endpoints, and the process's lifecycle.
 *
 * Lifecycle: `start(signal)` starts every informer (on every replica), the endpoints
 * and the election. When this process wins a term, it publishes the term's epoch to
 * the fencing ConfigMap, waits for the caches to sync, and runs every controller with
 * a writer stamped with that epoch. When the term ends (renewal failed, a write was
 * fenced, or shutdown), every controller stops taking work and drains. When `signal`
 * aborts, in-flight reconciles drain (up to `drainTimeoutMs`), the Lease is released
 * and the endpoints close.
 *
 * `/readyz` is ready when every informer has synced; `/healthz` when the event loop
 * turns (it answers at all).
 */
import type { Clock } from '../legos/clock.ts';
import { rfc3339, SystemClock } from '../legos/clock.ts';
import { Controller, type Cache, type ControllerSpec, type InformerSelector } from './controller.ts';
import { KubeEventRecorder, type EventRecorder } from './events.ts';
import { serveMetrics, serveProbes, type Endpoint } from './http.ts';
import { Informer } from './informer/informer.ts';
import type { KubeClient } from '../kube/client.ts';
import { apiVersionOf, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { LeaderElector, defaultIdentity } from './leader/elector.ts';
import { awaitFencingEffective, publishEpoch, readPublishedEpoch } from './leader/fence.ts';
import { silentLogger, type Logger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';
import { FencedWriter, FieldManager } from './writer.ts';

export interface LeaderElectionOptions {
  readonly enabled: boolean;
  /** Namespace of the Lease and the fencing ConfigMap. */
  readonly namespace: string;
  readonly name?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Fault injection for tests (see ElectorOptions.ignoreLeaseLoss). */
  readonly ignoreLeaseLoss?: boolean;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  /** Watch only this namespace ('' or undefined: all namespaces). */
  readonly namespace?: string | undefined;
  readonly leaderElection: LeaderElectionOptions;
  readonly metricsBindAddress?: string;
  readonly healthProbeBindAddress?: string;
  readonly identity?: string;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly metrics?: OperatorMetrics;
  /**
   * Refuse to lead until the API server enforces the term's epoch (default true). Turn
   * off only where the fencing policy cannot be installed; writes are then unfenced.
   */
  readonly requireFencing?: boolean;
  /** How long in-flight reconciles may finish when a term ends or on shutdown (default 30,000 ms). */
  readonly drainTimeoutMs?: number;
  /** Informer tuning shared by all informers (tests shorten the watchdog). */
  readonly informer?: { silenceTimeoutMs?: number; relistPeriodMs?: number };
}

function typeKey(type: ResourceType): string {
  return `${apiVersionOf(type)}/${type.plural}`;
}

export class Manager {
  readonly identity: string;
  readonly metrics: OperatorMetrics;
  readonly client: KubeClient;
  readonly recorder: EventRecorder & { flush(): Promise<void> };
  private readonly options: ManagerOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly informers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private elector: LeaderElector | undefined;
  private endpoints: Endpoint[] = [];
  private started = false;
  /** Epoch of the current term (0 when not leading). */
  epoch = 0;
  /** Addresses the endpoints actually bound (after start). */
  readonly addresses: { metrics?: string; probes?: string } = {};

  constructor(options: ManagerOptions) {
    this.options = options;
    this.client = options.client;
    this.clock = options.clock ?? SystemClock;
    this.log = options.log ?? silentLogger;
    this.metrics = options.metrics ?? new OperatorMetrics();
    this.identity = options.identity ?? defaultIdentity();
    this.recorder = new KubeEventRecorder({ client: this.client, controller: 'manyfold.dev/operator', instance: this.identity, epoch: () => this.epoch, clock: this.clock, log: this.log });
  }

  /**
   * The shared informer for `type` and `selector` (created on first use; started with
   * the manager). Without a selector namespace, namespaced types are watched in the
   * manager's namespace (all namespaces when it has none).
   */
  informer<T extends KubeObject = KubeObject>(type: ResourceType, selector: InformerSelector = {}): Informer<T> {
    const namespace = type.namespaced ? (selector.namespace ?? this.options.namespace) : undefined;
    const key = `${typeKey(type)}|${namespace ?? ''}|${selector.labelSelector ?? ''}|${selector.fieldSelector ?? ''}`;
    let informer = this.informers.get(key);
    if (!informer) {
      if (this.started) throw new Error(`informer for ${key} requested after the manager started`);
      informer = new Informer({
        client: this.client,
        type,
        namespace,
        labelSelector: selector.labelSelector,
        fieldSelector: selector.fieldSelector,
        log: this.log,
        clock: this.clock,
        ...(this.options.informer?.silenceTimeoutMs ? { silenceTimeoutMs: this.options.informer.silenceTimeoutMs } : {}),
        ...(this.options.informer?.relistPeriodMs ? { relistPeriodMs: this.options.informer.relistPeriodMs } : {}),
      });
      this.informers.set(key, informer);
    }
    return informer as unknown as Informer<T>;
  }

  readonly cache: Cache = {
    get: <T extends KubeObject>(type: ResourceType, key: string, selector?: InformerSelector) => this.informer<T>(type, selector).store.get(key),
    list: <T extends KubeObject>(type: ResourceType, options: { namespace?: string; index?: { name: string; value: string }; selector?: InformerSelector } = {}) => {
      const store = this.informer<T>(type, options.selector).store;
      if (options.index) return store.byIndex(options.index.name, options.index.value).filter((o) => !options.namespace || o.metadata.namespace === options.namespace);
      return options.namespace ? store.byIndex('namespace', options.namespace) : store.list();
    },
  };

  addController(spec: ControllerSpec): Controller {
    if (this.started) throw new Error('controllers must be added before the manager starts');
    const controller = new Controller(spec, {
      client: this.client,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      recorder: this.recorder,
      cache: this.cache,
      informer: (type, selector) => this.informer(type, selector),
      drainTimeoutMs: this.options.drainTimeoutMs ?? 30_000,
    });
    this.controllers.push(controller);
    return controller;
  }

  /** Informers that have not synced yet, with their list/error counts (diagnostics). */
  unsynced(): string[] {
    return [...this.informers.entries()].filter(([, i]) => !i.hasSynced()).map(([k, i]) => `${k} (lists ${i.stats.lists}, errors ${i.stats.errors})`);
  }

  /** True when every informer has synced. */
  ready(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  /** True while this process leads. */
  get leading(): boolean {
    return this.epoch > 0;
  }

  /** Runs until `signal` aborts, then shuts down gracefully. */
  async start(signal: AbortSignal): Promise<void> {
    this.started = true;
    const informerStop = new AbortController();
    const informerRuns = [...this.informers.values()].map((i) => i.start(informerStop.signal));
    await this.serve();
    const le = this.options.leaderElection;
    const leaseName = le.name ?? 'manyfold-operator';
    try {
      if (!le.enabled) {
        this.log.info({ event: 'leader_election_disabled' }, 'leader election disabled; leading unconditionally (unfenced epoch 0 is not allowed, using the published epoch + 1)');
        const epoch = (await readPublishedEpoch(this.client, le.namespace).catch(() => 0)) + 1;
        await this.publish(epoch, signal);
        await this.lead({ epoch, signal }, () => undefined);
      } else {
        this.elector = new LeaderElector({
          client: this.client,
          namespace: le.namespace,
          name: leaseName,
          identity: this.identity,
          ...(le.leaseDurationMs === undefined ? {} : { leaseDurationMs: le.leaseDurationMs }),
          ...(le.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: le.renewDeadlineMs }),
          ...(le.retryPeriodMs === undefined ? {} : { retryPeriodMs: le.retryPeriodMs }),
          ...(le.ignoreLeaseLoss ? { ignoreLeaseLoss: true } : {}),
          clock: this.clock,
          log: this.log,
          readMinEpoch: () => readPublishedEpoch(this.client, le.namespace),
          publishEpoch: (epoch, termSignal) => this.publish(epoch, termSignal),
        });
        const elector = this.elector;
        await elector.run(signal, async (term) => {
          this.metrics.leaderElections.inc({ name: leaseName });
          await this.lead(term, (reason) => elector.stepDown(reason));
        });
      }
    } finally {
      informerStop.abort();
      await Promise.all(informerRuns);
      await this.recorder.flush();
      for (const endpoint of this.endpoints) await endpoint.close();
      this.endpoints = [];
    }
  }

  /** Publishes a term's epoch and, unless disabled, waits until the API server enforces it. */
  private async publish(epoch: number, signal: AbortSignal): Promise<void> {
    const namespace = this.options.leaderElection.namespace;
    await publishEpoch(this.client, { namespace, epoch, identity: this.identity, fieldManager: FieldManager, wallNow: rfc3339(this.clock.now()), signal });
    if (this.options.requireFencing === false) return;
    const waitedMs = await awaitFencingEffective(this.client, { namespace, epoch, fieldManager: FieldManager, signal });
    this.log.info({ event: 'fencing_enforced', epoch, waitedMs }, 'the API server rejects writes of older epochs');
  }

  private async lead(term: { epoch: number; signal: AbortSignal }, stepDown: (reason: string) => void): Promise<void> {
    const leaseName = this.options.leaderElection.name ?? 'manyfold-operator';
    this.epoch = term.epoch;
    this.metrics.leaderStatus.set({ name: leaseName }, 1);
    this.metrics.fencingEpoch.set(term.epoch);
    const writer = new FencedWriter({
      client: this.client,
      epoch: term.epoch,
      onFenced: (error) => {
        this.metrics.fencedWrites.inc();
        this.log.error({ event: 'write_fenced', epoch: term.epoch, err: error.message }, 'a write was rejected by the fencing policy; stepping down');
        stepDown(`fenced: ${error.message}`);
      },
    });
    try {
      const syncing = Promise.all([...this.informers.values()].map((i) => i.waitForSync(term.signal)));
      const slow = setInterval(() => {
        this.log.warn({ event: 'cache_sync_slow', pending: this.unsynced() }, 'controllers wait for informer caches to sync');
      }, 10_000);
      try {
        await syncing;
      } finally {
        clearInterval(slow);
      }
      await Promise.all(this.controllers.map((c) => c.run({ signal: term.signal, epoch: term.epoch, writer })));
    } catch (error) {
      if (!term.signal.aborted) throw error;
    } finally {
      this.epoch = 0;
      this.metrics.leaderStatus.set({ name: leaseName }, 0);
      this.metrics.fencingEpoch.set(0);
    }
  }

  private async serve(): Promise<void> {
    const informerCheck = () => {
      const pending = [...this.informers.entries()].filter(([, i]) => !i.hasSynced()).map(([k]) => k);
      return { ok: pending.length === 0, detail: pending.length ? `not synced: ${pending.join(', ')}` : '' };
    };
    const probes = await serveProbes(this.options.healthProbeBindAddress ?? '0', {
      healthz: { ping: () => ({ ok: true, detail: '' }) },
      readyz: { informers: informerCheck },
    });
    if (probes) {
      this.endpoints.push(probes);
      this.addresses.probes = probes.address;
    }
    const metrics = await serveMetrics(this.options.metricsBindAddress ?? '0', this.metrics.registry);
    if (metrics) {
      this.endpoints.push(metrics);
      this.addresses.metrics = metrics.address;
    }
    for (const [key, informer] of this.informers) {
      const resource = key.split('|').filter(Boolean).join(' ');
      const count = () => this.metrics.informerObjects.set({ resource }, informer.store.size);
      count();
      informer.addHandler({
        onAdd: () => (this.metrics.informerEvents.inc({ resource }), count()),
        onUpdate: () => this.metrics.informerEvents.inc({ resource }),
        onDelete: () => (this.metrics.informerEvents.inc({ resource }), count()),
      });
    }
    this.log.info({ event: 'endpoints_serving', ...this.addresses }, 'serving probes and metrics');
  }
}
