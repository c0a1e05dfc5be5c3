/**
 * The ShardMap decider's view of its routing table: which table counts as published
 * (trusted, restored, or rebuilt), the routing ConfigMap and its last-good copy as
 * desired children, and per-Cell replica counts. Pure.
 *
 * Trust: the operator writes the table's SHA-256 into the ConfigMap's annotation
 * {@link ChecksumAnnotation}; a table whose content no longer matches it (edited by
 * hand), that cannot be decoded, or that is gone while status says one was published,
 * is replaced. The replacement is, in order: the last-good copy (below) when it is
 * intact and not older than what status says was published; else the table this
 * process last published (same checksum as status); else a table rebuilt by planning
 * from nothing, with every epoch set to the new version (above every epoch published
 * before, since a shard's epoch is the version that fenced it). Either way the version
 * goes up. A restored table raises, to the new version, the epoch of every shard whose
 * entry the hand edit had changed, so the epochs routers saw (the edited ones
 * included) only increase.
 *
 * Last-good copy: ConfigMap `<name>-routing-last-good`, same encoding, written with
 * every published version (before the routing ConfigMap, and both before status) and
 * rewritten whenever it is lost, edited or differs from the published table (not while
 * the cache merely lags this process's own write of it). It is what makes a restore
 * survive an operator failover: the old leader's memory is gone, status holds only the
 * version and checksum. Why a ConfigMap and not status: at 65,536 shards × 3 the table
 * is ~0.3 MB compressed (~0.4 MB in base64), and status is rewritten at every move step
 * and sent to every watcher of ShardMaps (Cells' drains among them); a second
 * ConfigMap is written only when the table changes, and stays well inside the object
 * size limits (1 MiB for a ConfigMap, ~1.5 MiB for an etcd request). Its trust anchor
 * is status: the copy is used only if its content matches its own checksum annotation
 * and its version is at least `status.routingVersion` (or its checksum is
 * `status.routingChecksum`).
 *
 * Limitations: an edit that also rewrites the annotation consistently is not detected;
 * if both ConfigMaps are lost or edited and no process remembers the table, a rebuilt
 * table can place shards elsewhere than before (reported as an event); publishing
 * writes the table twice (both ConfigMaps).
 */
import type { ChildObject, DesiredChild } from './decision.ts';
import { encodeTable, ROUTING_TABLE_KEY, type RoutingEntry, type RoutingTable } from '../legos/placement/routing-table.ts';
import type { MoveEntry } from './shardmap-move.ts';

/** Annotation with the SHA-256 of the table the operator wrote. */
export const ChecksumAnnotation = 'manyfold.dev/routing-checksum';
/** Annotation with the routing version (also in the table). */
export const VersionAnnotation = 'manyfold.dev/routing-version';
/** Label on the routing ConfigMap: the ShardMap it belongs to. */
export const ShardMapLabel = 'manyfold.dev/shardmap';

/** Name of the routing ConfigMap of ShardMap `name`. */
export const routingConfigMapName = (name: string): string => `${name}-routing`;
/** Name of the last-good copy of the routing table of ShardMap `name` (operator-owned). */
export const lastGoodConfigMapName = (name: string): string => `${name}-routing-last-good`;
/** Annotation naming the role of a ShardMap's ConfigMap: `routing` or `last-good`. */
export const RoleAnnotation = 'manyfold.dev/routing-role';

/** The routing ConfigMap as observed. */
export type ObservedTable =
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly message: string }
  | { readonly kind: 'valid'; readonly table: RoutingTable; readonly checksum: string; readonly annotatedChecksum: string | undefined };

/** What the decider starts from. */
export type Settled =
  | { readonly kind: 'trusted'; readonly table: RoutingTable }
  | { readonly kind: 'restored'; readonly table: RoutingTable; readonly why: string }
  | { readonly kind: 'rebuild'; readonly why: string | undefined };

/** Whether an observed table is intact: its content matches the checksum the operator wrote. */
const intact = (t: Extract<ObservedTable, { kind: 'valid' }>): boolean => t.annotatedChecksum === t.checksum;

/**
 * Decides which table counts as published: the routing ConfigMap when intact, else a
 * restore from the last-good copy or this process's memory, else a rebuild.
 */
