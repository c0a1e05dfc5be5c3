/**
 * `manyfold operator` as a child process for benchmarks: spawn it with the operator
 * kubeconfig and loopback endpoints, parse its pino JSON log lines (each stamped with
 * the `performance.now()` at which this process read it), wait for log events, read
 * its RSS from `/proc`, scrape `/metrics`, probe `/readyz`, and stop it by pid.
 *
 * Every process started here is recorded in a {@link ProcessSet}, whose `stopAll()`
 * the benchmark harness calls in its `finally`, so nothing outlives a run.
 *
 * Limitations: Linux only for RSS (`/proc/<pid>/status`); log timestamps are the time
 * a line was read here (pipe and event-loop delay included, usually well under 1 ms),
 * not pino's `time`. At most {@link MaxLogLines} parsed lines are kept per process
 * (the raw stream always goes to the log file); `droppedLines` counts the rest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { onLines } from '../../src/runtime/lines.ts';
import { wrapCommand, type MemoryCgroup } from './cgroup.ts';

/** Parsed log lines kept per process. */
export const MaxLogLines = 50_000;

const binPath = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));
const whatIfPath = fileURLToPath(new URL('./operator-main.ts', import.meta.url));

/** One pino log line plus the monotonic time (ms, `performance.now()`) it was read. */
export type LogLine = Record<string, unknown> & { readonly receivedAt: number };

export interface OperatorProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Parsed log lines so far (bounded by {@link MaxLogLines}). */
  readonly logs: readonly LogLine[];
  readonly droppedLines: number;
  /** Resolves once the process has exited (with its code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The Lease identity it campaigns with (from `operator_starting`), once logged. */
  identity(): string | undefined;
  /** `host:port` of `/readyz` and `/metrics` (from `endpoints_serving`), once logged. */
  addresses(): { probes?: string | undefined; metrics?: string | undefined };
  /**
   * The first line (already read or future) matching `predicate`; rejects after
   * `timeoutMs` (default 60,000), when `signal` aborts, or when the process exits first.
   */
  waitForLog(predicate: (line: LogLine) => boolean, options?: { timeoutMs?: number; signal?: AbortSignal; after?: number }): Promise<LogLine>;
  /** The process has not exited. */
  alive(): boolean;
  /** Sends `signal` to the pid (no-op after exit). */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs` (default 10,000); resolves after exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Processes a benchmark started; `stopAll` stops each by its pid. */
export class ProcessSet {
  private readonly running = new Set<OperatorProcess>();

  add(process: OperatorProcess): void {
    this.running.add(process);
    void process.exited.then(() => this.running.delete(process));
  }

  get size(): number {
    return this.running.size;
  }

  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all([...this.running].map((p) => p.stop(graceMs)));
  }
}

export interface StartOptions {
  readonly kubeconfig: string;
  /** Extra flags after the defaults (loopback endpoints on free ports). */
  readonly args?: readonly string[];
  /** File that receives the raw stdout and stderr. */
  readonly logFile: string;
  /** `NODE_OPTIONS` for the operator process (e.g. V8 heap flags); default: inherited. */
  readonly nodeOptions?: string | undefined;
  /** Node flags before the script (those `NODE_OPTIONS` refuses, e.g. `--optimize-for-size`). */
  readonly nodeArgs?: readonly string[] | undefined;
  /** Extra environment variables for the operator process (e.g. `MALLOC_ARENA_MAX`). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /**
   * When set, run the what-if entry point (`bench/support/operator-main.ts`: the Cell
   * controller alone, with this concurrency) instead of `manyfold operator`.
   */
  readonly cellConcurrency?: number | undefined;
  /** The node binary to run (default: this process's). */
  readonly node?: string | undefined;
  /** Run the process inside this memory cgroup (support/cgroup.ts), as a container's limit would. */
  readonly cgroup?: MemoryCgroup | undefined;
  readonly processes: ProcessSet;
}

/** Starts `node bin/manyfold.js operator` (or the what-if entry point) with this process's Node. */
export function startOperator(options: StartOptions): OperatorProcess {
  const entry = options.cellConcurrency === undefined ? [binPath, 'operator'] : [whatIfPath, '--cell-concurrency', String(options.cellConcurrency)];
  const args = [
    ...(options.nodeArgs ?? []),
    ...entry,
    '--kubeconfig',
    options.kubeconfig,
    '--metrics-bind-address',
    '127.0.0.1:0',
    '--health-probe-bind-address',
    '127.0.0.1:0',
    ...(options.args ?? []),
  ];
  const env = { ...process.env, ...(options.nodeOptions === undefined ? {} : { NODE_OPTIONS: options.nodeOptions }), ...(options.env ?? {}) };
  const node = options.node ?? process.execPath;
  const command = options.cgroup === undefined ? { file: node, args } : wrapCommand(options.cgroup, [node, ...args]);
  const child = spawn(command.file, command.args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (child.pid === undefined) throw new Error('could not start the operator process');
  const pid = child.pid;
  const raw: WriteStream = createWriteStream(options.logFile, { flags: 'w' });
  const logs: LogLine[] = [];
  let dropped = 0;
  let identity: string | undefined;
  const addresses: { probes?: string; metrics?: string } = {};
  const waiters = new Set<{ predicate: (l: LogLine) => boolean; after: number; resolve: (l: LogLine) => void }>();
  const onLine = (text: string, receivedAt: number) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return; // not JSON (a stack trace): it is in the raw log file
    }
    const line: LogLine = { ...parsed, receivedAt };
    if (line['event'] === 'operator_starting' && typeof line['identity'] === 'string') identity = line['identity'];
    if (line['event'] === 'endpoints_serving') {
      if (typeof line['probes'] === 'string') addresses.probes = line['probes'];
      if (typeof line['metrics'] === 'string') addresses.metrics = line['metrics'];
    }
    if (logs.length < MaxLogLines) logs.push(line);
    else dropped++;
    for (const w of [...waiters]) {
      if (receivedAt >= w.after && w.predicate(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => raw.write(chunk));
  onLines(child.stdout, (text) => onLine(text, performance.now()));
  child.stderr.on('data', (chunk: Buffer) => raw.write(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      raw.end();
      resolve({ code, signal });
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const operator: OperatorProcess = {
    pid,
    child,
    logs,
    get droppedLines() {
      return dropped;
    },
    exited,
    alive,
    identity: () => identity,
    addresses: () => addresses,
    waitForLog: (predicate, opts = {}) => {
      const after = opts.after ?? 0;
      const found = logs.find((l) => l.receivedAt >= after && predicate(l));
      if (found) return Promise.resolve(found);
      const timeoutMs = opts.timeoutMs ?? 60_000;
      return new Promise<LogLine>((resolve, reject) => {
        const cleanup = () => {
          waiters.delete(waiter);
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        };
        const waiter = {
          predicate,
          after,
          resolve: (l: LogLine) => {
            cleanup();
            resolve(l);
          },
        };
        const onAbort = () => {
          cleanup();
          reject(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`operator ${pid}: no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
        waiters.add(waiter);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return;
          cleanup();
          reject(new Error(`operator ${pid} exited (code ${code}, signal ${signal}) before the awaited log line`));
        });
      });
    },
    kill: (signal) => {
      if (alive()) child.kill(signal);
    },
    stop: async (graceMs = 10_000) => {
      if (!alive()) {
        await exited;
        return;
      }
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  options.processes.add(operator);
  return operator;
}

