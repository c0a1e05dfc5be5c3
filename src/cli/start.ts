/**
 * `manyfold start` (what `npm start` runs): the main job.
 *
 * - When the current kubeconfig answers, it installs Manyfold there (CRDs, RBAC, the
 *   operator config and the fencing policy) and runs the operator against it under the
 *   operator's ServiceAccount (a token from the TokenRequest API), so the same RBAC and
 *   fencing apply as in-cluster. Examples are applied only with `--examples`.
 * - Otherwise it brings up the embedded local control plane (`manyfold dev up`),
 *   installs Manyfold, applies `examples/` into the namespace `manyfold-examples`, labels
 *   one fake node `manyfold.dev/edge=true` so that the example SensorFleet has a node to
 *   run on, and runs the operator there. A user's own nodes are never labelled.
 * Then it shows a live status view of every Manyfold resource until Ctrl-C, which stops
 * the operator (drained, Lease released) and a local control plane it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ManyfoldResources } from '../crds/index.ts';
import { defaultDir, down, isUp, readState, up, writeOperatorKubeconfig, type ClusterState } from '../devcluster/cluster.ts';
import { deployDir, install, readManifests } from '../devcluster/install.ts';
import { StartError } from '../devcluster/processes.ts';
import { KubeClient } from '../kube/client.ts';
import { isAlreadyExists } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { onLines } from '../runtime/lines.ts';
import { renderStatus } from './status-view.ts';

const usage = `Usage: manyfold start [--local] [--examples] [--once] [--nodes N]

  --local       use the embedded local control plane even when a kubeconfig answers
  --examples    apply examples/ also to an existing cluster (always done locally)
  --once        wait for the examples to converge, print the status once and stop
  --nodes N     fake nodes for the local control plane (default 3)`;

const ExamplesNamespace = 'manyfold-examples';
const binPath = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));

/** The current kubeconfig's client when it answers /readyz within 3 s. */
async function reachableCluster(): Promise<KubeClient | undefined> {
  let client: KubeClient | undefined;
  try {
    client = await KubeClient.create();
    const ready = await client.requestText('/readyz', { timeoutMs: 3000 });
    if (ready.trim() === 'ok') return client;
  } catch {
    // no kubeconfig, or nothing answers
  }
  await client?.close();
  return undefined;
}