export function settleTable(
  observed: ObservedTable,
  lastGood: ObservedTable,
  remembered: { readonly table: RoutingTable; readonly checksum: string } | undefined,
  status: { readonly routingVersion?: number | undefined; readonly routingChecksum?: string | undefined } | undefined,
): Settled {
  let why: string;
  if (observed.kind === 'valid') {
    if (intact(observed)) return { kind: 'trusted', table: observed.table };
    why = `routing ConfigMap edited by hand (checksum ${observed.checksum.slice(0, 12)} is not the ${(observed.annotatedChecksum ?? 'none').slice(0, 12)} the operator wrote)`;
  } else if (observed.kind === 'invalid') {
    why = `routing ConfigMap unreadable: ${observed.message}`;
  } else {
    if ((status?.routingVersion ?? 0) === 0) return { kind: 'rebuild', why: undefined }; // first publication
    why = 'routing ConfigMap deleted';
  }
  if (lastGood.kind === 'valid' && intact(lastGood) && (lastGood.checksum === status?.routingChecksum || lastGood.table.version >= (status?.routingVersion ?? 0))) {
    return { kind: 'restored', table: lastGood.table, why: `${why}; restored from ConfigMap ${lastGoodConfigMapName(lastGood.table.name)}` };
  }
  if (remembered && (status?.routingChecksum === undefined || remembered.checksum === status.routingChecksum)) return { kind: 'restored', table: remembered.table, why };
  return { kind: 'rebuild', why };
}

/**
 * The restored table fenced against what routers may have seen instead: every shard
 * whose entry in the hand-edited table differs from the restored one gets epoch
 * `epoch` (the new version, above every epoch either table holds). Tables of another
 * shape are not compared (routers could not have mixed them up shard by shard).
 */
export function fenceRestored(restored: RoutingTable, edited: RoutingTable | undefined, epoch: number): RoutingTable {
  if (edited === undefined || edited.shards !== restored.shards) return restored;
  let bumped = 0;
  const entries = restored.entries.map((e, s) => {
    const seen = edited.entries[s];
    if (seen !== undefined && sameEntry(moveEntryOf(seen), moveEntryOf(e))) return e;
    bumped++;
    return { ...e, epoch };
  });
  return bumped === 0 ? restored : { ...restored, entries };
}

/** The entry of a table as the move machine sees it. */
export const moveEntryOf = (e: RoutingEntry | undefined): MoveEntry => ({ replicas: e?.replicas ?? [], joining: e?.joining ?? [], leaving: e?.leaving ?? [], epoch: e?.epoch ?? 0 });

/** A routing entry from a move entry. */
export const routingEntryOf = (shard: number, e: MoveEntry): RoutingEntry => ({ shard, replicas: e.replicas, primary: e.replicas[0], epoch: e.epoch, joining: e.joining, leaving: e.leaving });

export function sameEntry(a: MoveEntry, b: MoveEntry): boolean {
  const eq = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.epoch === b.epoch && eq(a.replicas, b.replicas) && eq(a.joining, b.joining) && eq(a.leaving, b.leaving);
}

/** Replicas each Cell holds in a table: serving, joining or leaving (what a drain waits for). */
export function replicasByCell(table: RoutingTable | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of table?.entries ?? []) for (const c of [...e.replicas, ...e.joining, ...e.leaving]) counts.set(c, (counts.get(c) ?? 0) + 1);
  return counts;
}

/** The routing ConfigMap and its last-good copy for `table`, owned by the ShardMap. */
export function routingConfigMaps(
  owner: { readonly name: string; readonly namespace: string; readonly uid: string },
  table: RoutingTable,
): { routing: DesiredChild; lastGood: DesiredChild; checksum: string } {
  const encoded = encodeTable(table);
  const child = (name: string, role: string): DesiredChild => {
    const object: ChildObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: owner.namespace,
        labels: { [ShardMapLabel]: owner.name },
        annotations: { [ChecksumAnnotation]: encoded.checksum, [VersionAnnotation]: String(table.version), [RoleAnnotation]: role },
        ownerReferences: [{ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }],
      },
      data: { format: 'manyfold.dev/routing/v1', version: String(table.version), shards: String(table.shards), replicas: String(table.replicas), keyHash: table.keyHash },
      binaryData: { [ROUTING_TABLE_KEY]: encoded.binary },
    };
    return { key: `ConfigMap/${name}`, kind: 'ConfigMap', name, object };
  };
  return { routing: child(routingConfigMapName(owner.name), 'routing'), lastGood: child(lastGoodConfigMapName(owner.name), 'last-good'), checksum: encoded.checksum };
}