/** `VmRSS` and `VmHWM` (peak RSS) of `pid` in bytes, from `/proc/<pid>/status`. */
export async function readRss(pid: number): Promise<{ rss: number; peak: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resident memory of `pid` by kind of mapping, in bytes (from `/proc/<pid>/smaps`). */
export interface RssBreakdown {
  /** The brk heap: glibc malloc's main arena. */
  readonly brk: number;
  /** Anonymous mappings: V8's heap pages, malloc's thread arenas and other mmaps. */
  readonly anonymous: number;
  /** File-backed mappings: the node binary, shared libraries. */
  readonly files: number;
  /** Resident bytes of the five largest anonymous mappings, largest first. */
  readonly largestAnonymous: readonly number[];
}

/** Splits the RSS of `pid` into brk heap, anonymous and file-backed mappings. */
export async function rssBreakdown(pid: number): Promise<RssBreakdown> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  let brk = 0;
  let anonymous = 0;
  let files = 0;
  const anon: number[] = [];
  let kind: 'brk' | 'anon' | 'file' = 'anon';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const path = header[1] ?? '';
      kind = path === '[heap]' ? 'brk' : path === '' || path.startsWith('[') ? 'anon' : 'file';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const bytes = Number(rss[1]) * 1024;
    if (kind === 'brk') brk += bytes;
    else if (kind === 'file') files += bytes;
    else {
      anonymous += bytes;
      anon.push(bytes);
    }
  }
  return { brk, anonymous, files, largestAnonymous: anon.sort((a, b) => b - a).slice(0, 5) };
}

/**
 * Scrapes `http://<address>/metrics` into `name{labels}` -> value (the exposition
 * text's own spelling of the series, e.g. `workqueue_depth{name="cell",controller="cell"}`).
 */
export async function scrapeMetrics(address: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Sum of every series of metric `name` whose labels include all of `labels`. */
export function metricSum(metrics: ReadonlyMap<string, number>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const [series, value] of metrics) {
    const brace = series.indexOf('{');
    const seriesName = brace < 0 ? series : series.slice(0, brace);
    if (seriesName !== name) continue;
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

/** True when `GET http://<address>/readyz` answers 200. */
export async function isReady(address: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/readyz`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

/** Polls `/readyz` every 100 ms until it answers 200 (at most `timeoutMs`, default 60,000). */
export async function waitReady(operator: OperatorProcess, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const serving = await operator.waitForLog((l) => l['event'] === 'endpoints_serving', options);
  const address = typeof serving['probes'] === 'string' ? serving['probes'] : undefined;
  if (!address) throw new Error(`operator ${operator.pid} serves no probes`);
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  while (!(await isReady(address))) {
    options.signal?.throwIfAborted();
    if (performance.now() > deadline) throw new Error(`operator ${operator.pid} not ready within ${options.timeoutMs ?? 60_000} ms`);
    await sleep(100);
  }
}
