/**
 * Starting, watching and stopping the local control plane's processes.
 *
 * Each process runs detached, in its own process group, with stdout and stderr in a
 * log file, so it outlives the command that started it. A {@link ProcessRecord} keeps
 * its pid and binary; before signalling a pid we check that `/proc/<pid>/exe` is still
 * that binary, so a recycled pid is never killed.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessRecord {
  /** Component name, e.g. `kube-apiserver`. */
  readonly name: string;
  readonly pid: number;
  /** Absolute path of the executable. */
  readonly binary: string;
  readonly log: string;
  readonly startedAt: string;
  /** Arguments it was started with (so it can be restarted the same way). */
  readonly args: readonly string[];
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

/** Starts `binary args...` detached, logging to `log`; returns its record. */
export function startProcess(options: {
  name: string;
  binary: string;
  args: readonly string[];
  log: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): ProcessRecord {
  const fd = openSync(options.log, 'a');
  try {
    const child = spawn(options.binary, options.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.binary}`);
    child.on('error', () => undefined); // reported through isRunning()
    child.unref();
    return { name: options.name, pid: child.pid, binary: options.binary, log: options.log, startedAt: new Date().toISOString(), args: [...options.args] };
  } finally {
    closeSync(fd);
  }
}

/** True when the recorded pid is alive and still runs the recorded binary. */
export function isRunning(record: ProcessRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  try {
    const exe = readlinkSync(`/proc/${record.pid}/exe`).replace(/ \(deleted\)$/, '');
    return exe === record.binary;
  } catch {
    // No /proc (macOS): trust the pid.
    return process.platform !== 'linux';
  }
}

/** True while the pid exists at all (a zombie or an exiting process included). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Returns what
 * happened. Never signals a pid that no longer runs the recorded binary.
 */
export async function stopProcess(record: ProcessRecord, options: { graceMs?: number } = {}): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isRunning(record)) return 'not-running';
  const graceMs = options.graceMs ?? 10_000;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidExists(record.pid) || !isRunning(record)) return 'stopped';
    await sleep(50);
  }
  if (isRunning(record)) process.kill(record.pid, 'SIGKILL');
  for (let i = 0; i < 100 && pidExists(record.pid) && isRunning(record); i++) await sleep(50);
  return 'killed';
}

/** The last `lines` lines of a log file ('' when missing). Reads at most 64 KiB. */
export async function tailFile(path: string, lines = 30): Promise<string> {
  try {
    const size = (await stat(path)).size;
    const length = Math.min(size, 64 * 1024);
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** A component that did not come up; carries the tail of its log. */
export class StartError extends Error {
  override readonly name = 'StartError';
  readonly component: string;
  readonly logTail: string;
  readonly logFile: string;
  constructor(component: string, reason: string, logTail: string, logFile: string) {
    super(`${component} failed to start: ${reason}`);
    this.component = component;
    this.logTail = logTail;
    this.logFile = logFile;
  }
}

/**
 * Polls `ready()` until it returns true. Fails early, with the log tail, when the
 * process exits; fails after `timeoutMs` otherwise.
 */
export async function waitReady(
  record: ProcessRecord,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; what?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!isRunning(record)) {
      throw new StartError(record.name, 'the process exited', await tailFile(record.log), record.log);
    }
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(options.intervalMs ?? 200);
  }
  const reason = `not ${options.what ?? 'ready'} after ${Math.round(options.timeoutMs / 1000)} s${lastError ? ` (last error: ${lastError})` : ''}`;
  throw new StartError(record.name, reason, await tailFile(record.log), record.log);
}
