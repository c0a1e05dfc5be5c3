/**
 * `ShardRouter`: the client library's routing lookups for a ShardMap. It keeps the
 * latest routing table of the ShardMap's ConfigMap (`status.routingConfigMap`) in
 * memory and answers `lookup(key)` synchronously: the shard (stable key hash, see
 * `legos/placement/key-hash.ts`), its serving Cells (primary first) and its epoch, the
 * fencing token to pass to storage. A lookup is a hash and an array index (well under
 * a microsecond; no allocation).
 *
 * Guarantees: the table only moves forward: a table whose `routingVersion` is not
 * above the one held is ignored, so a watch replaying an older object never rolls a
 * router back. A deleted ConfigMap leaves the last table in place (the operator
 * restores it with a higher version).
 *
 * Failure behaviour: `watchRoutingTable` lists the ConfigMap, then watches it from that
 * resourceVersion; any error (network, 410 Gone, undecodable table) is reported to
 * `onError` and followed by a relist after a backoff (1 s doubling to 30 s).
 *
 * Limitations: the routing table trails the operator's write by the watch latency; a
 * router that lost its watch keeps answering from its last table (check `version`
 * and `updatedAtMs` if staleness matters); epochs protect storage from stale hosts,
 * not from stale routers (storage must check the epoch).
 */
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { watchEvents } from '../kube/watch.ts';
import { shardOfKey } from '../legos/placement/key-hash.ts';
import { decodeTable, ROUTING_TABLE_KEY, type RoutingEntry, type RoutingTable } from '../legos/placement/routing-table.ts';

export type { RoutingEntry, RoutingTable } from '../legos/placement/routing-table.ts';

/** Thrown by `lookup` before the first table arrived. */
export class RoutingNotReadyError extends Error {
  override readonly name = 'RoutingNotReadyError';
}

type Listener = (table: RoutingTable, previous: RoutingTable | undefined) => void;

/** Routing lookups over the latest table. */
export class ShardRouter {
  #table: RoutingTable | undefined;
  #updatedAtMs = 0;
  readonly #listeners = new Set<Listener>();

  constructor(table?: RoutingTable) {
    if (table) this.update(table);
  }

  /** Version of the table held (0 before the first). */
  get version(): number {
    return this.#table?.version ?? 0;
  }

  /** Wall time (ms) the held table was taken. */
  get updatedAtMs(): number {
    return this.#updatedAtMs;
  }

  get table(): RoutingTable | undefined {
    return this.#table;
  }

  /** Takes `table` if its version is above the one held. @returns whether it was taken */
  update(table: RoutingTable): boolean {
    const previous = this.#table;
    if (previous && table.version <= previous.version) return false;
    this.#table = table;
    this.#updatedAtMs = Date.now();
    for (const listener of this.#listeners) listener(table, previous);
    return true;
  }

  /** Calls `listener` on every table taken; returns the unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The shard of `key`. @throws RoutingNotReadyError before the first table */
  shardOf(key: string | Uint8Array): number {
    const table = this.#table;
    if (!table) throw new RoutingNotReadyError('no routing table yet');
    return shardOfKey(key, table.shards);
  }

  /** The entry of `key`'s shard: replicas (primary first), epoch, joining and leaving Cells. */
  lookup(key: string | Uint8Array): RoutingEntry {
    const table = this.#table;
    if (!table) throw new RoutingNotReadyError('no routing table yet');
    return table.entries[shardOfKey(key, table.shards)] as RoutingEntry;
  }
}

/** The decoded table of a routing ConfigMap, or undefined when it has none. */
export function tableOfConfigMap(object: KubeObject & { binaryData?: Record<string, string> }): RoutingTable | undefined {
  const data = object.binaryData?.[ROUTING_TABLE_KEY];
  return data === undefined ? undefined : decodeTable(data).table;
}

export interface WatchRoutingOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** The routing ConfigMap (`status.routingConfigMap` of the ShardMap). */
  readonly configMap: string;
  readonly signal: AbortSignal;
  readonly onError?: ((error: unknown) => void) | undefined;
  /** Sleep seam for tests. */
  readonly sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Feeds `router` from the routing ConfigMap until `signal` aborts. Resolves `ready`
 * once a first table was taken.
 */
export function watchRoutingTable(router: ShardRouter, options: WatchRoutingOptions): { readonly ready: Promise<void>; readonly done: Promise<void> } {
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const take = (object: KubeObject): void => {
    const table = tableOfConfigMap(object);
    if (table) {
      router.update(table);
      markReady();
    }
  };
  const sleep = options.sleep ?? defaultSleep;
  const done = (async () => {
    let delay = 1000;
    while (!options.signal.aborted) {
      try {
        const list = await options.client.list(Resources.ConfigMap, { namespace: options.namespace, fieldSelector: `metadata.name=${options.configMap}`, signal: options.signal });
        for (const item of list.items) take(item);
        delay = 1000;
        const events = watchEvents(options.client, Resources.ConfigMap, {
          namespace: options.namespace,
          fieldSelector: `metadata.name=${options.configMap}`,
          resourceVersion: list.metadata?.resourceVersion,
          timeoutSeconds: 300,
          signal: options.signal,
        });
        for await (const event of events) if (event.type === 'ADDED' || event.type === 'MODIFIED') take(event.object);
      } catch (error) {
        if (options.signal.aborted) break;
        options.onError?.(error);
        await sleep(delay, options.signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  })();
  return { ready, done };
}
