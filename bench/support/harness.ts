/**
 * The frame every cluster benchmark runs in: print the machine context, start a
 * control plane of its own in `.manyfold/bench-<name>` (never the dev or test
 * clusters), install Manyfold's manifests, run the body, and in a `finally` run the
 * body's disposers, stop every process it started (by pid) and stop the control plane.
 *
 * SIGINT/SIGTERM abort the context's `signal`; the body's waits honour it, so an
 * interrupted run still cleans up. A cluster left running in the directory by an
 * earlier crashed run is stopped first, so each run starts from empty etcd.
 *
 * Limitations: one benchmark per directory at a time; the control plane's own start
 * (30-60 s) is not part of any figure.
 */
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { down, readState, up, type ClusterState } from '../../src/devcluster/cluster.ts';
import { install } from '../../src/devcluster/install.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { isAlreadyExists } from '../../src/kube/errors.ts';
import { Resources } from '../../src/kube/resources.ts';
import { ProcessSet } from './operator.ts';

const stateRoot = fileURLToPath(new URL('../../.manyfold/', import.meta.url));

export interface BenchContext {
  /** The control plane's state directory (`.manyfold/bench-<name>`). */
  readonly dir: string;
  readonly cluster: ClusterState;
  /** Admin client (system:masters). */
  readonly admin: KubeClient;
  /** Aborts on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Operator processes started by the body; stopped in the harness's `finally`. */
  readonly processes: ProcessSet;
  log(line: string): void;
  /** Registers cleanup run after the body (last registered runs first). */
  defer(dispose: () => Promise<void> | void): void;
  /** Creates a namespace (ignores AlreadyExists). */
  namespace(name: string): Promise<void>;
}

/** CPU, memory, Node and load figures for the report header. */
export function machineContext(): string {
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return [
    `date       ${new Date().toISOString()}`,
    `cpu        ${cpu.length} x ${cpu[0]?.model ?? 'unknown'}`,
    `memory     ${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free`,
    `node       ${process.version} (kernel ${release()})`,
    `load avg   ${load} (1/5/15 min; > ${cpu.length} means other work competes for the cores)`,
  ].join('\n');
}

/** Runs `body` against a fresh control plane; returns the process exit code (0 or 1). */
export async function runBench(options: { name: string; title: string; nodes: number }, body: (ctx: BenchContext) => Promise<void>): Promise<number> {
  if (!/^[a-z0-9-]+$/.test(options.name)) throw new Error(`bad benchmark name '${options.name}'`);
  const dir = join(stateRoot, `bench-${options.name}`);
  const stop = new AbortController();
  const onSignal = (name: string) => () => stop.abort(new Error(`interrupted by ${name}`));
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const log = (line: string) => process.stderr.write(`[${options.name} ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const disposers: (() => Promise<void> | void)[] = [];
  const processes = new ProcessSet();
  let admin: KubeClient | undefined;
  console.log(`# ${options.title}\n`);
  console.log(machineContext());
  console.log('');
  try {
    if (await readState(dir)) {
      log(`stopping a control plane left in ${dir} by an earlier run`);
      await down({ dir, log });
    }
    const started = performance.now();
    const cluster = await up({ dir, nodes: options.nodes, log });
    const client = await KubeClient.create({ kubeconfig: cluster.kubeconfig });
    admin = client;
    await install(client);
    log(`control plane (${options.nodes} kwok node(s)) up and Manyfold installed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    stop.signal.throwIfAborted();
    await body({
      dir,
      cluster,
      admin: client,
      signal: stop.signal,
      processes,
      log,
      defer: (dispose) => disposers.push(dispose),
      namespace: async (name) => {
        try {
          await client.create(Resources.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
        } catch (error) {
          if (!isAlreadyExists(error)) throw error;
        }
      },
    });
    console.log(`\nload avg at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return 0;
  } catch (error) {
    console.error(`\n${options.name} benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    for (const dispose of disposers.reverse()) {
      try {
        await dispose();
      } catch (error) {
        log(`cleanup step failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await processes.stopAll();
    await admin?.close();
    await down({ dir, log });
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
