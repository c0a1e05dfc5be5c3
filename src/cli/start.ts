/**
 * `manyfold start` (what `npm start` runs): the main job.
 *
 * When the current kubeconfig answers, it works against that cluster. Otherwise it
 * brings up the embedded local control plane and works there. Then it shows a live
 * status view until interrupted; a local control plane it started is stopped again
 * on Ctrl-C (one started separately with `manyfold dev up` is left running).
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultDir, down, formatStatus, isUp, readState, status, up } from '../devcluster/cluster.ts';
import { StartError } from '../devcluster/processes.ts';
import { KubeClient } from '../runtime/kube/client.ts';

const usage = `Usage: manyfold start [--local] [--once] [--nodes N]

  --local     use the embedded local control plane even when a kubeconfig answers
  --once      print the status once and exit instead of the live view
  --nodes N   fake nodes for the local control plane (default 3)`;

/** The current kubeconfig's server when it answers /readyz within 3 s. */
async function reachableCluster(): Promise<string | undefined> {
  try {
    const client = await KubeClient.create();
    try {
      const ready = await client.requestText('/readyz', { timeoutMs: 3000 });
      return ready.trim() === 'ok' ? client.server : undefined;
    } finally {
      await client.close();
    }
  } catch {
    return undefined;
  }
}

export async function runStart(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      local: { type: 'boolean' },
      once: { type: 'boolean' },
      nodes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const external = values.local ? undefined : await reachableCluster();
  if (external) {
    process.stdout.write(`Using the cluster of the current kubeconfig: ${external}\n`);
    return 0;
  }
  const dir = defaultDir();
  const before = await readState(dir);
  const wasRunning = before !== undefined && isUp(before);
  try {
    await up({ dir, nodes: values.nodes === undefined ? undefined : Number(values.nodes) });
  } catch (error) {
    if (error instanceof StartError) {
      process.stderr.write(`\n${error.message}\n--- last lines of ${error.logFile} ---\n${error.logTail}\n`);
      return 1;
    }
    throw error;
  }
  if (values.once) {
    process.stdout.write(`${formatStatus(await status({ dir }))}\n`);
    return 0;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.write(
    wasRunning
      ? 'Live status (Ctrl-C exits; the control plane keeps running: stop it with npx manyfold dev down)\n'
      : 'Live status (Ctrl-C stops the local control plane; npx manyfold dev up keeps one in the background)\n',
  );
  while (!stop.signal.aborted) {
    const text = formatStatus(await status({ dir }));
    if (process.stdout.isTTY) process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${text}\n`);
    else process.stdout.write(`${new Date().toISOString()}\n${text}\n`);
    await sleep(process.stdout.isTTY ? 2000 : 15_000, undefined, { signal: stop.signal }).catch(() => undefined);
  }
  if (!wasRunning) await down({ dir });
  return 0;
}
