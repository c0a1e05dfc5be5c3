/**
 * A controller: watches → queue → reconcile, with controller-runtime's contract.
 *
 * The reconcile gets a key (`namespace/name`) and a context, never an event, and
 * returns `{ requeueAfterMs? }` or throws; retry policy lives in the worker pool and
 * errors are classified once (runtime/errors.ts). Keys come from:
 * - the primary kind (`for`): every add, delete, and every update except status-only
 *   ones (same generation, labels, annotations, finalizers and deletion timestamp),
 *   so the controller's own status writes do not wake it;
 * - owned kinds (`owns`): the object's controller owner of the primary kind;
 * - other watches (`watches`): a mapping function from object to keys, optionally with
 *   a floor (`minIntervalMs`) on how often one watch wakes one key;
 * - a periodic resync of every primary object (default 10 min), the level-triggered
 *   safety net.
 * Reconciles run only while the process leads (one queue and worker pool per term);
 * informers run on every replica so a new leader starts with a warm cache. A
 * controller's `urgent` work (runtime/urgent.ts) runs outside the queue, first in each
 * term and at once on its triggers, and every reconcile waits while it runs.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../legos/clock.ts';
import type { EventRecorder } from './events.ts';
import type { SharedInformer } from './informer/fan-in.ts';
import type { Projection } from './informer/projection.ts';
import { keyOf, splitKey } from './informer/store.ts';
import { classifyError, retryAfterOf } from './errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';
import { ExponentialFailureRateLimiter, WorkQueue, WorkerPool, defaultControllerRateLimiter, type ReconcileResult } from './queue/index.ts';
import { RateFloor } from './queue/floor.ts';
import type { FencedWriter } from './writer.ts';
import { mergeScopes, type UrgentGate, type UrgentScope, type UrgentSpec } from './urgent.ts';

/** Narrows an informer to a namespace and/or selectors (see Manager.informer). */
export interface InformerSelector {
  readonly namespace?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  /**
   * Cache only what this projection keeps of each object (informer/projection.ts); an
   * informer with a projection is a different informer from one without.
   * @default whole objects (without `managedFields`)
   */
  readonly projection?: Projection | undefined;
}

/**
 * Read access to the manager's informer caches. A selector picks the informer that was
 * registered with it (by a controller's `owns`/`watches`); reading through a selector no
 * controller registered creates a new informer, which is only allowed before start.
 */
export interface Cache {
  get<T extends KubeObject = KubeObject>(type: ResourceType, key: string, selector?: InformerSelector): T | undefined;
  list<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options?: { namespace?: string; index?: { name: string; value: string }; selector?: InformerSelector },
  ): T[];
}

export interface ReconcileContext {
  readonly key: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly epoch: number;
  readonly clock: Clock;
  readonly writer: FencedWriter;
  readonly recorder: EventRecorder;
  readonly cache: Cache;
  /** For reads the cache does not hold (and for what the writer does not cover). */
  readonly client: KubeClient;
}

export type Reconcile = (ctx: ReconcileContext) => Promise<ReconcileResult | void>;

export interface Watch {
  readonly type: ResourceType;
  readonly selector?: InformerSelector;
  /** Keys of primary objects to reconcile when `object` changes (`cache` reads the others). */
  readonly map: (object: KubeObject, cache: Cache) => readonly string[];
  /**
   * Least time between two reconciles this watch asks for one key, ms: changes within
   * the interval are folded into one reconcile at its end (queue/floor.ts; none is lost,
   * none waits longer than the interval). Other triggers of the key are not delayed.
   * @default 0 (every change enqueues at once)
   */
  readonly minIntervalMs?: number | undefined;
  /**
   * Whether an update is worth mapping (controller-runtime's update predicate), e.g.
   * only label changes of Nodes, not their status heartbeats. Adds and deletes always are.
   * @default every update
   */
  readonly updated?: ((old: KubeObject, next: KubeObject) => boolean) | undefined;
}

/**
 * An event source outside the API server (an etcd watch, say): runs for the length of
 * a leadership term and calls `enqueue` with primary keys to reconcile. It must return
 * once `signal` aborts.
 */
