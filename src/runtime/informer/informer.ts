/**
 * A hardened informer: list, then watch, forever, keeping a {@link Store} in step with
 * the API server and telling handlers what changed.
 *
 * What it does that `@kubernetes/client-node`'s informer does not:
 * - watches with `allowWatchBookmarks` and a jittered `timeoutSeconds` (5-10 min), so
 *   the server ends every watch cleanly and bookmarks keep the resourceVersion fresh;
 * - a last-event watchdog: a watch that delivers nothing (not even a bookmark, which
 *   the API server sends about once a minute) for `silenceTimeoutMs` is abandoned and
 *   reopened, so a half-open connection cannot freeze the cache;
 * - a periodic relist (default every 30 min, jittered) diffed against the store, so
 *   even a missed event is repaired, without spurious updates for unchanged objects;
 * - 410 Gone / Expired relists at once; every other error backs off exponentially
 *   with equal jitter (0.8 s doubling to 30 s), never giving up and never storming;
 * - frozen cached objects, optional `managedFields` dropping, projections (only the
 *   fields readers use are cached: projection.ts), indexes;
 * - `hasSynced()` for gating reconciles and readiness.
 *
 * The loop's state (list or watch, failures in a row, next relist) is data moved by a
 * pure step function (loop.ts); this class does the I/O around it.
 *
 * Handlers run synchronously in event order; they should only enqueue keys.
 *
 * Limitations: one resource type and one (optional) namespace/selector per informer;
 * handlers that throw are logged and skipped, not retried.
 */
import type { Clock } from '../../legos/clock.ts';
import { SystemClock } from '../../legos/clock.ts';
import { BackoffPolicy, MAX_TIMER_DELAY_MS } from '../../legos/retry.ts';
import type { KubeClient } from '../../kube/client.ts';
import { KubeApiError } from '../../kube/errors.ts';
import type { ResourceType } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { watchEvents } from '../../kube/watch.ts';
import { silentLogger, type Logger } from '../log.ts';
import { initialLoopState, listDue, stepLoop, watchBudgetSeconds } from './loop.ts';
import type { Projection } from './projection.ts';
import { StringTable } from './strings.ts';
import { Store, deepFreeze, selectedLabelKeys, type Delta, type IndexFunc } from './store.ts';

