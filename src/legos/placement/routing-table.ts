/**
 * The routing table of a ShardMap: for every shard its serving Cells (primary first),
 * its epoch (the fencing token its hosts pass to storage), and the Cells joining or
 * leaving it during a move. Encoded for the routing ConfigMap and decoded by the
 * client library; pure (compression and hashing are computations, not I/O).
 *
 * Encoding `manyfold.dev/routing/v1`: canonical JSON `{format, name, version, shards,
 * replicas, keyHash, cells, serving, epochs, joining, leaving}` where `cells` lists the
 * Cell names once, `serving` is `shards × replicas` indices into `cells` (−1 where a
 * replica is missing), `epochs` one integer per shard, and `joining` / `leaving` are
 * `[shard, cell index]` pairs; gzip-compressed into binaryData `table.json.gz`. The
 * checksum is the SHA-256 of the JSON (hex): the operator compares it with the one in
 * status to detect a hand-edited table.
 *
 * Size: 65,536 shards × 3 over 1,000 Cells is about 1.1 MB of JSON and 0.3 MB
 * compressed, within the ConfigMap limit (1 MiB).
 *
 * Limitations: one ConfigMap, so about 200,000 shard replicas at most; epochs are
 * JavaScript safe integers.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { KEY_HASH_NAME } from './key-hash.ts';

export const ROUTING_FORMAT = 'manyfold.dev/routing/v1';
/** binaryData key of the compressed table. */
export const ROUTING_TABLE_KEY = 'table.json.gz';

/** One shard's entry. */
export interface RoutingEntry {
  readonly shard: number;
  /** Serving Cells, primary first. */
  readonly replicas: readonly string[];
  /** `replicas[0]`, or undefined when the shard has none. */
  readonly primary: string | undefined;
  /** Fencing token of the shard's current replica set; only increases. */
  readonly epoch: number;
  /** Cells copying the shard (not serving yet). */
  readonly joining: readonly string[];
  /** Cells whose epoch is superseded (fenced), listed until they are removed. */
  readonly leaving: readonly string[];
}

/** A decoded routing table. */
export interface RoutingTable {
  /** ShardMap name. */
  readonly name: string;
  readonly version: number;
  readonly shards: number;
  readonly replicas: number;
  readonly keyHash: string;
  /** `entries[s]` for shard `s`. */
  readonly entries: readonly RoutingEntry[];
}

interface Encoded {
  format: string;
  name: string;
  version: number;
  shards: number;
  replicas: number;
  keyHash: string;
  cells: string[];
  serving: number[];
  epochs: number[];
  joining: [number, number][];
  leaving: [number, number][];
}

/** The canonical JSON of a table (cells in order of first appearance). */
export function canonicalJson(table: Omit<RoutingTable, 'keyHash'>): string {
  const cells: string[] = [];
  const index = new Map<string, number>();
  const id = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      i = cells.length;
      index.set(name, i);
      cells.push(name);
    }
    return i;
  };
  const serving: number[] = [];
  const epochs: number[] = [];
  const joining: [number, number][] = [];
  const leaving: [number, number][] = [];
  for (let s = 0; s < table.shards; s++) {
    const e = table.entries[s];
    for (let k = 0; k < table.replicas; k++) {
      const name = e?.replicas[k];
      serving.push(name === undefined ? -1 : id(name));
    }
    epochs.push(e?.epoch ?? 0);
    for (const c of e?.joining ?? []) joining.push([s, id(c)]);
    for (const c of e?.leaving ?? []) leaving.push([s, id(c)]);
  }
  const encoded: Encoded = { format: ROUTING_FORMAT, name: table.name, version: table.version, shards: table.shards, replicas: table.replicas, keyHash: KEY_HASH_NAME, cells, serving, epochs, joining, leaving };
  return JSON.stringify(encoded);
}

/** SHA-256 (hex) of a table's canonical JSON. */
export function checksumOf(json: string): string {
  return createHash('sha256').update(json).digest('hex');
}

/** ConfigMap payload of a table: binaryData (base64) and the checksum. */
export function encodeTable(table: Omit<RoutingTable, 'keyHash'>): { binary: string; checksum: string; json: string } {
  const json = canonicalJson(table);
  return { binary: gzipSync(json, { level: 6 }).toString('base64'), checksum: checksumOf(json), json };
}

/** Thrown for a table that cannot be decoded or breaks the format. */
export class RoutingTableError extends Error {
  override readonly name = 'RoutingTableError';
}

/** Decodes binaryData `table.json.gz` (base64); verifies the shape. */
export function decodeTable(base64: string): { table: RoutingTable; checksum: string } {
  let json: string;
  try {
    json = gunzipSync(Buffer.from(base64, 'base64')).toString('utf8');
  } catch (error) {
    throw new RoutingTableError(`routing table is not gzip: ${(error as Error).message}`);
  }
  return { table: parseTableJson(json), checksum: checksumOf(json) };
}

/** Parses and checks the canonical JSON. */
export function parseTableJson(json: string): RoutingTable {
  let raw: Encoded;
  try {
    raw = JSON.parse(json) as Encoded;
  } catch (error) {
    throw new RoutingTableError(`routing table is not JSON: ${(error as Error).message}`);
  }
  if (raw.format !== ROUTING_FORMAT) throw new RoutingTableError(`unknown routing table format ${String(raw.format)}`);
  const { shards, replicas, cells, serving, epochs } = raw;
  if (!Number.isInteger(shards) || !Number.isInteger(replicas) || shards < 1 || replicas < 1) throw new RoutingTableError('shards and replicas must be positive integers');
  if (!Array.isArray(cells) || !Array.isArray(serving) || serving.length !== shards * replicas || !Array.isArray(epochs) || epochs.length !== shards) {
    throw new RoutingTableError('routing table arrays do not match shards × replicas');
  }
  const cell = (i: number): string => {
    const name = cells[i];
    if (name === undefined) throw new RoutingTableError(`cell index ${i} out of range`);
    return name;
  };
  const joining = new Map<number, string[]>();
  const leaving = new Map<number, string[]>();
  for (const [s, i] of raw.joining ?? []) joining.set(s, [...(joining.get(s) ?? []), cell(i)]);
  for (const [s, i] of raw.leaving ?? []) leaving.set(s, [...(leaving.get(s) ?? []), cell(i)]);
  const entries: RoutingEntry[] = new Array<RoutingEntry>(shards);
  for (let s = 0; s < shards; s++) {
    const names: string[] = [];
    for (let k = 0; k < replicas; k++) {
      const i = serving[s * replicas + k] as number;
      if (i >= 0) names.push(cell(i));
    }
    entries[s] = Object.freeze({ shard: s, replicas: Object.freeze(names), primary: names[0], epoch: epochs[s] as number, joining: joining.get(s) ?? [], leaving: leaving.get(s) ?? [] });
  }
  return { name: String(raw.name), version: raw.version, shards, replicas, keyHash: raw.keyHash, entries };
}