export type Source = (ctx: { readonly signal: AbortSignal; readonly enqueue: (key: string) => void }) => Promise<void>;

export interface ControllerSpec {
  /** Controller name (metrics label, logs), e.g. `cell`. */
  readonly name: string;
  readonly for: ResourceType;
  readonly owns?: readonly ResourceType[];
  /** Selector for the informers of owned kinds (e.g. `manyfold.dev/cell` to watch only stamped children). */
  readonly ownsSelector?: InformerSelector;
  readonly watches?: readonly Watch[];
  /** Event sources beyond informers, run while leading (see {@link Source}). */
  readonly sources?: readonly Source[];
  readonly reconcile: Reconcile;
  /** Concurrent reconciles (default 4). */
  readonly concurrency?: number;
  /** Requeue every primary object this often, ms (0 disables). @default 600000 */
  readonly resyncPeriodMs?: number;
  /** Registers the controller's domain metrics with the manager's (runs once, when added). */
  readonly metrics?: (metrics: OperatorMetrics) => void;
  /** Work run ahead of every queue: on its triggers, and first in every term (runtime/urgent.ts). */
  readonly urgent?: UrgentSpec;
}

/** What the manager provides a controller for one leadership term. */
export interface TermContext {
  readonly signal: AbortSignal;
  readonly epoch: number;
  readonly writer: FencedWriter;
}

export interface ControllerDeps {
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  readonly recorder: EventRecorder;
  readonly cache: Cache;
  readonly informer: (type: ResourceType, selector?: InformerSelector) => SharedInformer;
  readonly drainTimeoutMs: number;
  /** The manager's gate: reconciles wait while urgent work runs. */
  readonly gate: UrgentGate;
}

function meaningfulUpdate(old: KubeObject, next: KubeObject): boolean {
  const a = old.metadata;
  const b = next.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    (a.generation === undefined && old.metadata.resourceVersion !== next.metadata.resourceVersion)
  );
}

export class Controller {
  readonly spec: ControllerSpec;
  private readonly deps: ControllerDeps;
  private queue: WorkQueue | undefined;
  private readonly log: Logger;
  /** The term being led (urgent triggers act only then). */
  private term: TermContext | undefined;
  /** Scope of urgent work requested and not started yet. */
  private urgentPending: UrgentScope | undefined;
  /** The urgent work running now, if any. */
  private urgentRunning: Promise<void> | undefined;
  /** The rate floors of watches with `minIntervalMs`, cleared at each term's start. */
  private readonly floors: RateFloor[] = [];

  constructor(spec: ControllerSpec, deps: ControllerDeps) {
    this.spec = spec;
    this.deps = deps;
    this.log = deps.log.child({ controller: spec.name });
    spec.metrics?.(deps.metrics);
    this.wire();
  }

  /** Keys waiting (0 when not leading). */
  get depth(): number {
    return this.queue?.len ?? 0;
  }

  private enqueue(key: string): void {
    this.queue?.add(key);
  }