export interface EventHandler<T extends KubeObject> {
  onAdd?(object: T): void;
  onUpdate?(old: T, object: T): void;
  onDelete?(object: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  readonly client: KubeClient;
  readonly type: ResourceType;
  readonly namespace?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  readonly indexers?: Readonly<Record<string, IndexFunc<T>>>;
  /** Drop `metadata.managedFields` before caching (it is most of an object's size). @default true */
  readonly dropManagedFields?: boolean;
  /** Cache only what this keeps of each object (projection.ts; it drops `managedFields` too). @default none */
  readonly projection?: Projection | undefined;
  /** Server-side watch timeout range, seconds. @default [300, 600] */
  readonly watchTimeoutSeconds?: readonly [number, number];
  /** Abandon a watch that delivered nothing for this long, ms. @default 150000 */
  readonly silenceTimeoutMs?: number;
  /** Relist and diff this often, ms (±10 % jitter; 0 disables). @default 1800000 */
  readonly relistPeriodMs?: number;
  /** Reconnect backoff bounds, ms (doubling, equal jitter). @default { initialMs: 800, maxMs: 30000 } */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * Page size of lists. Each page is read as one JSON text and parsed whole before its
   * objects are projected, so the page size bounds the transient memory of a (re)list.
   * 25 realistic Deployments parse to ~1 MiB, about the young generation the Deployment
   * gives V8 (`--max-semi-space-size=1`): a page dies young, where collecting it is
   * cheap, instead of being promoted and collected later with the old generation. At
   * 100 (~4 MiB parsed) a cold start's peak at 10,000 Deployments was 119-135 MiB RSS;
   * at 25, 104-111 MiB, for 4x the list requests (400 for 10,000 objects, 5.3-5.6 s to
   * sync instead of 4.8; bench/reconcile.ts --as-deployed). @default 25
   */
  readonly pageSize?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: Logger;
}

/** Counters for metrics and tests. */
export interface InformerStats {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  silentWatches: number;
  goneRelists: number;
  errors: number;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly store: Store<T>;
  readonly stats: InformerStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, silentWatches: 0, goneRelists: 0, errors: 0 };
  private readonly handlers: EventHandler<T>[] = [];
  private readonly options: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  /** Repeated strings of projected objects, shared (at most 4,096; strings.ts). */
  private readonly strings = new StringTable();
  private resourceVersion: string | undefined;
  private started = false;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    // The label index holds only the selector's keys: readers narrow by those.
    this.store = new Store<T>(options.indexers ?? {}, { labelKeys: selectedLabelKeys(options.labelSelector) });
    this.clock = options.clock ?? SystemClock;
    this.random = options.random ?? Math.random;
    this.log = (options.log ?? silentLogger).child({ informer: options.type.plural, ...(options.namespace ? { namespace: options.namespace } : {}) });
  }

  /** Registers handlers; objects already cached are replayed to `onAdd`. */
  addHandler(handler: EventHandler<T>): void {
    this.handlers.push(handler);
    if (handler.onAdd) for (const object of this.store.list()) this.safely(() => handler.onAdd?.(object));
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been applied (or rejects when `signal` aborts). */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get lastResourceVersion(): string | undefined {
    return this.resourceVersion;
  }

  /** Runs until `signal` aborts. Never rejects for API errors; it retries them. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error('Informer.start called twice');
    this.started = true;
    const bounds = this.options.backoff ?? { initialMs: 800, maxMs: 30_000 };
    const backoff = new BackoffPolicy({ initialDelayMs: bounds.initialMs, multiplier: 2, maxDelayMs: Math.min(bounds.maxMs, MAX_TIMER_DELAY_MS), jitter: 'equal', random: () => this.random() });
    let state = initialLoopState;
    while (!signal.aborted) {
      try {
        if (listDue(state, this.clock.monotonic(), this.relistPeriod())) {
          await this.list(signal);
          state = stepLoop(state, { type: 'listed', at: this.clock.monotonic(), relistPeriodMs: this.relistPeriod(), jitter: this.random() });
        }
        const opened = this.clock.monotonic();
        const delivered = await this.watch(signal, watchBudgetSeconds(state, opened, this.relistPeriod()));
        state = stepLoop(state, { type: 'watchEnded', delivered, durationMs: this.clock.monotonic() - opened });
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof KubeApiError && (error.code === 410 || error.reason === 'Expired' || error.reason === 'Gone')) {
          this.stats.goneRelists++;
          this.log.info({ event: 'watch_expired', resourceVersion: this.resourceVersion }, 'resourceVersion too old; relisting');
          state = stepLoop(state, { type: 'expired' });
        } else {
          this.stats.errors++;
          state = stepLoop(state, { type: 'failed' });
          this.log.warn({ event: 'watch_error', err: error instanceof Error ? error.message : String(error), failures: state.failures }, 'list/watch failed; retrying');
        }
      }
      if (state.failures > 0 && !signal.aborted) {
        await this.clock.sleep(backoff.delayAfterFailures(state.failures), signal).catch(() => undefined);
      }
    }
  }

  private relistPeriod(): number {
    return this.options.relistPeriodMs ?? 1_800_000;
  }

  private prepare(object: T): T {
    if (this.options.projection) return this.options.projection.project(object, this.strings);
    if (this.options.dropManagedFields !== false && object.metadata.managedFields) {
      delete object.metadata.managedFields;
    }
    return object;
  }

  /**
   * Lists every page. The first list, into an empty store before the informer has
   * synced (no reconcile reads it yet), stores each page and dispatches its adds as it
   * arrives, so the work and garbage of a 10,000-object list are spread between the page
   * reads, where the garbage collector keeps up (stored at the end, they were one
   * synchronous burst of ~20 MiB: the peak of a cold start). Every other list (a relist,
   * a retry) collects the pages and diffs them against the store at the end, so
   * deletions are found and a synced reader never sees half a list.
   */
  private async list(signal: AbortSignal): Promise<void> {
    const { client, type } = this.options;
    const incremental = !this.synced && this.store.size === 0;
    const kind = type.kind;
    const apiVersion = type.group === '' ? type.version : `${type.group}/${type.version}`;
    const items: T[] = [];
    let listed = 0;
    let changes = 0;
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await client.list<T>(type, {
        namespace: this.options.namespace,
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        limit: this.options.pageSize ?? 25,
        continue: continueToken,
        signal,
      });
      listed += page.items.length;
      const deltas: Delta<T>[] = [];
      for (const item of page.items) {
        // Frozen here, page by page, either way: the store would otherwise freeze a
        // relist's objects in one pass at the end.
        const object = deepFreeze(this.prepare({ ...item, kind, apiVersion }));
        if (!incremental) items.push(object);
        else {
          const delta = this.store.upsert(object);
          if (delta) deltas.push(delta);
        }
      }
      changes += deltas.length;
      this.dispatch(deltas);
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (continueToken);
    this.stats.lists++;
    if (!incremental) {
      const deltas = this.store.replace(items);
      changes = deltas.length;
      this.dispatch(deltas);
    }
    this.resourceVersion = resourceVersion;
    this.log.debug({ event: 'informer_listed', items: listed, changes, resourceVersion }, 'listed');
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncWaiters.splice(0)) waiter();
    }
  }

  /** One watch; returns the number of events delivered. */
  private async watch(signal: AbortSignal, maxSeconds: number): Promise<number> {
    const [min, max] = this.options.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.max(1, Math.min(maxSeconds, Math.round(min + this.random() * (max - min))));
    const silenceMs = this.options.silenceTimeoutMs ?? 150_000;
    const watchdog = new AbortController();
    const abortWatch = () => watchdog.abort(signal.reason);
    signal.addEventListener('abort', abortWatch, { once: true });
    let lastEventAt = this.clock.monotonic();
    let silent = false;
    const guard = (async () => {
      while (!watchdog.signal.aborted) {
        const wait = lastEventAt + silenceMs - this.clock.monotonic();
        if (wait <= 0) {
          silent = true;
          watchdog.abort(new Error('watch silent'));
          return;
        }
        await this.clock.sleep(wait, watchdog.signal).catch(() => undefined);
      }
    })();
    this.stats.watches++;
    let delivered = 0;
    try {
      for await (const event of watchEvents<T>(this.options.client, this.options.type, {
        namespace: this.options.namespace,
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        signal: watchdog.signal,
      })) {
        lastEventAt = this.clock.monotonic();
        delivered++;
        const rv = event.object.metadata?.resourceVersion;
        if (event.type === 'BOOKMARK') {
          this.stats.bookmarks++;
          if (rv) this.resourceVersion = rv;
          continue;
        }
        this.stats.events++;
        const object = this.prepare({ ...event.object, kind: this.options.type.kind });
        const delta = event.type === 'DELETED' ? this.store.remove(object) : this.store.upsert(object);
        if (rv) this.resourceVersion = rv;
        if (delta) this.dispatch([delta]);
      }
    } catch (error) {
      if (!silent) throw error;
    } finally {
      signal.removeEventListener('abort', abortWatch);
      watchdog.abort();
      await guard;
    }
    if (silent) {
      this.stats.silentWatches++;
      this.log.warn({ event: 'watch_silent', silenceMs }, 'watch delivered nothing; reopening');
    }
    return delivered;
  }

  private dispatch(deltas: readonly Delta<T>[]): void {
    for (const delta of deltas) {
      for (const handler of this.handlers) {
        this.safely(() => {
          if (delta.type === 'add') handler.onAdd?.(delta.object);
          else if (delta.type === 'update') handler.onUpdate?.(delta.old, delta.object);
          else handler.onDelete?.(delta.object);
        });
      }
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.log.error({ event: 'handler_failed', err: error instanceof Error ? error.message : String(error) }, 'event handler threw');
    }
  }
}
