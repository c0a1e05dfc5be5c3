/**
 * `manyfold operator`: the manager process, with controller-runtime's flag names.
 *
 * SIGTERM or SIGINT stops taking work, drains in-flight reconciles (up to
 * `--graceful-shutdown-timeout`), releases the leader Lease and exits 0.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerControllers } from '../controllers/index.ts';
import { KubeClient } from '../kube/client.ts';
import type { SecureMetrics } from '../runtime/endpoints.ts';
import { createLogger, type LogLevel } from '../runtime/log.ts';
import { KubeMetricsAuthorizer } from '../runtime/metrics-auth.ts';
import { selfSignedCertificate } from '../runtime/self-signed.ts';
import { Manager, type ManagerOptions } from '../runtime/manager.ts';
import { defaultIdentity } from '../runtime/leader/elector.ts';
import { parseTenancyFlags, tenancyFlagOptions, tenancyUsage, type TenancyPolicy } from './tenancy-flags.ts';

const usage = `Usage: manyfold operator [flags]

  --kubeconfig PATH                      kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --leader-elect[=true|false]            elect a leader among replicas (default true)
  --leader-elect-lease-duration DUR      how long a leader's Lease is valid without renewal (default 3s)
  --leader-elect-renew-deadline DUR      a leader that cannot renew for this long stops leading (default 2s)
  --leader-elect-retry-period DUR        interval between election attempts and renewals (default 500ms)
  --leader-elect-resource-name NAME      Lease name (default manyfold-operator)
  --operator-namespace NS                namespace of the Lease and the fencing ConfigMap
                                         (default $POD_NAMESPACE, else manyfold-system)
  --namespace NS[,NS]                    serve only these namespaces (default: all), with an
                                         informer per namespace; needs only a RoleBinding in each
                                         (deploy/namespaced)
  --metrics-bind-address ADDR            Prometheus /metrics (default :8080; 0 disables)
  --metrics-secure[=true|false]          serve /metrics over HTTPS, only to callers whose bearer token
                                         the API server authenticates (TokenReview) and allows to get
                                         /metrics (SubjectAccessReview); default false here, true in
                                         deploy/manifests
  --metrics-cert-dir DIR                 tls.crt and tls.key for secure metrics (default: a
                                         self-signed certificate made at start)
  --health-probe-bind-address ADDR       /healthz and /readyz (default :8081; 0 disables)
  --etcd-endpoints URL[,URL]             default etcd for FencedLease (default $MANYFOLD_ETCD_ENDPOINTS)
  --require-fencing[=true|false]         lead only once the API server enforces the term's fencing
                                         epoch (default true; needs deploy/manifests/fencing-policy.yaml)
  --graceful-shutdown-timeout DUR        drain time for in-flight reconciles on SIGTERM (default 30s)
  --sensorfleet-heartbeat-batch DUR      reconcile a SensorFleet because of its agents' heartbeats at
                                         most once per DUR, folding the renewals in between (default
                                         1s; 0s reconciles on every heartbeat)
  --log-level LEVEL                      trace, debug, info, warn, error (default info)

${tenancyUsage}

Lease timings are shorter than client-go's 15s/10s/2s on purpose: every write carries
the leader's fencing epoch and the API server rejects writes of a deposed leader, so a
premature takeover costs a failover, never a conflicting write.`;

/** Parses `500ms`, `4s`, `1m`, `1.5s` (Go duration subset) into ms. */
export function parseDuration(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!match) throw new Error(`--${flag}: '${value}' is not a duration (use e.g. 500ms, 4s, 1m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** Kubernetes namespace names (RFC 1123 labels). */
const NamespaceName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `--namespace`: a comma-separated list of namespaces (duplicates dropped, order kept),
 * or empty for all. Each must be a valid namespace name.
 */
export function parseNamespaces(value: string | undefined): string[] {
  const names = [...new Set((value ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
  const bad = names.find((n) => !NamespaceName.test(n));
  if (bad !== undefined) throw new Error(`--namespace: '${bad}' is not a namespace name`);
  return names;
}

function parseBool(flag: string, value: string | boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new Error(`--${flag}: expected true or false, got '${value}'`);
}

export interface OperatorFlags {
  kubeconfig?: string | undefined;
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  leaseName: string;
  operatorNamespace: string;
  /** Namespaces served (empty: all). */
  namespaces: string[];
  metricsBindAddress: string;
  metricsSecure: boolean;
  metricsCertDir?: string | undefined;
  healthProbeBindAddress: string;
  etcdEndpoints: string[];
  gracefulShutdownMs: number;
  requireFencing: boolean;
  /** SensorFleet heartbeat batching interval, ms. */
  sensorFleetHeartbeatBatchMs: number;
  logLevel: LogLevel;
  /** What namespace users may reach through Manyfold resources (tenancy-flags.ts). */
  tenancy: TenancyPolicy;
}

export function parseOperatorFlags(argv: readonly string[]): OperatorFlags | 'help' {
  // `--leader-elect=false` arrives as a string; bare `--leader-elect` as true.
  const normalized = argv.map((a) => (a === '--leader-elect' || a === '--require-fencing' || a === '--metrics-secure' ? `${a}=true` : a));
  const { values } = parseArgs({
    args: normalized,
    options: {
      kubeconfig: { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-elect-lease-duration': { type: 'string' },
      'leader-elect-renew-deadline': { type: 'string' },
      'leader-elect-retry-period': { type: 'string' },
      'leader-elect-resource-name': { type: 'string' },
      'operator-namespace': { type: 'string' },
      namespace: { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'metrics-secure': { type: 'string' },
      'metrics-cert-dir': { type: 'string' },
      'health-probe-bind-address': { type: 'string' },
      'etcd-endpoints': { type: 'string' },
      'graceful-shutdown-timeout': { type: 'string' },
      'require-fencing': { type: 'string' },
      'sensorfleet-heartbeat-batch': { type: 'string' },
      'log-level': { type: 'string' },
      ...tenancyFlagOptions,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const levels: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!levels.includes(logLevel)) throw new Error(`--log-level: '${logLevel}' is not one of ${levels.join(', ')}`);
  const flags: OperatorFlags = {
    kubeconfig: values.kubeconfig,
    leaderElect: parseBool('leader-elect', values['leader-elect'], true),
    leaseDurationMs: parseDuration('leader-elect-lease-duration', values['leader-elect-lease-duration'] ?? '3s'),
    renewDeadlineMs: parseDuration('leader-elect-renew-deadline', values['leader-elect-renew-deadline'] ?? '2s'),
    retryPeriodMs: parseDuration('leader-elect-retry-period', values['leader-elect-retry-period'] ?? '500ms'),
    leaseName: values['leader-elect-resource-name'] ?? 'manyfold-operator',
    operatorNamespace: values['operator-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'manyfold-system',
    namespaces: parseNamespaces(values.namespace),
    metricsBindAddress: values['metrics-bind-address'] ?? ':8080',
    metricsSecure: parseBool('metrics-secure', values['metrics-secure'], false),
    metricsCertDir: values['metrics-cert-dir'] || undefined,
    healthProbeBindAddress: values['health-probe-bind-address'] ?? ':8081',
    etcdEndpoints: (values['etcd-endpoints'] ?? process.env['MANYFOLD_ETCD_ENDPOINTS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    gracefulShutdownMs: parseDuration('graceful-shutdown-timeout', values['graceful-shutdown-timeout'] ?? '30s'),
    requireFencing: parseBool('require-fencing', values['require-fencing'], true),
    sensorFleetHeartbeatBatchMs: parseDuration('sensorfleet-heartbeat-batch', values['sensorfleet-heartbeat-batch'] ?? '1s'),
    logLevel,
    tenancy: parseTenancyFlags(values),
  };
  if (flags.renewDeadlineMs >= flags.leaseDurationMs) {
    throw new Error(`--leader-elect-renew-deadline (${flags.renewDeadlineMs} ms) must be shorter than --leader-elect-lease-duration (${flags.leaseDurationMs} ms)`);
  }
  if (flags.retryPeriodMs >= flags.renewDeadlineMs) {
    throw new Error(`--leader-elect-retry-period (${flags.retryPeriodMs} ms) must be shorter than --leader-elect-renew-deadline (${flags.renewDeadlineMs} ms)`);
  }
  return flags;
}

/** The manager's options for `flags`: one mapping, shared with the benchmarks' what-if entry point. */
export function managerOptions(
  flags: OperatorFlags,
  wiring: { client: KubeClient; log: ManagerOptions['log']; identity?: string; ignoreLeaseLoss?: boolean; secureMetrics?: SecureMetrics | undefined },
): ManagerOptions {
  return {
    client: wiring.client,
    ...(wiring.identity === undefined ? {} : { identity: wiring.identity }),
    ...(wiring.log === undefined ? {} : { log: wiring.log }),
    requireFencing: flags.requireFencing,
    namespaces: flags.namespaces,
    metricsBindAddress: flags.metricsBindAddress,
    // With --metrics-secure, runOperator passes the certificate and the authorizer.
    ...(wiring.secureMetrics === undefined ? {} : { secureMetrics: wiring.secureMetrics }),
    healthProbeBindAddress: flags.healthProbeBindAddress,
    drainTimeoutMs: flags.gracefulShutdownMs,
    leaderElection: {
      enabled: flags.leaderElect,
      namespace: flags.operatorNamespace,
      name: flags.leaseName,
      leaseDurationMs: flags.leaseDurationMs,
      renewDeadlineMs: flags.renewDeadlineMs,
      retryPeriodMs: flags.retryPeriodMs,
      ignoreLeaseLoss: wiring.ignoreLeaseLoss ?? false,
    },
  };
}

/**
 * What `--metrics-secure` serves `/metrics` with: the certificate of `--metrics-cert-dir`
 * (else a self-signed one made now) and an authorizer asking the API server
 * (runtime/metrics-auth.ts). The manager's endpoints serve it (runtime/endpoints.ts).
 */
async function secureMetricsOf(flags: OperatorFlags, client: KubeClient): Promise<SecureMetrics> {
  const tls = flags.metricsCertDir
    ? { cert: await readFile(join(flags.metricsCertDir, 'tls.crt'), 'utf8'), key: await readFile(join(flags.metricsCertDir, 'tls.key'), 'utf8') }
    : selfSignedCertificate({ hosts: ['localhost', '127.0.0.1', ...(process.env['POD_IP'] ? [process.env['POD_IP']] : [])] });
  return { tls, authorizer: new KubeMetricsAuthorizer({ client }), certificate: flags.metricsCertDir ? 'cert-dir' : 'self-signed' };
}

/** Whether `error` is a listener's "address already in use". */
function addressInUse(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

export async function runOperator(argv: readonly string[]): Promise<number> {
  const flags = parseOperatorFlags(argv);
  if (flags === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = createLogger({ level: flags.logLevel, name: 'operator' });
  const identity = defaultIdentity();
  const client = await KubeClient.create({ kubeconfig: flags.kubeconfig, userAgent: `manyfold-operator/0.1.0 (${identity})` });
  const ignoreLeaseLoss = process.env['MANYFOLD_FAULT_INJECTION'] === 'ignore-lease-loss';
  let secureMetrics: SecureMetrics | undefined;
  try {
    if (flags.metricsSecure) secureMetrics = await secureMetricsOf(flags, client);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error({ event: 'operator_failed', err: message }, `cannot serve secure metrics: ${message}; exiting`);
    await client.close();
    return 1;
  }
  const manager = new Manager(managerOptions(flags, { client, log, identity, ignoreLeaseLoss, secureMetrics }));
  if (ignoreLeaseLoss) {
    log.warn({ event: 'fault_injection', fault: 'ignore-lease-loss' }, 'FAULT INJECTION: this process keeps acting as leader after losing the Lease; only fencing stops it');
  }
  registerControllers(manager, { etcdEndpoints: flags.etcdEndpoints, operatorNamespace: flags.operatorNamespace, log, tenancy: flags.tenancy, sensorFleetHeartbeatBatchMs: flags.sensorFleetHeartbeatBatchMs });
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (name: string) => {
    signals++;
    if (signals > 1) {
      log.warn({ event: 'shutdown_forced', signal: name }, 'second signal; exiting now');
      process.exit(1);
    }
    log.info({ event: 'shutdown_started', signal: name, drainTimeoutMs: flags.gracefulShutdownMs }, 'stopping: draining in-flight reconciles');
    stop.abort(new Error(`received ${name}`));
    setTimeout(() => {
      log.error({ event: 'shutdown_timeout' }, 'graceful shutdown timed out; exiting');
      process.exit(1);
    }, flags.gracefulShutdownMs + 5000).unref();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    log.error({ event: 'unhandled_rejection', err: reason instanceof Error ? reason.stack : String(reason) }, 'unhandled rejection (ignored)');
  });
  log.info({ event: 'operator_starting', identity: manager.identity, leaderElect: flags.leaderElect, namespace: flags.namespaces.length > 0 ? flags.namespaces.join(',') : '(all)' }, 'starting');
  try {
    await manager.start(stop.signal);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(
      { event: 'operator_failed', err: message, ...(addressInUse(error) ? { code: 'EADDRINUSE' } : {}) },
      addressInUse(error) ? `a listening port is taken (${message}); exiting` : `the operator failed: ${message}; exiting`,
    );
    // What a failed start left running (informers of a manager whose endpoints could not
    // bind) must not keep a process alive that can no longer serve: exit non-zero.
    setTimeout(() => process.exit(1), 2000).unref();
    return 1;
  } finally {
    await client.close();
  }
  log.info({ event: 'operator_stopped' }, 'stopped');
  return 0;
}
