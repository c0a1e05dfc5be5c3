/**
 * SensorFleet convergence benchmark (issue 6): how long from creating a fleet that
 * selects every one of 1,000 kwok nodes until its status shows
 * `desiredNodes = readyNodes = 1000`.
 *
 * Starts its own local control plane in `.manyfold/bench-sfleet` (etcd, kube-apiserver,
 * controller manager, scheduler, kwok with N fake nodes), installs Manyfold's CRDs,
 * RBAC and fencing policy, runs an in-process Manager with only the SensorFleet
 * controller under the operator's ServiceAccount, creates the fleet, and polls the
 * fleet's status and the DaemonSet's status every 250 ms. It prints when each
 * milestone was first seen, so the controller's share (status lagging the DaemonSet)
 * can be told apart from Kubernetes' (DaemonSet controller, scheduler, kwok). The
 * control plane is stopped at the end, whatever happens.
 *
 * kwok gap: on a loaded machine some of kwok's 1,000 node heartbeats arrive late, the
 * node lifecycle controller marks the pods on those nodes NotReady, and when the node is
 * back kwok does not set them Ready again (a real kubelet would, at its next status
 * sync). So when the ready count has not moved for `--reassert-after-s` seconds, the
 * bench re-asserts readiness of pods whose containers are ready but whose Ready
 * condition is False, on Ready nodes, as that kubelet would, and reports how many it
 * touched (0 on a quiet machine). `--reassert-after-s 0` turns this off. When the count
 * stops moving for `--stall-s` seconds, it prints why and gives up. SIGINT/SIGTERM stop
 * it cleanly, control plane included.
 *
 * Usage: npx node bench/sensorfleet.ts [--nodes 1000] [--timeout-s 1200] [--stall-s 180] [--reassert-after-s 20]
 * Loads a 2-core machine for several minutes (1,000 pods are created, bound and
 * marked ready).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { SensorFleetType, sensorFleetController } from '../src/controllers/sensorfleet.ts';
import type { SensorFleetStatus } from '../src/crds/sensorfleet.ts';
import { down, up } from '../src/devcluster/cluster.ts';
import { install } from '../src/devcluster/install.ts';
import { KubeClient } from '../src/kube/client.ts';
import { Resources } from '../src/kube/resources.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createLogger } from '../src/runtime/log.ts';
import { Manager } from '../src/runtime/manager.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    'timeout-s': { type: 'string', default: '1200' },
    'stall-s': { type: 'string', default: '180' },
    'reassert-after-s': { type: 'string', default: '20' },
  },
});
const nodes = Number(values.nodes);
const timeoutMs = Number(values['timeout-s']) * 1000;
const stallMs = Number(values['stall-s']) * 1000;
const reassertAfterMs = Number(values['reassert-after-s']) * 1000;
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 5000) throw new Error('--nodes must be an integer from 1 to 5000');

const dir = resolve('.manyfold/bench-sfleet');
const namespace = 'bench-sfleet';
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

type Fleet = KubeObject & { status?: SensorFleetStatus };
type DaemonSet = KubeObject & { status?: { desiredNumberScheduled?: number; numberReady?: number } };
type Pod = KubeObject & { spec?: { nodeName?: string }; status?: { phase?: string; conditions?: { type: string; status: string }[] } };
type Node = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupted.abort(new Error(`interrupted by ${signal}`)));

/** Pods whose containers are ready but which are marked NotReady, on nodes that are Ready. */
async function markedNotReady(admin: KubeClient): Promise<Pod[]> {
  const condition = (p: Pod | Node, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;
  const nodeList = await admin.listAll<Node>(Resources.Node);
  const readyNodes = new Set(nodeList.items.filter((n) => condition(n, 'Ready') === 'True').map((n) => n.metadata.name));
  const pods = await admin.listAll<Pod>(Resources.Pod, { namespace });
  return pods.items.filter((p) => readyNodes.has(p.spec?.nodeName) && condition(p, 'ContainersReady') === 'True' && condition(p, 'Ready') !== 'True');
}

/** Sets Ready=True on `pods`, as their kubelet would at its next status sync. Returns how many. */
async function reassertReadiness(admin: KubeClient, pods: readonly Pod[]): Promise<number> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const pod of pods) {
    await admin.patch(
      Resources.Pod,
      { name: pod.metadata.name ?? '', namespace },
      { status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } },
      { type: 'strategic', subresource: 'status' },
    );
  }
  return pods.length;
}

