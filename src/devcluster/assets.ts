/**
 * Finds the local control plane's binaries, building them once when none are found.
 *
 * Lookup order for each binary: `$KUBEBUILDER_ASSETS/<name>` (the layout envtest and
 * setup-envtest use), then the cache (`$MANYFOLD_CACHE`, default
 * `~/.cache/manyfold/bin/<component>-<version>/`). Anything still missing is built
 * from the Go module proxy by `scripts/build-control-plane.sh`, whose output is
 * streamed so a long first build shows progress.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Versions built when nothing is found: the newest releases that build with Go 1.26. */
export const Versions = {
  kubernetes: process.env['K8S_VERSION'] ?? 'v1.37.1',
  etcd: process.env['ETCD_VERSION'] ?? 'v3.6.16',
  kwok: process.env['KWOK_VERSION'] ?? 'v0.8.0',
} as const;

type Component = 'kubernetes' | 'etcd' | 'kwok';

const binaries = {
  etcd: 'etcd',
  kubeApiserver: 'kube-apiserver',
  kubeControllerManager: 'kube-controller-manager',
  kubeScheduler: 'kube-scheduler',
  kubectl: 'kubectl',
  kwok: 'kwok',
} as const;
type BinaryKey = keyof typeof binaries;

const componentOf: Record<BinaryKey, Component> = {
  etcd: 'etcd',
  kubeApiserver: 'kubernetes',
  kubeControllerManager: 'kubernetes',
  kubeScheduler: 'kubernetes',
  kubectl: 'kubernetes',
  kwok: 'kwok',
};

export type Assets = Record<BinaryKey, string> & {
  /** kwok's Stage definitions (node and pod lifecycle). */
  readonly kwokStages: string;
};

/** The cache root: `$MANYFOLD_CACHE`, else `$XDG_CACHE_HOME/manyfold`, else `~/.cache/manyfold`. */
export function cacheRoot(): string {
  return process.env['MANYFOLD_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'manyfold');
}

function cacheDirOf(component: Component): string {
  return join(cacheRoot(), 'bin', `${component}-${Versions[component]}`);
}

/** Whether `path` exists and this process may execute it. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function locate(key: BinaryKey): string | undefined {
  const name = binaries[key];
  const assets = process.env['KUBEBUILDER_ASSETS'];
  const candidates = [...(assets ? [join(assets, name)] : []), join(cacheDirOf(componentOf[key]), name)];
  return candidates.find(executable);
}

function locateStages(): string | undefined {
  const candidates = [
    ...(process.env['KUBEBUILDER_ASSETS'] ? [join(process.env['KUBEBUILDER_ASSETS'], 'kwok-stages.yaml')] : []),
    join(cacheDirOf('kwok'), 'stages.yaml'),
  ];
  return candidates.find((p) => existsSync(p));
}

/** What is missing, by component (empty when everything is in place). */
export function missingComponents(): Component[] {
  const missing = new Set<Component>();
  for (const key of Object.keys(binaries) as BinaryKey[]) if (!locate(key)) missing.add(componentOf[key]);
  if (!locateStages()) missing.add('kwok');
  return [...missing];
}

export const buildScript = fileURLToPath(new URL('../../scripts/build-control-plane.sh', import.meta.url));

/**
 * Returns every binary's path, building what is missing first.
 *
 * @param log receives progress lines while building
 * @throws when a build fails or `build` is false and something is missing
 */
export async function ensureAssets(options: { build?: boolean; log?: (line: string) => void } = {}): Promise<Assets> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = missingComponents();
  if (missing.length > 0) {
    if (options.build === false) {
      throw new Error(`control-plane binaries missing for: ${missing.join(', ')} (run ${buildScript})`);
    }
    log(
      `Building ${missing.join(', ')} from the Go module proxy into ${join(cacheRoot(), 'bin')}. ` +
        'This happens once; on 2 cores Kubernetes takes 20-40 minutes.',
    );
    const started = Date.now();
    await runBuild(missing, log);
    log(`Built ${missing.join(', ')} in ${formatDuration(Date.now() - started)}.`);
  }
  const out: Partial<Record<BinaryKey, string>> = {};
  for (const key of Object.keys(binaries) as BinaryKey[]) {
    const path = locate(key);
    if (!path) throw new Error(`${binaries[key]} still missing after the build; see the output above`);
    out[key] = path;
  }
  const kwokStages = locateStages();
  if (!kwokStages) throw new Error('kwok stages still missing after the build');
  return { ...(out as Record<BinaryKey, string>), kwokStages };
}

async function runBuild(components: readonly Component[], log: (line: string) => void): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [buildScript, ...components], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MANYFOLD_CACHE: cacheRoot(), K8S_VERSION: Versions.kubernetes, ETCD_VERSION: Versions.etcd, KWOK_VERSION: Versions.kwok },
    });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') log(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${buildScript} exited with ${code}`))));
  });
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
