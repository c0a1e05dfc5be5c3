/**
 * One Prometheus instant query, reduced to one number or a reason why not: what a
 * Rollout analysis measures. `GET <address>/api/v1/query?query=...`.
 *
 * Outcomes: `{ value }` for a scalar or a vector of exactly one series; `{ error }` when
 * Prometheus is unreachable, answers an error, returns no series ("no data"), several
 * series (the message says to aggregate), or a value that is not a number (NaN, ±Inf).
 *
 * Sent with Node's own `http`/`https` (kube/transport.ts), not `fetch`: `fetch`'s HTTP
 * parser is WebAssembly, which the operator's `--lite-mode` disables.
 *
 * Limitations: no authentication headers; the timeout bounds the whole request; a
 * connection per query (queries are seconds apart).
 */
import { HttpTransport } from '../kube/transport.ts';

export type QueryResult = { readonly value: number } | { readonly error: string };

interface PromResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

/** Runs `query` against `address` (http(s)://host:port[/prefix]). Never throws. */
export async function queryPrometheus(address: string, query: string, options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {}): Promise<QueryResult> {
  const url = `${address.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const signals = [AbortSignal.timeout(options.timeoutMs ?? 5000), ...(options.signal ? [options.signal] : [])];
  let body: PromResponse;
  const transport = new HttpTransport({ tls: {}, maxSockets: 1 });
  try {
    const response = await transport.send(new URL(url), { method: 'GET', headers: { Accept: 'application/json' }, signal: AbortSignal.any(signals) });
    body = JSON.parse(await response.text()) as PromResponse;
    if (!response.ok && body.status !== 'error') return { error: `Prometheus answered HTTP ${response.status}` };
  } catch (error) {
    return { error: `Prometheus unreachable at ${address}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}` };
  } finally {
    transport.close();
  }
  if (body.status !== 'success') return { error: `Prometheus refused the query: ${body.error ?? 'unknown error'}` };
  const { resultType, result } = body.data ?? {};
  let raw: unknown;
  if (resultType === 'scalar') raw = (result as unknown[] | undefined)?.[1];
  else if (resultType === 'vector') {
    const series = (result ?? []) as { value?: unknown[] }[];
    if (series.length === 0) return { error: 'the query returned no data (an empty vector); check the metric exists, or wrap it with sum() or vector(0)' };
    if (series.length > 1) return { error: `the query returned ${series.length} series; aggregate it to one (sum, max, avg)` };
    raw = series[0]?.value?.[1];
  } else return { error: `the query returned a ${resultType ?? 'missing'} result; it must return a scalar or one series` };
  const value = typeof raw === 'string' ? Number(raw) : Number.NaN;
  return Number.isFinite(value) ? { value } : { error: `the query returned ${String(raw)}, not a finite number` };
}