  private wire(): void {
    const primary = this.deps.informer(this.spec.for);
    primary.addHandler({
      onAdd: (o) => this.enqueue(keyOf(o)),
      onUpdate: (old, o) => {
        if (meaningfulUpdate(old, o)) this.enqueue(keyOf(o));
      },
      onDelete: (o) => this.enqueue(keyOf(o)),
    });
    const ownerKeys = (o: KubeObject): string[] =>
      (o.metadata.ownerReferences ?? [])
        .filter((r) => r.controller && r.kind === this.spec.for.kind && r.apiVersion.split('/')[0] === (this.spec.for.group || r.apiVersion.split('/')[0]))
        .map((r) => (o.metadata.namespace ? `${o.metadata.namespace}/${r.name}` : r.name));
    for (const type of this.spec.owns ?? []) {
      this.deps.informer(type, this.spec.ownsSelector).addHandler({
        onAdd: (o) => ownerKeys(o).forEach((k) => this.enqueue(k)),
        onUpdate: (old, o) => new Set([...ownerKeys(old), ...ownerKeys(o)]).forEach((k) => this.enqueue(k)),
        onDelete: (o) => ownerKeys(o).forEach((k) => this.enqueue(k)),
      });
    }
    for (const watch of this.spec.watches ?? []) {
      const floor = watch.minIntervalMs ? new RateFloor({ minIntervalMs: watch.minIntervalMs }) : undefined;
      if (floor) this.floors.push(floor);
      const map = (o: KubeObject) => {
        for (const key of watch.map(o, this.deps.cache)) {
          const verdict = floor ? floor.offer(key, this.deps.clock.monotonic()) : ({ kind: 'now' } as const);
          if (verdict.kind === 'now') this.enqueue(key);
          else if (verdict.kind === 'later') this.queue?.addAfter(key, verdict.delayMs, { retry: false });
        }
      };
      const onUpdate = (old: KubeObject, o: KubeObject) => {
        if (watch.updated && !watch.updated(old, o)) return;
        map(old);
        map(o);
      };
      this.deps.informer(watch.type, watch.selector).addHandler({ onAdd: map, onUpdate, onDelete: map });
    }
    for (const trigger of this.spec.urgent?.triggers ?? []) {
      const fire = (old: KubeObject | undefined, next: KubeObject | undefined) => {
        const scope = trigger.affects(old, next);
        if (scope !== undefined) this.requestUrgent(scope);
      };
      this.deps.informer(trigger.type, trigger.selector).addHandler({ onAdd: (o) => fire(undefined, o), onUpdate: (old, o) => fire(old, o), onDelete: (o) => fire(o, undefined) });
    }
  }

  /**
   * Starts a term: from now on urgent triggers act, and the urgent work runs over every
   * namespace, holding the gate (closed before this returns), so it runs before any
   * controller's first reconcile of the term. Call for every controller, then {@link run}.
   */
  beginTerm(term: TermContext): void {
    this.term = term;
    if (this.spec.urgent !== undefined) this.requestUrgent({ all: true });
  }

  /** Asks for urgent work over `scope`: at once (the gate closes now), or merged into the run after the current one. */
  private requestUrgent(scope: UrgentScope): void {
    const term = this.term;
    const urgent = this.spec.urgent;
    if (term === undefined || urgent === undefined || term.signal.aborted) return;
    this.urgentPending = mergeScopes(this.urgentPending, scope);
    if (this.urgentRunning !== undefined) return;
    this.urgentRunning = this.deps.gate
      .hold(async () => {
        while (this.urgentPending !== undefined && !term.signal.aborted) {
          const next = this.urgentPending;
          this.urgentPending = undefined;
          const started = this.deps.clock.monotonic();
          try {
            await urgent.run({ signal: term.signal, log: this.log, epoch: term.epoch, clock: this.deps.clock, writer: term.writer, cache: this.deps.cache, client: this.deps.client }, next);
            this.log.debug({ event: 'urgent_done', all: next.all, ms: this.deps.clock.monotonic() - started }, 'urgent work done');
          } catch (error) {
            this.log.error({ event: 'urgent_failed', err: error instanceof Error ? error.message : String(error) }, 'urgent work failed; the queued reconciles will converge');
          }
        }
      })
      .finally(() => {
        this.urgentRunning = undefined;
      });
  }

