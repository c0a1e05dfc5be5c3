/**
 * The host state a real node changes, and how `dev down` puts it back: pure planning
 * from snapshots (`iptables-save` output, `/proc/self/mountinfo`, sysctl values,
 * which paths existed), plus the small shell that reads and writes them.
 *
 * Guarantees: {@link iptablesCleanup} only removes what was added since the snapshot,
 * and only rules and chains that belong to the node (`KUBE-*`, `MANYFOLD-*`, `CNI-*`
 * chains, or rules jumping to them), so rules another program added meanwhile stay;
 * {@link mountsUnder} lists mount points deepest first, so nested mounts come off
 * before their parents.
 *
 * Limitations: Linux only; iptables through the `iptables`/`ip6tables` commands (legacy
 * or nf_tables backend alike); a rule that existed before the snapshot and was deleted
 * since is not re-added.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The sysctls the kubelet sets at start (it wants panic on oops, overcommit allowed). */
export const KubeletSysctls = ['kernel/panic', 'kernel/panic_on_oops', 'vm/overcommit_memory'] as const;

/** Host paths the kubelet, containerd or the CNI plugins create whatever their configuration says. */
export const HostPaths = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/run/containerd',
  '/run/netns',
  '/etc/cni',
  '/opt/cni',
  '/opt/containerd',
  // A SensorFleet's default spool (a hostPath the kubelet creates).
  '/var/lib/manyfold',
] as const;

/** What the host looked like before the real node started. */
export interface HostSnapshot {
  readonly sysctls: Readonly<Record<string, string>>;
  readonly iptables: string;
  readonly ip6tables: string;
  /** Which of {@link HostPaths} existed. */
  readonly existing: readonly string[];
}

const OwnedChain = /^(KUBE-|MANYFOLD-|CNI-)/;

interface Table {
  readonly chains: Set<string>;
  readonly rules: string[];
}

/** Parses `iptables-save` output into tables of chain names and rule lines (`-A ...`). */
export function parseIptablesSave(text: string): Map<string, Table> {
  const tables = new Map<string, Table>();
  let current: Table | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (current && line.startsWith(':')) {
      current.chains.add(line.slice(1).split(' ')[0] ?? '');
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    }
  }
  return tables;
}

/** Splits an `iptables-save` rule line into arguments (double quotes group, `\"` escapes). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  let word = '';
  let quoted = false;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && quoted && line[i + 1] === '"') {
      word += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === ' ' && !quoted) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

function ruleTouchesOwned(args: readonly string[]): boolean {
  const chain = args[1] ?? '';
  const jump = args.indexOf('-j');
  const goto = args.indexOf('-g');
  const target = jump >= 0 ? args[jump + 1] : goto >= 0 ? args[goto + 1] : undefined;
  return OwnedChain.test(chain) || (target !== undefined && OwnedChain.test(target));
}

/**
 * The iptables commands (argument lists, without the binary) that undo what was added
 * between `before` and `after`: delete added owned rules, then flush and delete added
 * owned chains.
 */
export function iptablesCleanup(before: string, after: string): string[][] {
  const was = parseIptablesSave(before);
  const now = parseIptablesSave(after);
  const commands: string[][] = [];
  for (const [table, state] of now) {
    const old = was.get(table);
    const remaining = new Map<string, number>();
    for (const rule of old?.rules ?? []) remaining.set(rule, (remaining.get(rule) ?? 0) + 1);
    const newChains = [...state.chains].filter((c) => !old?.chains.has(c) && OwnedChain.test(c));
    for (const rule of state.rules) {
      const left = remaining.get(rule) ?? 0;
      if (left > 0) {
        remaining.set(rule, left - 1);
        continue;
      }
      const args = splitRule(rule);
      // Rules inside chains that go away entirely are removed by the flush below.
      if (newChains.includes(args[1] ?? '')) continue;
      if (ruleTouchesOwned(args)) commands.push(['-t', table, '-D', ...args.slice(1)]);
    }
    for (const chain of newChains) commands.push(['-t', table, '-F', chain]);
    for (const chain of newChains) commands.push(['-t', table, '-X', chain]);
  }
  return commands;
}

/** Decodes the octal escapes (`\040` for a space) of a mountinfo path. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points from `/proc/self/mountinfo` text at or under any of `prefixes`, deepest first. */
export function mountsUnder(mountinfo: string, prefixes: readonly string[]): string[] {
  const roots = prefixes.map((p) => p.replace(/\/+$/, ''));
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map(unescapeMountPath)
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)));
  // A path mounted twice is unmounted twice; deeper paths first, later mounts first.
  return points.map((p, i) => ({ p, i })).sort((a, b) => b.p.split('/').length - a.p.split('/').length || b.i - a.i).map((x) => x.p);
}

async function iptablesSave(binary: string): Promise<string> {
  try {
    return (await run(binary, [], { maxBuffer: 16 << 20 })).stdout;
  } catch {
    return '';
  }
}

/** Reads the host state the node may change. */
export async function snapshotHost(): Promise<HostSnapshot> {
  const sysctls: Record<string, string> = {};
  for (const key of KubeletSysctls) sysctls[key] = (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
  return {
    sysctls,
    iptables: await iptablesSave('iptables-save'),
    ip6tables: await iptablesSave('ip6tables-save'),
    existing: HostPaths.filter((p) => existsSync(p)),
  };
}

/** What {@link restoreHost} did, one line per change (for `dev down`'s log). */
export type RestoreLog = (line: string) => void;

/** Puts back the sysctls and removes the iptables rules and chains added since `snapshot`. */
export async function restoreSysctlsAndIptables(snapshot: HostSnapshot, log: RestoreLog): Promise<void> {
  for (const [key, value] of Object.entries(snapshot.sysctls)) {
    const path = `/proc/sys/${key}`;
    const now = (await readFile(path, 'utf8')).trim();
    if (now !== value) {
      await writeFile(path, value);
      log(`sysctl ${key.replace(/\//g, '.')}: ${now} -> ${value}`);
    }
  }
  for (const [binary, before] of [['iptables', snapshot.iptables], ['ip6tables', snapshot.ip6tables]] as const) {
    const after = await iptablesSave(`${binary}-save`);
    for (const args of iptablesCleanup(before, after)) {
      try {
        await run(binary, ['-w', '5', ...args]);
        if (args[2] === '-X') log(`${binary} -t ${args[1] ?? ''}: removed chain ${args[3] ?? ''}`);
      } catch (error) {
        log(`${binary} ${args.join(' ')} failed: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`);
      }
    }
  }
}

/** Unmounts every mount point under `prefixes` (deepest first; lazily when busy). */
export async function unmountUnder(prefixes: readonly string[], log: RestoreLog): Promise<number> {
  const points = mountsUnder(await readFile('/proc/self/mountinfo', 'utf8'), prefixes);
  for (const point of points) {
    try {
      await run('umount', [point]);
    } catch {
      await run('umount', ['-l', point]).catch((error: unknown) => log(`umount ${point} failed: ${String(error)}`));
    }
  }
  return points.length;
}
