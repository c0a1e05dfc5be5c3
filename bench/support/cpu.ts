/**
 * Where the CPU went during a benchmark phase: user + system CPU seconds of each
 * process of the control plane, the operator and the benchmark itself, from
 * `/proc/<pid>/stat`. On a 2-core machine this says whether a phase was bound by the
 * operator, the API server, etcd, or the controllers that make pods ready.
 *
 * Limitations: Linux only; assumes the usual 100 clock ticks per second; a process
 * that exits during the phase reports what it had used when last read.
 */
import { readFile } from 'node:fs/promises';

const TicksPerSecond = 100;

/** User + system CPU seconds used so far by `pid` (NaN when it cannot be read). */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TicksPerSecond; // utime, stime
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds per named process between `start()` and `stop()`. */
export class CpuMeter {
  private readonly processes: readonly { name: string; pid: number }[];
  private startedAt = 0;
  private before = new Map<string, number>();
  private selfBefore: NodeJS.CpuUsage = { user: 0, system: 0 };

  constructor(processes: readonly { name: string; pid: number }[]) {
    this.processes = processes;
  }

  async start(): Promise<void> {
    this.startedAt = performance.now();
    this.selfBefore = process.cpuUsage();
    this.before = new Map(await Promise.all(this.processes.map(async (p) => [p.name, await cpuSeconds(p.pid)] as const)));
  }

  /** One line per process: CPU seconds and share of one core over the phase's wall time. */
  async stop(): Promise<string> {
    const wall = (performance.now() - this.startedAt) / 1000;
    const rows: [string, number][] = [];
    for (const p of this.processes) rows.push([p.name, (await cpuSeconds(p.pid)) - (this.before.get(p.name) ?? Number.NaN)]);
    const self = process.cpuUsage(this.selfBefore);
    rows.push(['benchmark (this process)', (self.user + self.system) / 1e6]);
    rows.sort((a, b) => b[1] - a[1]);
    const total = rows.reduce((n, [, s]) => n + (Number.isFinite(s) ? s : 0), 0);
    return [
      ...rows.map(([name, s]) => `  ${name.padEnd(26)} ${s.toFixed(1).padStart(7)} CPU s  ${((s / wall) * 100).toFixed(0).padStart(4)} % of a core`),
      `  ${'all of the above'.padEnd(26)} ${total.toFixed(1).padStart(7)} CPU s over ${wall.toFixed(1)} s wall (${(total / wall).toFixed(2)} cores busy)`,
    ].join('\n');
  }
}
