/**
 * Figures for benchmark output: nearest-rank percentiles over a sample, and the
 * result table every benchmark prints (metric, value, target, met?).
 *
 * Limitations: percentiles are nearest-rank over the whole sample (no interpolation),
 * so with 20 samples p99 is the maximum; say so when quoting it.
 */

/** Summary of a sample in the sample's own unit. */
export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile `p` (0-100) of an ascending `sorted` sample; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** Summarizes `samples` (any order). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean,
  };
}

/** `1234.5` ms as `1.23 s` (>= 1 s) or `12.3 ms`. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : 'n/a';
}

/** One row of the result table; `met` undefined means "no target" (printed as `-`). */
export interface Row {
  readonly metric: string;
  readonly value: string;
  readonly target?: string | undefined;
  readonly met?: boolean | undefined;
}

/** Renders rows as a fixed-width table with a header. */
export function table(rows: readonly Row[]): string {
  const cells = rows.map((r) => [r.metric, r.value, r.target ?? '-', r.met === undefined ? '-' : r.met ? 'yes' : 'NO']);
  const header = ['metric', 'value', 'target', 'met?'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]) => c.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Runs `work` over `items` with at most `limit` calls in flight; rejects on the first failure. */
export async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await work(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  await Promise.all(workers);
}

/** A uniformly shuffled copy of `items` (Fisher-Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
