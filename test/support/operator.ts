/**
 * Running the operator against the test cluster: in-process (a Manager with the
 * operator's ServiceAccount identity, for integration tests of one controller) or as a
 * real `manyfold operator` process (e2e, fencing, failover).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import type { ControllerSpec } from '../../src/runtime/controller.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { onLines } from '../../src/runtime/lines.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { Manager } from '../../src/runtime/manager.ts';

export interface RunningManager {
  readonly manager: Manager;
  /** Error-level log lines of the manager (for assertion messages). */
  readonly errors: string[];
  readonly client: KubeClient;
  /** Counter value from the manager's registry (summed over label sets matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** Starts a Manager in this process with the operator identity and the given controllers. */
export async function startManager(controllers: readonly ControllerSpec[], options: { leaderElect?: boolean; logLevel?: 'silent' | 'info' | 'debug' } = {}): Promise<RunningManager> {
  const client = await KubeClient.create({ kubeconfig: inject('operatorKubeconfig') });
  const errors: string[] = [];
  const level = options.logLevel ?? (process.env['MANYFOLD_TEST_LOG'] as 'debug' | undefined) ?? 'silent';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = chunk.toString('utf8');
      if (line.includes('"level":"error"') && errors.length < 100) errors.push(line.trim());
      if (level !== 'silent') process.stderr.write(line);
      done();
    },
  });
  const manager = new Manager({
    client,
    leaderElection: { enabled: options.leaderElect ?? false, namespace: 'manyfold-system', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
    log: createLogger({ level: level === 'silent' ? 'error' : level, destination }),
    drainTimeoutMs: 5000,
  });
  for (const spec of controllers) manager.addController(spec);
  const stop = new AbortController();
  const running = manager.start(stop.signal);
  for (let i = 0; i < 600 && !(manager.leading && manager.ready()); i++) await sleep(50);
  if (!manager.leading) throw new Error('the in-process manager did not start leading within 30 s');
  if (!manager.ready()) throw new Error(`the in-process manager's caches did not sync within 30 s: ${manager.unsynced().join(', ')}`);
  return {
    manager,
    errors,
    client,
    metric: async (name, labels = {}) => {
      const metric = manager.metrics.registry.getSingleMetric(name);
      if (!metric) return 0;
      const data = await metric.get();
      return data.values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((n, v) => n + v.value, 0);
    },
    stop: async () => {
      stop.abort();
      await running;
      await client.close();
    },
  };
}

export const binPath = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `predicate` (rejects after `timeoutMs`). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts `manyfold operator` as a child process with the operator identity. */
export function startOperatorProcess(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): OperatorProcess {
  const child = spawn(process.execPath, [binPath, 'operator', '--kubeconfig', inject('operatorKubeconfig'), '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  if (child.pid === undefined) throw new Error('could not start the operator process');
  const logs: Record<string, unknown>[] = [];
  const waiters: { predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  onLines(child.stdout, (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not JSON (a stack trace, say): ignore
    }
    if (logs.length < 100_000) logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.predicate(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[operator ${child.pid}] ${chunk.toString('utf8')}`));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    pid: child.pid,
    logs,
    waitForLog: (predicate, timeoutMs = 30_000) => {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`operator ${child.pid}: no matching log line within ${timeoutMs} ms`));
          }
        }, timeoutMs).unref();
      });
    },
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
