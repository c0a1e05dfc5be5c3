/**
 * `manyfold agent`: the edge-sensor node agent a SensorFleet's DaemonSet runs (see
 * `src/agent/agent.ts` and notes/sensorfleet-contract.md).
 *
 * SIGTERM or SIGINT stops the sensors, spools what they queued, forwards what it can
 * within `--shutdown-timeout`, closes the spool cleanly and exits 0. A second signal
 * exits at once (the spool survives that like a `kill -9`).
 */
import { parseArgs } from 'node:util';
import { Agent } from '../agent/agent.ts';
import type { LeaseApi } from '../agent/heartbeat.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';

const usage = `Usage: manyfold agent [flags]

  --config PATH                 config.json from the fleet's ConfigMap
                                (default /etc/manyfold/agent/config.json)
  --spool-dir DIR               spool root; the fleet's spool is DIR/<namespace>_<fleet>/
                                (default /var/lib/manyfold/spool)
  --node-name NAME              this node's name (default $NODE_NAME; required)
  --kubeconfig PATH             credentials for the heartbeat Lease (default: in-cluster
                                service account, else $KUBECONFIG, ~/.kube/config)
  --no-heartbeat                do not write the heartbeat Lease (runs without a cluster)
  --metrics-bind-address ADDR   /metrics and /healthz (default :9464; 0 disables)
  --log-level LEVEL             trace, debug, info, warn, error (default info)
  --shutdown-timeout DUR        time to flush and forward on SIGTERM (default 5s)
  --ack-log PATH                append "first last" sequence ranges of every spooled batch
                                (for tests and debugging)`;

/** Parsed flags of `manyfold agent`. */
export interface AgentFlags {
  readonly configPath: string;
  readonly spoolRoot: string;
  readonly nodeName: string;
  readonly kubeconfig: string | undefined;
  readonly heartbeat: boolean;
  readonly metricsBindAddress: string;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  readonly ackLogPath: string | undefined;
}

/** `500ms`, `5s`, `1m` into ms (kept here: importing the operator's CLI would load the Kubernetes client). */
function parseDuration(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value.trim());
  if (!match) throw new Error(`--${flag}: '${value}' is not a duration (use e.g. 500ms, 5s, 1m)`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Parses the flags; throws with the flag named when one is wrong. */
export function parseAgentFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentFlags | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string' },
      'spool-dir': { type: 'string' },
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      'no-heartbeat': { type: 'boolean' },
      'metrics-bind-address': { type: 'string' },
      'log-level': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      'ack-log': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const nodeName = values['node-name'] ?? env['NODE_NAME'] ?? '';
  if (nodeName === '') throw new Error('--node-name or NODE_NAME is required (the downward API spec.nodeName)');
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!LEVELS.includes(logLevel)) throw new Error(`--log-level: '${logLevel}' is not one of ${LEVELS.join(', ')}`);
  return {
    configPath: values.config ?? '/etc/manyfold/agent/config.json',
    spoolRoot: values['spool-dir'] ?? '/var/lib/manyfold/spool',
    nodeName,
    kubeconfig: values.kubeconfig,
    heartbeat: values['no-heartbeat'] !== true,
    metricsBindAddress: values['metrics-bind-address'] ?? ':9464',
    logLevel,
    shutdownTimeoutMs: parseDuration('shutdown-timeout', values['shutdown-timeout'] ?? '5s'),
    ackLogPath: values['ack-log'],
  };
}

/** Runs the agent until SIGTERM/SIGINT; resolves with the exit code. */
export async function runAgent(argv: readonly string[]): Promise<number> {
  const flags = parseAgentFlags(argv);
  if (flags === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = createLogger({ level: flags.logLevel, name: 'agent' });
  let leaseApi: LeaseApi | undefined;
  let closeClient: (() => Promise<void>) | undefined;
  if (flags.heartbeat) {
    // Loaded only when needed: the Kubernetes client is most of the agent's start-up time.
    const { KubeClient } = await import('../kube/client.ts');
    const client = await KubeClient.create({ kubeconfig: flags.kubeconfig });
    leaseApi = client;
    closeClient = () => client.close();
  }
  const agent = await Agent.start({
    configPath: flags.configPath,
    spoolRoot: flags.spoolRoot,
    nodeName: flags.nodeName,
    log,
    leaseApi,
    metricsBindAddress: flags.metricsBindAddress,
    shutdownTimeoutMs: flags.shutdownTimeoutMs,
    ackLogPath: flags.ackLogPath,
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ event: 'shutdown_requested', signal }, 'stopping');
  const again = () => process.exit(130);
  process.once('SIGTERM', again);
  process.once('SIGINT', again);
  await agent.stop();
  await closeClient?.();
  // Anything still holding the event loop open (a hung sensor command, say) must not keep a stopped agent alive.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  return 0;
}
