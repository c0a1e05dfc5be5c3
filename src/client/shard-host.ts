/**
 * `ShardHost`: what a Cell's process needs to serve its shards. Fed by a
 * {@link ShardRouter}, it tells the process which shards this Cell owns with their
 * epochs (the fencing token to pass with every write), which it must copy (joining),
 * and when it loses one; and it acknowledges hand-offs under `handoff: Acknowledged`.
 *
 * Ownership per shard, from the table: `serving` (listed among the replicas; `primary`
 * when first), `joining` (copy the data, then {@link ShardHost.acknowledge}), or gone.
 * A change calls the listeners with what was gained, what was lost (`fenced`: the table
 * lists this Cell as leaving at a higher epoch, so storage already rejects its old
 * epoch; `removed`: no longer listed at all) and what started joining.
 *
 * Acknowledgements are stored in one ConfigMap per (ShardMap, Cell),
 * `<shardmap>-acks-<cell>`, data `acks` = JSON `{"<shard>": <epoch>}` for the shards
 * this Cell is joining, written by server-side apply at most once per
 * `flushIntervalMs` (default 200 ms). Why there: the API server is what hosts can
 * already reach with their ServiceAccount (etcd is the operator's), and one object per
 * Cell bounds the write volume by Cells, not shards: a rebalance of 65,536 shards with
 * 1,000 moves in flight costs each receiving host a few writes per second however many
 * shards it acknowledges, instead of one object written per shard move, and the
 * object never holds more than the moves in flight to it. The operator watches these
 * ConfigMaps (label `manyfold.dev/shardmap-acks`) and advances the moves.
 *
 * Limitations: an acknowledgement means the process says it holds the data; the
 * library cannot check that; the host's ServiceAccount needs `get`/`patch`/`create` on
 * ConfigMaps in the namespace; acknowledgements not yet flushed are lost if the process
 * dies (the move times out and is retried).
 */
import type { KubeClient } from '../kube/client.ts';
import type { RoutingTable } from '../legos/placement/routing-table.ts';
import type { ShardRouter } from './shard-router.ts';

/** Label on acknowledgement ConfigMaps: the ShardMap they belong to. */
export const AckLabel = 'manyfold.dev/shardmap-acks';
/** Annotation on acknowledgement ConfigMaps: the Cell that wrote them. */
export const AckCellAnnotation = 'manyfold.dev/cell';
/** Name of the acknowledgement ConfigMap of `cell` for `shardMap`. */
export const ackConfigMapName = (shardMap: string, cell: string): string => `${shardMap}-acks-${cell}`;

/** A shard this Cell holds or is receiving. */
export interface OwnedShard {
  readonly shard: number;
  readonly epoch: number;
  readonly role: 'primary' | 'replica' | 'joining';
}

export interface ShardLoss {
  readonly shard: number;
  /** The epoch this Cell last held. */
  readonly epoch: number;
  readonly reason: 'fenced' | 'removed';
}

export interface OwnershipChange {
  readonly version: number;
  readonly gained: readonly OwnedShard[];
  readonly joining: readonly OwnedShard[];
  readonly lost: readonly ShardLoss[];
}

export interface ShardHostOptions {
  readonly router: ShardRouter;
  /** This process's Cell. */
  readonly cell: string;
  /** For acknowledgements: the ShardMap's namespace and a client (omit under handoff None). */
  readonly namespace?: string | undefined;
  readonly client?: KubeClient | undefined;
  /** Coalescing window of acknowledgement writes, ms. @default 200 */
  readonly flushIntervalMs?: number | undefined;
}

function ownedIn(table: RoutingTable, cell: string): Map<number, OwnedShard> {
  const owned = new Map<number, OwnedShard>();
  for (const e of table.entries) {
    const at = e.replicas.indexOf(cell);
    if (at >= 0) owned.set(e.shard, { shard: e.shard, epoch: e.epoch, role: at === 0 ? 'primary' : 'replica' });
    else if (e.joining.includes(cell)) owned.set(e.shard, { shard: e.shard, epoch: e.epoch, role: 'joining' });
  }
  return owned;
}

/** Ownership and hand-off acknowledgements of one Cell. */
export class ShardHost {
  readonly #options: ShardHostOptions;
  #owned = new Map<number, OwnedShard>();
  readonly #acks = new Map<number, number>();
  readonly #listeners = new Set<(change: OwnershipChange) => void>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #unsubscribe: () => void;

  constructor(options: ShardHostOptions) {
    this.#options = options;
    if (options.router.table) this.#observe(options.router.table);
    this.#unsubscribe = options.router.onChange((table) => this.#observe(table));
  }

  /** The shards this Cell serves or is receiving, by shard. */
  owned(): ReadonlyMap<number, OwnedShard> {
    return this.#owned;
  }

  /** The epoch to pass to storage for `shard`, or undefined when this Cell does not serve it. */
  epochOf(shard: number): number | undefined {
    const o = this.#owned.get(shard);
    return o && o.role !== 'joining' ? o.epoch : undefined;
  }

  onChange(listener: (change: OwnershipChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #observe(table: RoutingTable): void {
    const cell = this.#options.cell;
    const next = ownedIn(table, cell);
    const gained: OwnedShard[] = [];
    const joining: OwnedShard[] = [];
    const lost: ShardLoss[] = [];
    for (const [shard, o] of next) {
      const before = this.#owned.get(shard);
      if (o.role === 'joining') {
        if (before?.role !== 'joining') joining.push(o);
      } else if (!before || before.role === 'joining' || before.epoch !== o.epoch) gained.push(o);
    }
    for (const [shard, before] of this.#owned) {
      if (next.has(shard)) continue;
      const fenced = table.entries[shard]?.leaving.includes(cell) === true;
      lost.push({ shard, epoch: before.epoch, reason: fenced ? 'fenced' : 'removed' });
    }
    this.#owned = next;
    // Acknowledgements only matter while joining.
    for (const shard of [...this.#acks.keys()]) if (next.get(shard)?.role !== 'joining') this.#acks.delete(shard);
    if (gained.length + joining.length + lost.length === 0) return;
    const change = { version: table.version, gained, joining, lost };
    for (const listener of this.#listeners) listener(change);
  }

  /**
   * Acknowledges that this Cell holds `shard`'s data at `epoch` (the epoch of the table
   * entry that lists it as joining). Written within `flushIntervalMs`.
   */
  acknowledge(shard: number, epoch: number): void {
    if (!this.#options.client || this.#options.namespace === undefined) throw new Error('ShardHost: acknowledgements need a client and a namespace');
    this.#acks.set(shard, epoch);
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flushing = this.#flushing.then(() => this.flush()).catch(() => undefined);
    }, this.#options.flushIntervalMs ?? 200);
  }

  /** Writes the pending acknowledgements now. */
  async flush(): Promise<void> {
    const { client, namespace, router, cell } = this.#options;
    const name = router.table?.name;
    if (!client || namespace === undefined || name === undefined) return;
    const acks = Object.fromEntries([...this.#acks].sort((a, b) => a[0] - b[0]).map(([s, e]) => [String(s), e]));
    await client.apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ackConfigMapName(name, cell), namespace, labels: { [AckLabel]: name }, annotations: { [AckCellAnnotation]: cell } },
        data: { acks: JSON.stringify(acks) },
      },
      { fieldManager: `manyfold-shard-host`, force: true },
    );
  }

  /** Stops following the router and cancels a pending flush. */
  close(): void {
    this.#unsubscribe();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
  }
}
