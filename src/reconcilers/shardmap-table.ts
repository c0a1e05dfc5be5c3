/**
 * The ShardMap decider's view of its routing table: which table counts as published
 * (trusted, restored from the operator's memory, or rebuilt), the routing ConfigMap as
 * a desired child, and per-Cell replica counts. Pure.
 *
 * Trust: the operator writes the table's SHA-256 into the ConfigMap's annotation
 * {@link ChecksumAnnotation}; a table whose content no longer matches it (edited by
 * hand), that cannot be decoded, or that is gone while status says one was published,
 * is replaced: from the table this process last published when it has it (same
 * checksum as status), else rebuilt by planning from nothing, with every epoch set to
 * the new version (above every epoch published before, since a shard's epoch is the
 * version that fenced it). Either way the version goes up.
 *
 * Limitations: an edit that also rewrites the annotation consistently is not detected;
 * a rebuilt table can place shards elsewhere than before (reported as an event).
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

/** Decides which table counts as published. */
export function settleTable(
  observed: ObservedTable,
  remembered: { readonly table: RoutingTable; readonly checksum: string } | undefined,
  status: { readonly routingVersion?: number | undefined; readonly routingChecksum?: string | undefined } | undefined,
): Settled {
  let why: string;
  if (observed.kind === 'valid') {
    if (observed.annotatedChecksum === observed.checksum) return { kind: 'trusted', table: observed.table };
    why = `routing ConfigMap edited by hand (checksum ${observed.checksum.slice(0, 12)} is not the ${(observed.annotatedChecksum ?? 'none').slice(0, 12)} the operator wrote)`;
  } else if (observed.kind === 'invalid') {
    why = `routing ConfigMap unreadable: ${observed.message}`;
  } else {
    if ((status?.routingVersion ?? 0) === 0) return { kind: 'rebuild', why: undefined }; // first publication
    why = 'routing ConfigMap deleted';
  }
  if (remembered && (status?.routingChecksum === undefined || remembered.checksum === status.routingChecksum)) return { kind: 'restored', table: remembered.table, why };
  return { kind: 'rebuild', why };
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

/** The routing ConfigMap to apply for `table`, owned by the ShardMap. */
export function routingConfigMap(
  owner: { readonly name: string; readonly namespace: string; readonly uid: string },
  table: RoutingTable,
): { child: DesiredChild; checksum: string } {
  const encoded = encodeTable(table);
  const name = routingConfigMapName(owner.name);
  const object: ChildObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: owner.namespace,
      labels: { [ShardMapLabel]: owner.name },
      annotations: { [ChecksumAnnotation]: encoded.checksum, [VersionAnnotation]: String(table.version) },
      ownerReferences: [{ apiVersion: 'manyfold.dev/v1alpha1', kind: 'ShardMap', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }],
    },
    data: { format: 'manyfold.dev/routing/v1', version: String(table.version), shards: String(table.shards), replicas: String(table.replicas), keyHash: table.keyHash },
    binaryData: { [ROUTING_TABLE_KEY]: encoded.binary },
  };
  return { child: { key: `ConfigMap/${name}`, kind: 'ConfigMap', name, object }, checksum: encoded.checksum };
}