/** Why pods are not ready: counts by phase and conditions, and nodes not Ready. */
async function diagnose(admin: KubeClient): Promise<string> {
  const pods = await admin.listAll<Pod>(Resources.Pod, { namespace });
  const condition = (p: Pod | Node, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;
  const unbound = pods.items.filter((p) => !p.spec?.nodeName).length;
  const markedNotReady = pods.items.filter((p) => condition(p, 'ContainersReady') === 'True' && condition(p, 'Ready') !== 'True').length;
  const notRunning = pods.items.filter((p) => p.status?.phase !== 'Running').length;
  const nodeList = await admin.listAll<Node>(Resources.Node);
  const nodesNotReady = nodeList.items.filter((n) => condition(n, 'Ready') !== 'True').length;
  return `${pods.items.length} pods: ${unbound} unbound, ${notRunning} not Running, ${markedNotReady} with containers ready but Ready=False (marked NotReady by the node lifecycle controller after a late kwok node heartbeat); ${nodesNotReady} nodes not Ready now`;
}

/** First time (s since the fleet was created) each milestone was seen. */
const seen = new Map<string, number>();
function mark(name: string, elapsedS: number): void {
  if (!seen.has(name)) {
    seen.set(name, elapsedS);
    log(`${name} after ${elapsedS.toFixed(1)} s`);
  }
}

async function run(): Promise<void> {
  const setupStart = performance.now();
  const state = await up({ dir, nodes, log });
  const admin = await KubeClient.create({ kubeconfig: state.kubeconfig });
  const operatorClient = await KubeClient.create({ kubeconfig: state.operatorKubeconfig });
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  try {
    await install(admin);
    log(`control plane with ${nodes} kwok nodes ready in ${((performance.now() - setupStart) / 1000).toFixed(0)} s`);
    const manager = new Manager({
      client: operatorClient,
      leaderElection: { enabled: false, namespace: 'manyfold-system' },
      log: createLogger({ level: 'warn', destination: process.stderr }),
      drainTimeoutMs: 5000,
    });
    manager.addController(sensorFleetController({ operatorNamespace: 'manyfold-system' }));
    running = manager.start(stop.signal);
    for (let i = 0; i < 400 && !manager.leading; i++) await sleep(50);
    if (!manager.leading) throw new Error('the manager did not start leading within 20 s');
    await admin.deleteIfExists(Resources.Namespace, { name: namespace });
    for (let i = 0; i < 240 && (await admin.getOrUndefined(Resources.Namespace, namespace)); i++) await sleep(500);
    await admin.create(Resources.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });

    const start = performance.now();
    await admin.create(SensorFleetType, {
      apiVersion: 'manyfold.dev/v1alpha1',
      kind: 'SensorFleet',
      metadata: { name: 'fleet', namespace },
      spec: {
        nodeSelector: { type: 'kwok' },
        sensors: [{ name: 'temp', source: { type: 'simulated', base: 20, amplitude: 2 } }],
        sink: { type: 'stdout' },
        staleAfterSeconds: 60,
      },
    });
    const elapsed = () => (performance.now() - start) / 1000;
    let lastReport = 0;
    let lastProgress = { ready: -1, at: 0 };
    let reasserted = 0;
    let lastReassert = 0;
    for (;;) {
      interrupted.signal.throwIfAborted();
      const [fleet, ds] = await Promise.all([
        admin.get<Fleet>(SensorFleetType, 'fleet', namespace),
        admin.getOrUndefined<DaemonSet>(Resources.DaemonSet, 'fleet-agent', namespace),
      ]);
      const t = elapsed();
      const s = fleet.status ?? {};
      if (ds) mark('DaemonSet created', t);
      if ((ds?.status?.desiredNumberScheduled ?? 0) >= nodes) mark(`DaemonSet desiredNumberScheduled = ${nodes}`, t);
      if ((ds?.status?.numberReady ?? 0) >= nodes) mark(`DaemonSet numberReady = ${nodes}`, t);
      if (s.desiredNodes === nodes) mark(`status.desiredNodes = ${nodes}`, t);
      if (s.readyNodes === nodes) mark(`status.readyNodes = ${nodes}`, t);
      if (s.desiredNodes === nodes && s.readyNodes === nodes) {
        mark('converged', t);
        break;
      }
      if (t - lastReport >= 15) {
        lastReport = t;
        log(`t=${t.toFixed(0)} s: status desired ${s.desiredNodes ?? '-'} ready ${s.readyNodes ?? '-'}; DaemonSet desired ${ds?.status?.desiredNumberScheduled ?? '-'} ready ${ds?.status?.numberReady ?? '-'}`);
      }
      if ((s.readyNodes ?? 0) !== lastProgress.ready) lastProgress = { ready: s.readyNodes ?? 0, at: t };
      const quietS = t - Math.max(lastProgress.at, lastReassert);
      if (reassertAfterMs > 0 && quietS > reassertAfterMs / 1000) {
        lastReassert = t;
        const touched = await reassertReadiness(admin, await markedNotReady(admin));
        reasserted += touched;
        if (touched > 0) log(`t=${t.toFixed(0)} s: re-asserted readiness of ${touched} pod(s) kwok left NotReady`);
      }
      if (t - lastProgress.at > stallMs / 1000 || performance.now() - start > timeoutMs) {
        const why = await diagnose(admin);
        process.stdout.write(`SensorFleet with ${nodes} kwok nodes did not converge: readyNodes ${s.readyNodes ?? 0} after ${t.toFixed(0)} s (no progress for ${(t - lastProgress.at).toFixed(0)} s). ${why}\n`);
        for (const [name, at] of seen) process.stdout.write(`  ${name.padEnd(40)} ${at.toFixed(1)} s\n`);
        throw new Error('not converged');
      }
      await sleep(250);
    }
    const converged = seen.get('converged') ?? NaN;
    const dsReady = seen.get(`DaemonSet numberReady = ${nodes}`) ?? NaN;
    process.stdout.write(
      [
        `SensorFleet convergence with ${nodes} kwok nodes (polled every 250 ms):`,
        ...[...seen].map(([name, at]) => `  ${name.padEnd(40)} ${at.toFixed(1)} s`),
        `  => creation to desiredNodes = readyNodes = ${nodes}: ${converged.toFixed(1)} s (status lagged the DaemonSet by ${(converged - dsReady).toFixed(1)} s)`,
        `  readiness re-asserted for ${reasserted} pod(s) kwok left NotReady after late node heartbeats${reasserted > 0 ? ' (the figure includes that wait)' : ''}`,
        '',
      ].join('\n'),
    );
  } finally {
    stop.abort();
    await running?.catch(() => undefined);
    await operatorClient.close();
    await admin.close();
    await down({ dir, log });
  }
}

await run();
