/**
 * Batches: which spooled records go out together, and their wire forms. Pure.
 *
 * Payloads are the spooled sample JSON (`decode.ts`), copied byte for byte into the
 * body, never re-parsed. Every batch names the fleet, the node and each record's
 * sequence number, which together identify a sample uniquely: delivery is
 * at-least-once, and a sink dedupes on `(fleet, node, seq)`.
 *
 * HTTP body:
 * `{"fleet":{"namespace","name","uid"?},"node","firstOffset","lastOffset","firstSeq","lastSeq","count","records":[<sample>...]}`.
 * JSON lines (stdout and file sinks): one `{"fleet":"<ns>/<name>","node","offset","sample":<sample>}` per record.
 *
 * Limitations: a batch is at most `maxRecords` records and about `maxBytes` of payload
 * (one record always fits, so a single record larger than `maxBytes` goes alone).
 */
import type { SpoolRecord } from '../legos/spool/index.ts';
import type { FleetIdentity, SinkDefinition } from './config.ts';
import type { BatchRef } from './forwarder-machine.ts';

/** A batch on its way to the sink. */
export interface OutboundBatch {
  readonly ref: BatchRef;
  readonly records: readonly SpoolRecord[];
  readonly fleet: FleetIdentity;
  readonly node: string;
}

/** Bounds of one batch. */
export interface BatchLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

const MiB = 1024 * 1024;

/** The batch bounds for a sink: HTTP uses its `batchSize`; stdout and file take up to 1000 records. All cap payload at 4 MiB. */
export function batchLimits(sink: SinkDefinition): BatchLimits {
  return { maxRecords: sink.type === 'http' ? sink.batchSize : 1000, maxBytes: 4 * MiB };
}

/** A batch from records read in offset order (non-empty). */
export function toBatch(records: readonly SpoolRecord[], fleet: FleetIdentity, node: string): OutboundBatch {
  const first = records[0];
  const last = records.at(-1);
  if (first === undefined || last === undefined) throw new RangeError('toBatch: no records');
  let bytes = 0;
  for (const r of records) bytes += r.payload.length;
  return { ref: { firstOffset: first.offset, lastOffset: last.offset, count: records.length, bytes }, records, fleet, node };
}

/**
 * How long the forwarder lingers after being woken by new records before it reads, so
 * a trickle of samples goes out in fewer, fuller batches. No lingering when the last
 * batch was full (there is a backlog) or while draining.
 */
export function lingerBeforeRead(options: { readonly lastBatchFull: boolean; readonly draining: boolean; readonly lingerMs: number }): number {
  return options.lastBatchFull || options.draining ? 0 : Math.max(0, options.lingerMs);
}

function fleetJson(fleet: FleetIdentity): string {
  return JSON.stringify(fleet.uid === undefined ? { namespace: fleet.namespace, name: fleet.name } : { namespace: fleet.namespace, name: fleet.name, uid: fleet.uid });
}

/** The HTTP body of a batch (see the module header). */
export function encodeJsonBatch(batch: OutboundBatch): Buffer {
  const firstSeq = batch.records[0]?.sequence ?? null;
  const lastSeq = batch.records.at(-1)?.sequence ?? null;
  const head = Buffer.from(
    `{"fleet":${fleetJson(batch.fleet)},"node":${JSON.stringify(batch.node)},"firstOffset":${batch.ref.firstOffset},"lastOffset":${batch.ref.lastOffset},` +
      `"firstSeq":${firstSeq},"lastSeq":${lastSeq},"count":${batch.ref.count},"records":[`,
  );
  const parts: Buffer[] = [head];
  const comma = Buffer.from(',');
  batch.records.forEach((record, i) => {
    if (i > 0) parts.push(comma);
    parts.push(record.payload);
  });
  parts.push(Buffer.from(']}'));
  return Buffer.concat(parts);
}

/** The JSON lines of a batch (see the module header), newline-terminated. */
export function encodeJsonLines(batch: OutboundBatch): Buffer {
  const prefix = `{"fleet":${JSON.stringify(`${batch.fleet.namespace}/${batch.fleet.name}`)},"node":${JSON.stringify(batch.node)},"offset":`;
  const parts: Buffer[] = [];
  const close = Buffer.from('}\n');
  for (const record of batch.records) {
    parts.push(Buffer.from(`${prefix}${record.offset},"sample":`), record.payload, close);
  }
  return Buffer.concat(parts);
}
