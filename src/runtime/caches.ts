/**
 * The manager's shared informers and the read-only {@link Cache} over them: one informer
 * per (type, namespace, label selector, field selector, projection), created on first request
 * (only before start), started together, on every replica, so a new leader starts with
 * a warm cache. Serving several namespaces, a namespaced type gets one informer per
 * namespace behind one view (informer/fan-in.ts), so the operator lists and watches
 * only there and needs rights only there.
 *
 * Limitations: informers cannot be added once started (a controller that needs another
 * kind must declare it before the manager starts).
 */
import type { Clock } from '../legos/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { apiVersionOf, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Cache, InformerSelector } from './controller.ts';
import { NamespacedInformers, type SharedInformer } from './informer/fan-in.ts';
import { Informer } from './informer/informer.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { Runnable } from './runnable.ts';

export interface CachesOptions {
  readonly client: KubeClient;
  /** Watch only these namespaces (empty or undefined: all namespaces). */
  readonly namespaces?: readonly string[] | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** Informer tuning shared by all informers (tests shorten the watchdog). */
  readonly informer?: { silenceTimeoutMs?: number; relistPeriodMs?: number } | undefined;
}

function typeKey(type: ResourceType): string {
  return `${apiVersionOf(type)}/${type.plural}`;
}

export class Caches implements Runnable {
  readonly #options: CachesOptions;
  readonly #informers = new Map<string, SharedInformer>();
  #started = false;

  constructor(options: CachesOptions) {
    this.#options = options;
  }

  /**
   * The shared informer for `type` and `selector` (created on first use; started with
   * the caches). Without a selector namespace, namespaced types are watched in the
   * caches' namespaces (all namespaces when there are none).
   */
  informer<T extends KubeObject = KubeObject>(type: ResourceType, selector: InformerSelector = {}): SharedInformer<T> {
    const served = this.#options.namespaces ?? [];
    const namespaces = !type.namespaced ? [] : selector.namespace !== undefined ? [selector.namespace] : served;
    const key = `${typeKey(type)}|${namespaces.join(',')}|${selector.labelSelector ?? ''}|${selector.fieldSelector ?? ''}${selector.projection ? `|${selector.projection.name}` : ''}`;
    let informer = this.#informers.get(key);
    if (!informer) {
      if (this.#started) throw new Error(`informer for ${key} requested after the manager started`);
      const one = (namespace: string | undefined) => this.#newInformer(type, selector, namespace);
      informer = namespaces.length <= 1 ? one(namespaces[0]) : new NamespacedInformers(new Map(namespaces.map((ns) => [ns, one(ns)])));
      this.#informers.set(key, informer);
    }
    return informer as unknown as SharedInformer<T>;
  }

  #newInformer(type: ResourceType, selector: InformerSelector, namespace: string | undefined): Informer {
    const tuning = this.#options.informer;
    return new Informer({
      client: this.#options.client,
      type,
      namespace,
      labelSelector: selector.labelSelector,
      fieldSelector: selector.fieldSelector,
      projection: selector.projection,
      log: this.#options.log,
      clock: this.#options.clock,
      ...(tuning?.silenceTimeoutMs ? { silenceTimeoutMs: tuning.silenceTimeoutMs } : {}),
      ...(tuning?.relistPeriodMs ? { relistPeriodMs: tuning.relistPeriodMs } : {}),
    });
  }

  /** Read access to every informer's store. */
  readonly cache: Cache = {
    get: <T extends KubeObject>(type: ResourceType, key: string, selector?: InformerSelector) => this.informer<T>(type, selector).store.get(key),
    list: <T extends KubeObject>(type: ResourceType, options: { namespace?: string; index?: { name: string; value: string }; selector?: InformerSelector } = {}) => {
      const store = this.informer<T>(type, options.selector).store;
      if (options.index) return store.byIndex(options.index.name, options.index.value).filter((o) => !options.namespace || o.metadata.namespace === options.namespace);
      return options.namespace ? store.byIndex('namespace', options.namespace) : store.list();
    },
  };

  /** Informers that have not synced yet, with their list/error counts (diagnostics). */
  unsynced(): string[] {
    return [...this.#informers.entries()].filter(([, i]) => !i.hasSynced()).map(([k, i]) => `${k} (lists ${i.stats.lists}, errors ${i.stats.errors})`);
  }

  /** Keys (`apiVersion/plural|namespace|labels|fields`) of the informers that have not synced yet. */
  pending(): string[] {
    return [...this.#informers.entries()].filter(([, i]) => !i.hasSynced()).map(([k]) => k);
  }

  /** True when every informer has synced. */
  ready(): boolean {
    return [...this.#informers.values()].every((i) => i.hasSynced());
  }

  /** Resolves once every informer has synced (rejects when `signal` aborts first). */
  async waitForSync(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.waitForSync(signal)));
  }

  /** Counts every informer's objects and events in `metrics` (call once, before start). */
  instrument(metrics: OperatorMetrics): void {
    for (const [key, informer] of this.#informers) {
      const resource = key.split('|').filter(Boolean).join(' ');
      const count = () => metrics.informerObjects.set({ resource }, informer.store.size);
      count();
      informer.addHandler({
        onAdd: () => (metrics.informerEvents.inc({ resource }), count()),
        onUpdate: () => metrics.informerEvents.inc({ resource }),
        onDelete: () => (metrics.informerEvents.inc({ resource }), count()),
      });
    }
  }

  /** Runs every informer until `signal` aborts. No informer can be added from now on. */
  async start(signal: AbortSignal): Promise<void> {
    this.#started = true;
    await Promise.all([...this.#informers.values()].map((i) => i.start(signal)));
  }
}