async function applyExamples(client: KubeClient, log: (line: string) => void): Promise<number> {
  try {
    await client.create(Resources.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ExamplesNamespace } });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  const dir = join(deployDir, '..', 'examples');
  let count = 0;
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const object of await readManifests(join(dir, file))) {
      const namespaced = { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? ExamplesNamespace } };
      try {
        await client.apply(namespaced, { fieldManager: 'manyfold-start' });
        count++;
      } catch (error) {
        log(`could not apply ${object.kind} ${object.metadata.name ?? ''} from examples/${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return count;
}

interface RunningOperator {
  readonly child: ChildProcess;
  readonly logFile: string;
  leading: boolean;
  epoch: number;
  stop(): Promise<void>;
}

/**
 * V8 flags for the operator that `start` runs: the young-generation cap of
 * deploy/manifests/deployment.yaml, which V8 otherwise sizes by the machine (up to
 * 128 MiB more RSS; bench/README.md), unless `NODE_OPTIONS` already sets it. The
 * Deployment's old-space cap is left out: its memory limit goes with it, and against a
 * large existing cluster it would be too tight.
 */
export function operatorV8Flags(nodeOptions: string | undefined): string[] {
  return (nodeOptions ?? '').includes('--max-semi-space-size') ? [] : ['--max-semi-space-size=4'];
}

function startOperator(options: { kubeconfig: string; logFile: string; etcdEndpoint?: string }): RunningOperator {
  const args = [...operatorV8Flags(process.env['NODE_OPTIONS']), binPath, 'operator', '--kubeconfig', options.kubeconfig, '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0'];
  if (options.etcdEndpoint) args.push('--etcd-endpoints', options.etcdEndpoint);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(options.logFile, { flags: 'a' });
  const running: RunningOperator = {
    child,
    logFile: options.logFile,
    leading: false,
    epoch: 0,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      out.end();
    },
  };
  child.stdout?.on('data', (chunk: Buffer) => out.write(chunk));
  if (child.stdout) {
    onLines(child.stdout, (line) => {
      if (line.includes('"leader_elected"')) {
        running.leading = true;
        running.epoch = Number((JSON.parse(line) as { epoch?: number }).epoch ?? 0);
      } else if (line.includes('"leader_lost"')) running.leading = false;
    });
  }
  child.stderr?.on('data', (chunk: Buffer) => out.write(chunk));
  return running;
}

async function listManyfold(client: KubeClient): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const [kind, resource] of Object.entries(ManyfoldResources)) {
    try {
      const list = await client.list(
        { group: resource.group, version: resource.version, plural: resource.plural, kind, namespaced: true },
        { limit: 500 },
      );
      out.push(...list.items.map((item) => ({ ...item, kind })));
    } catch {
      // a kind whose CRD is not installed yet
    }
  }
  return out;
}

/** The label examples/sensor-fleet.yaml selects. */
const EdgeLabel = 'manyfold.dev/edge';

/** On the local control plane only: label the first fake node as an edge node for the example fleet. */
async function labelEdgeNode(client: KubeClient, log: (line: string) => void): Promise<void> {
  const nodes = (await client.list(Resources.Node)).items;
  if (nodes.some((n) => n.metadata.labels?.[EdgeLabel] === 'true')) return;
  const first = nodes.map((n) => n.metadata.name ?? '').sort()[0];
  if (!first) return;
  await client.patch(Resources.Node, { name: first }, { metadata: { labels: { [EdgeLabel]: 'true' } } }, { type: 'merge' });
  log(`Labelled node ${first} ${EdgeLabel}=true for examples/sensor-fleet.yaml`);
}

const FakeNodesNote =
  'The local control plane\'s nodes are kwok fakes that run no containers: a SensorFleet\'s agent pods\n' +
  'become Ready there, but no agent runs, so its Ready stays False (NodesNotReporting). On a real\n' +
  'cluster (kind, or any other) the agents report.';

type Observed = KubeObject & {
  status?: { observedGeneration?: number; desiredNodes?: number; readyNodes?: number; conditions?: { type: string; status: string; reason?: string }[] };
};

/**
 * Whether `--once` may stop waiting for `object`: Ready=True at its generation. On fake
 * nodes a SensorFleet counts once its agent pods are Ready on every selected node, since
 * no agent can report there.
 */
function isSettled(object: KubeObject, options: { fakeNodes: boolean }): boolean {
  const status = (object as Observed).status;
  if (status?.observedGeneration !== object.metadata.generation) return false;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return true;
  return (
    options.fakeNodes &&
    object.kind === 'SensorFleet' &&
    ready?.reason === 'NodesNotReporting' &&
    (status?.desiredNodes ?? 0) > 0 &&
    status?.readyNodes === status?.desiredNodes
  );
}

export async function runStart(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      local: { type: 'boolean' },
      examples: { type: 'boolean' },
      once: { type: 'boolean' },
      nodes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const external = values.local ? undefined : await reachableCluster();
  const dir = defaultDir();
  let admin: KubeClient;
  let operatorKubeconfig: string;
  let state: ClusterState | undefined;
  let startedCluster = false;
  if (external) {
    admin = external;
    log(`Using the cluster of the current kubeconfig: ${admin.server}`);
    await mkdir(dir, { recursive: true });
    operatorKubeconfig = join(dir, 'external-operator.kubeconfig');
  } else {
    const before = await readState(dir);
    startedCluster = !(before && isUp(before));
    try {
      state = await up({ dir, nodes: values.nodes === undefined ? undefined : Number(values.nodes), log });
    } catch (error) {
      if (error instanceof StartError) {
        log(`\n${error.message}\n--- last lines of ${error.logFile} ---\n${error.logTail}`);
        return 1;
      }
      throw error;
    }
    admin = await KubeClient.create({ kubeconfig: state.kubeconfig });
    operatorKubeconfig = state.operatorKubeconfig;
  }
  const logs = join(dir, 'logs');
  await mkdir(logs, { recursive: true });
  let operator: RunningOperator | undefined;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log('Installing Manyfold (CRDs, RBAC, operator config, fencing policy)');
    await install(admin);
    if (external) {
      const { caFile, tls } = admin.connection;
      const ca = caFile ?? join(dir, 'external-ca.crt');
      const { writeFile } = await import('node:fs/promises');
      if (!caFile && tls.ca) await writeFile(ca, tls.ca);
      await writeOperatorKubeconfig(admin, { path: operatorKubeconfig, server: admin.server, caCert: ca });
    }
    if (!external || values.examples) log(`Applied ${await applyExamples(admin, log)} example objects into namespace ${ExamplesNamespace}`);
    if (!external) await labelEdgeNode(admin, log);
    operator = startOperator({ kubeconfig: operatorKubeconfig, logFile: join(logs, 'operator.log'), ...(state ? { etcdEndpoint: state.etcdEndpoint } : {}) });
    log(`Operator started (pid ${operator.child.pid ?? '?'}, logs in ${operator.logFile})`);
    const started = Date.now();
    for (;;) {
      if (stop.signal.aborted) break;
      if (operator.child.exitCode !== null) {
        log(`The operator exited with code ${operator.child.exitCode}; see ${operator.logFile}`);
        return 1;
      }
      const objects = await listManyfold(admin).catch(() => []);
      const fakeNodes = !external && objects.some((o) => o.kind === 'SensorFleet');
      const view =
        renderStatus({ objects, server: admin.server, operator: { pid: operator.child.pid ?? 0, leading: operator.leading, epoch: operator.epoch }, now: Date.now() }) +
        (fakeNodes ? `\n\n${FakeNodesNote}` : '');
      if (values.once) {
        const settled = objects.length > 0 && objects.every((o) => isSettled(o, { fakeNodes: !external }));
        if (settled || Date.now() - started > 90_000) {
          process.stdout.write(`${view}\n`);
          return settled ? 0 : 1;
        }
      } else if (process.stdout.isTTY) {
        process.stdout.write(`\x1b[2J\x1b[H${view}\n\nCtrl-C stops the operator${startedCluster ? ' and the local control plane' : ''}.\n`);
      } else {
        process.stdout.write(`${view}\n`);
      }
      await sleep(values.once ? 1000 : process.stdout.isTTY ? 2000 : 15_000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    return 0;
  } finally {
    await operator?.stop();
    await admin.close();
    if (startedCluster) await down({ dir, log });
  }
}
