/**
 * Several real edge agents in one process, for benchmarks that need hundreds of them on
 * a small machine: each is the agent's own code (`Agent.start`: config polling,
 * sensors, spool, forwarder, and the heartbeat that renews its node's Lease through its
 * own Kubernetes client and connection), exactly what `manyfold agent` runs, only
 * several to a Node process instead of one.
 *
 * Started by bench/sensorfleet-heartbeats.ts with an IPC channel; every
 * `--report-ms` it sends `{ heartbeats, failures, agents }` (totals so far) to the parent.
 * SIGTERM stops every agent (as the DaemonSet's pods would be) and exits.
 *
 * Usage: node bench/support/agent-host.ts --config PATH --kubeconfig PATH --spool-root DIR --nodes a,b,c [--report-ms 1000]
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../../src/agent/agent.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/runtime/log.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    kubeconfig: { type: 'string' },
    'spool-root': { type: 'string' },
    nodes: { type: 'string' },
    'report-ms': { type: 'string', default: '1000' },
  },
});
const nodes = (values.nodes ?? '').split(',').filter(Boolean);
if (!values.config || !values.kubeconfig || !values['spool-root'] || nodes.length === 0) throw new Error('--config, --kubeconfig, --spool-root and --nodes are required');

const log = createLogger({ level: 'warn', name: 'agent-host', destination: process.stderr });
const agents: { agent: Agent; client: KubeClient }[] = [];
for (const node of nodes) {
  const spoolRoot = join(values['spool-root'], node);
  await mkdir(spoolRoot, { recursive: true });
  const client = await KubeClient.create({ kubeconfig: values.kubeconfig, userAgent: 'manyfold-agent-bench' });
  const agent = await Agent.start({ configPath: values.config, spoolRoot, nodeName: node, log: log.child({ node }), leaseApi: client, metricsBindAddress: '0', processMetrics: false });
  agents.push({ agent, client });
}

const report = () => {
  let heartbeats = 0;
  let failures = 0;
  for (const { agent } of agents) {
    heartbeats += agent.stats.heartbeats;
    failures += agent.stats.heartbeatFailures;
  }
  process.send?.({ heartbeats, failures, agents: agents.length });
};
const timer = setInterval(report, Number(values['report-ms']));
report();

process.once('SIGTERM', () => {
  clearInterval(timer);
  void (async () => {
    await Promise.all(agents.map(async ({ agent, client }) => {
      await agent.stop();
      await client.close();
    }));
    process.exit(0);
  })();
});
