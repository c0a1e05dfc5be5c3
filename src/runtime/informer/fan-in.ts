/**
 * One informer view over several namespaces: an {@link Informer} per namespace (each
 * lists and watches only its namespace, so the operator needs rights there alone, a
 * RoleBinding per namespace), read and subscribed to as one (controller-runtime's
 * multi-namespace cache).
 *
 * Guarantees: `store` answers from the member of the key's namespace (`get`, the
 * `namespace` index) or from every member (`list`, `keys`, other indexes); a handler
 * added here is added to every member, so it sees each namespace's events in that
 * namespace's order; synced once every member has synced.
 *
 * Limitations: no order between events of different namespaces; the namespaces are
 * fixed at construction (serving a new one means a restart with the new list).
 */
import type { KubeObject } from '../../kube/types.ts';
import type { EventHandler, Informer, InformerStats } from './informer.ts';
import { splitKey } from './store.ts';

/** Read access to an informer's cache (what {@link Store} offers readers). */
export interface CacheReader<T extends KubeObject> {
  readonly size: number;
  get(key: string): T | undefined;
  list(): T[];
  keys(): string[];
  byIndex(index: string, value: string): T[];
}

/** What the manager and controllers use of an informer (one namespace or several). */
export interface SharedInformer<T extends KubeObject = KubeObject> {
  readonly store: CacheReader<T>;
  readonly stats: InformerStats;
  addHandler(handler: EventHandler<T>): void;
  hasSynced(): boolean;
  waitForSync(signal?: AbortSignal): Promise<void>;
  start(signal: AbortSignal): Promise<void>;
}

export class NamespacedInformers<T extends KubeObject = KubeObject> implements SharedInformer<T> {
  readonly #members: ReadonlyMap<string, Informer<T>>;
  readonly store: CacheReader<T>;

  /** `members`: one informer per namespace, by namespace (at least one). */
  constructor(members: ReadonlyMap<string, Informer<T>>) {
    if (members.size === 0) throw new Error('NamespacedInformers needs at least one namespace');
    this.#members = members;
    const all = [...members.values()];
    this.store = {
      get size() {
        return all.reduce((n, i) => n + i.store.size, 0);
      },
      get: (key) => {
        const { namespace } = splitKey(key);
        return namespace === undefined ? undefined : members.get(namespace)?.store.get(key);
      },
      list: () => all.flatMap((i) => i.store.list()),
      keys: () => all.flatMap((i) => i.store.keys()),
      byIndex: (index, value) => (index === 'namespace' ? (members.get(value)?.store.byIndex(index, value) ?? []) : all.flatMap((i) => i.store.byIndex(index, value))),
    };
  }

  /** The namespaces served. */
  get namespaces(): string[] {
    return [...this.#members.keys()];
  }

  /** Every member's counters, summed. */
  get stats(): InformerStats {
    const sum: InformerStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, silentWatches: 0, goneRelists: 0, errors: 0 };
    for (const member of this.#members.values()) {
      for (const field of Object.keys(sum) as (keyof InformerStats)[]) sum[field] += member.stats[field];
    }
    return sum;
  }

  addHandler(handler: EventHandler<T>): void {
    for (const member of this.#members.values()) member.addHandler(handler);
  }

  hasSynced(): boolean {
    return [...this.#members.values()].every((m) => m.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.#members.values()].map((m) => m.waitForSync(signal)));
  }

  async start(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.#members.values()].map((m) => m.start(signal)));
  }
}
