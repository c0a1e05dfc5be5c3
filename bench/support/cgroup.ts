/**
 * A memory cgroup with a hard limit, to run a bench process as a container would run it
 * (the kubelet sets the container's `resources.limits.memory` as the cgroup's limit: at
 * it the kernel reclaims page cache, then the OOM killer ends the process).
 *
 * Works with cgroup v1 (a child of this process's `memory` cgroup; swap is limited to
 * the same figure when the kernel accounts it, as on a node without swap) and cgroup v2
 * (a child of this process's cgroup, which must have the `memory` controller in its
 * `cgroup.subtree_control`). Needs root. A process joins through {@link wrapCommand}:
 * a shell writes its own pid into the cgroup, then `exec`s the command, so the command
 * is charged from its first page and keeps the pid the caller spawned.
 *
 * Page cache is charged to the cgroup that first read it. A container's node binary is
 * a file of its image that no other process has read, so its pages count against the
 * container's limit; a bench process started from the node binary the bench itself runs
 * would not be charged for them. {@link privateCopy} gives each process a copy written
 * past the page cache, so its peak counts the binary's pages it touches, as a container's does.
 *
 * Limitations: `remove()` fails while a process is still inside.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const Root = '/sys/fs/cgroup';

/** One memory cgroup this bench made. */
export interface MemoryCgroup {
  readonly path: string;
  /** The file a process writes its pid into to join. */
  readonly procs: string;
  /** Highest usage so far, bytes (page cache included). */
  peakBytes(): number;
  /** Processes the OOM killer ended in this cgroup. */
  oomKills(): number;
  /** Times usage hit the limit (v1 `failcnt`, v2 `max` events): reclaim was forced. */
  limitHits(): number;
  /**
   * Usage now, bytes: the working set (usage less inactive file pages, what the kubelet
   * compares with the limit); anonymous memory (what reclaim cannot drop without swap);
   * page cache.
   */
  usage(): { workingSet: number; anon: number; cache: number };
  remove(): void;
}

/** The own cgroup path of this process for `controller` (v1) or the unified hierarchy (v2). */
function ownCgroup(controller: string | undefined): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controller === undefined ? controllers === '' : controllers?.split(',').includes(controller)) return path;
  }
  throw new Error(`this process has no ${controller ?? 'unified'} cgroup in /proc/self/cgroup`);
}

const readNumber = (file: string) => Number(readFileSync(file, 'utf8').trim());

function keyed(file: string, key: string): number {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key) return Number(value);
  }
  return 0;
}

/** Creates cgroup `name` limited to `limitBytes`; throws naming what is missing. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  if (existsSync(join(Root, 'cgroup.controllers'))) {
    const parent = join(Root, ownCgroup(undefined));
    const enabled = readFileSync(join(parent, 'cgroup.subtree_control'), 'utf8');
    if (!enabled.split(/\s+/).includes('memory')) throw new Error(`cgroup v2: the memory controller is not enabled in ${parent}/cgroup.subtree_control`);
    const path = join(parent, name);
    mkdirSync(path);
    writeFileSync(join(path, 'memory.max'), String(limitBytes));
    if (existsSync(join(path, 'memory.swap.max'))) writeFileSync(join(path, 'memory.swap.max'), '0');
    return {
      path,
      procs: join(path, 'cgroup.procs'),
      peakBytes: () => readNumber(join(path, 'memory.peak')),
      oomKills: () => keyed(join(path, 'memory.events'), 'oom_kill'),
      limitHits: () => keyed(join(path, 'memory.events'), 'max'),
      usage: () => {
        const total = readNumber(join(path, 'memory.current'));
        const stat = join(path, 'memory.stat');
        return { workingSet: total - keyed(stat, 'inactive_file'), anon: keyed(stat, 'anon'), cache: keyed(stat, 'file') };
      },
      remove: () => rmdirSync(path),
    };
  }
  const base = join(Root, 'memory');
  if (!existsSync(base)) throw new Error(`no memory cgroup controller under ${Root} (neither v2 nor v1 ${base})`);
  const path = join(base, ownCgroup('memory'), name);
  mkdirSync(path);
  writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
  if (existsSync(join(path, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(path, 'memory.memsw.limit_in_bytes'), String(limitBytes));
  return {
    path,
    procs: join(path, 'cgroup.procs'),
    peakBytes: () => readNumber(join(path, 'memory.max_usage_in_bytes')),
    oomKills: () => keyed(join(path, 'memory.oom_control'), 'oom_kill'),
    limitHits: () => readNumber(join(path, 'memory.failcnt')),
    usage: () => {
      const total = readNumber(join(path, 'memory.usage_in_bytes'));
      const stat = join(path, 'memory.stat');
      return { workingSet: total - keyed(stat, 'total_inactive_file'), anon: keyed(stat, 'total_rss'), cache: keyed(stat, 'total_cache') };
    },
    remove: () => rmdirSync(path),
  };
}

/** `command` as a shell that joins `cgroup` and then `exec`s it (same pid). */
export function wrapCommand(cgroup: MemoryCgroup, command: readonly string[]): { file: string; args: string[] } {
  return { file: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', cgroup.procs, ...command] };
}

/**
 * Copies `file` to `to` with `dd oflag=direct` (the copy's pages do not enter the page
 * cache), executable: the first process to run it is charged for the pages it reads.
 */
export function privateCopy(file: string, to: string): string {
  const copied = spawnSync('dd', [`if=${file}`, `of=${to}`, 'bs=1M', 'oflag=direct', 'status=none'], { encoding: 'utf8' });
  if (copied.status !== 0) throw new Error(`dd ${file} -> ${to} failed: ${copied.stderr}`);
  chmodSync(to, 0o755);
  return to;
}
