/**
 * Counting the operator's writes from the API server's side. The local control plane
 * writes an audit log (`logs/audit.log`, JSON lines, metadata level) of every create,
 * update, patch and delete made by the operator's ServiceAccount; this module tallies
 * them by verb, resource, subresource and response code, optionally within one
 * namespace and a wall-clock window, so a benchmark can say how many API writes each
 * unit of work cost.
 *
 * Limitations: reads the whole file (it rotates at 200 MB; a longer run would lose
 * the rotated part); only the operator's identity is audited, so writes by the
 * benchmark's admin client do not appear.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

interface AuditEvent {
  verb?: string;
  stageTimestamp?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string };
  responseStatus?: { code?: number };
}

/** `verb resource[/subresource] code` -> count, for the operator's writes. */
export async function auditCounts(clusterDir: string, options: { namespace?: string; fromMs?: number; toMs?: number } = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const lines = createInterface({ input: createReadStream(join(clusterDir, 'logs', 'audit.log'), 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    let event: AuditEvent;
    try {
      event = JSON.parse(line) as AuditEvent;
    } catch {
      continue;
    }
    const ref = event.objectRef ?? {};
    if (options.namespace !== undefined && ref.namespace !== options.namespace) continue;
    const at = Date.parse(event.stageTimestamp ?? '');
    if (options.fromMs !== undefined && at < options.fromMs) continue;
    if (options.toMs !== undefined && at > options.toMs) continue;
    const key = `${event.verb ?? '?'} ${ref.resource ?? '?'}${ref.subresource ? `/${ref.subresource}` : ''} ${event.responseStatus?.code ?? '?'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Renders counts as `count  key` lines, largest first, each also per `unit` (e.g. per Cell). */
export function formatCounts(counts: ReadonlyMap<string, number>, per: { unit: string; n: number }): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const rows = [...counts].sort((a, b) => b[1] - a[1]).map(([key, n]) => `  ${String(n).padStart(7)}  ${(n / per.n).toFixed(2).padStart(6)} per ${per.unit}  ${key}`);
  return [...rows, `  ${String(total).padStart(7)}  ${(total / per.n).toFixed(2).padStart(6)} per ${per.unit}  (all operator writes)`].join('\n');
}