  /** Runs reconciles for one term; resolves after the term ends and in-flight work drained. */
  async run(term: TermContext): Promise<void> {
    const { metrics, clock } = this.deps;
    const name = this.spec.name;
    const labels = { name, controller: name };
    const perKey = new ExponentialFailureRateLimiter<string>();
    metrics.trackMemory(`${name}_retries`, perKey.memory);
    const queue = new WorkQueue<string>({
      clock,
      rateLimiter: defaultControllerRateLimiter({ clock, perKey }),
      metrics: {
        depth: (n) => metrics.queueDepth.set(labels, n),
        added: () => metrics.queueAdds.inc(labels),
        retried: () => metrics.queueRetries.inc(labels),
        queued: (s) => metrics.queueLatency.observe(labels, s),
        worked: (s) => metrics.workDuration.observe(labels, s),
      },
    });
    metrics.queueDepth.set(labels, 0);
    const concurrency = this.spec.concurrency ?? 4;
    metrics.maxConcurrent.set({ controller: name }, concurrency);
    const pool = new WorkerPool<string>({
      queue,
      clock,
      concurrency,
      drainTimeoutMs: this.deps.drainTimeoutMs,
      classify: classifyError,
      retryAfterMs: retryAfterOf,
      reconcile: (key, signal) => this.reconcileOne(key, term, signal),
      metrics: {
        reconciled: (outcome, seconds) => {
          metrics.reconcileTotal.inc({ controller: name, result: outcome });
          metrics.reconcileTime.observe({ controller: name }, seconds);
        },
        errored: (retry) => {
          metrics.reconcileErrors.inc({ controller: name });
          if (retry === 'terminal') metrics.terminalErrors.inc({ controller: name });
        },
        activeWorkers: (n) => metrics.activeWorkers.set({ controller: name }, n),
      },
      onTerminal: (key, error) => {
        const { namespace, name: objectName } = splitKey(key);
        this.log.error({ event: 'reconcile_abandoned', namespace, name: objectName, err: error instanceof Error ? error.message : String(error) }, 'not retrying: the error will not go away by itself');
      },
      onError: (key, error, retry) => {
        const { namespace, name: objectName } = splitKey(key);
        this.log.warn({ event: 'reconcile_failed', namespace, name: objectName, retry, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed');
      },
    });
    this.queue = queue;
    for (const floor of this.floors) floor.clear();
    const primary = this.deps.informer(this.spec.for);
    // Objects whose spec the operator has not caught up with go first, so a new leader
    // reconciles the changes made during the failover before re-checking everything else.
    const pending = (o: KubeObject) => {
      const observed = (o['status'] as { observedGeneration?: number } | undefined)?.observedGeneration;
      return o.metadata.generation !== undefined && observed !== o.metadata.generation;
    };
    const objects = primary.store.list();
    for (const o of objects) if (pending(o)) queue.add(keyOf(o));
    for (const o of objects) if (!pending(o)) queue.add(keyOf(o));
    const resync = this.spec.resyncPeriodMs ?? 600_000;
    const resyncLoop = (async () => {
      while (resync > 0 && !term.signal.aborted) {
        await clock.sleep(resync, term.signal).catch(() => undefined);
        if (!term.signal.aborted) for (const key of primary.store.keys()) queue.add(key);
      }
    })();
    const sources = (this.spec.sources ?? []).map((source) =>
      source({ signal: term.signal, enqueue: (key) => queue.add(key) }).catch((error: unknown) => {
        this.log.error({ event: 'source_failed', err: error instanceof Error ? error.message : String(error) }, 'event source failed');
      }),
    );
    this.log.info({ event: 'controller_started', epoch: term.epoch, concurrency }, 'starting workers');
    try {
      await pool.start(term.signal);
    } finally {
      if (this.term === term) this.term = undefined;
      this.urgentPending = undefined;
      await this.urgentRunning;
      queue.shutDown();
      this.queue = undefined;
      await resyncLoop;
      await Promise.all(sources);
      metrics.queueDepth.set(labels, 0);
      this.log.info({ event: 'controller_stopped', epoch: term.epoch }, 'workers stopped');
    }
  }

  private async reconcileOne(key: string, term: TermContext, signal: AbortSignal): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const reconcileID = randomUUID();
    const ctx: ReconcileContext = {
      key,
      namespace,
      name,
      signal: AbortSignal.any([signal, term.signal]),
      log: this.log.child({ namespace, name, reconcileID }),
      epoch: term.epoch,
      clock: this.deps.clock,
      writer: term.writer,
      recorder: this.deps.recorder,
      cache: this.deps.cache,
      client: this.deps.client,
    };
    try {
      // Urgent work (a kill switch's publish) goes first: wait while it runs.
      await this.deps.gate.whenOpen(ctx.signal);
      return await this.spec.reconcile(ctx);
    } catch (error) {
      // NotFound ends the reconcile: the object (or the child it wrote) is gone, and
      // whatever brings it back will enqueue the key again (controller-runtime's
      // IgnoreNotFound, applied once here).
      if (isNotFound(error)) {
        ctx.log.debug({ event: 'reconcile_not_found', err: (error as Error).message }, 'object gone; reconcile ends');
        return;
      }
      throw error;
    }
  }
}
