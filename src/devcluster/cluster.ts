/**
 * The embedded local control plane: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok as local processes bound to 127.0.0.1, with fake nodes.
 *
 * `up` writes everything under one directory (default `.manyfold/dev`): the PKI, the
 * admin kubeconfig (`kubeconfig`), the operator's non-admin kubeconfig
 * (`operator.kubeconfig`, a token of the ServiceAccount
 * `manyfold-system/manyfold-operator`), component logs and `state.json` with the pid of
 * every process it started. `down` stops exactly those pids and removes the etcd data.
 *
 * Guarantees: `up` on a running cluster changes nothing but the node count; a
 * component that fails to start is named with the tail of its log, and whatever had
 * already started is stopped again.
 *
 * Limitations: Linux only (pid checks read /proc); one cluster per directory; ports are
 * picked free at start, so they change between runs (the kubeconfig follows).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent, fetch } from 'undici';
import { KubeClient } from '../kube/client.ts';
import { isAlreadyExists } from '../kube/errors.ts';
import { Resources } from '../kube/resources.ts';
import { ensureAssets, formatDuration, type Assets } from './assets.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { countNodes, ensureNodes } from './nodes.ts';
import { ensurePki, type Identity, type Pki } from './pki.ts';
import { freePort, isRunning, startProcess, stopProcess, StartError, waitReady, type ProcessRecord } from './processes.ts';

export const OperatorNamespace = 'manyfold-system';
export const OperatorServiceAccount = 'manyfold-operator';

export interface ClusterState {
  readonly version: 1;
  readonly dir: string;
  readonly kubeconfig: string;
  readonly operatorKubeconfig: string;
  readonly server: string;
  readonly etcdEndpoint: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly processes: readonly ProcessRecord[];
  readonly nodes: number;
  readonly startedAt: string;
}

export interface UpOptions {
  /** State directory (default `.manyfold/dev` under the working directory). */
  readonly dir?: string;
  /** Number of fake nodes (default 3 on a fresh start; a running cluster is rescaled only when given). */
  readonly nodes?: number | undefined;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Build missing binaries (default true). */
  readonly build?: boolean;
}

export function defaultDir(): string {
  return resolve(process.env['MANYFOLD_DEV_DIR'] ?? join(process.cwd(), '.manyfold', 'dev'));
}

const identities: readonly Identity[] = [
  { file: 'admin', user: 'manyfold-admin', groups: ['system:masters'] },
  { file: 'controller-manager', user: 'system:kube-controller-manager', groups: [] },
  { file: 'scheduler', user: 'system:kube-scheduler', groups: [] },
  // kwok plays every kubelet: it patches node and pod status and renews node leases.
  { file: 'kwok', user: 'kwok-controller', groups: ['system:masters'] },
];

const stateFile = (dir: string) => join(dir, 'state.json');

/**
 * The API server's audit log records every write by the operator's ServiceAccount
 * (metadata only: who, what, user agent, response code) in `logs/audit.log`, so tests
 * can prove from the server's side which writes landed (the fencing test does).
 */
const auditPolicyYaml = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["system:serviceaccount:${'manyfold-system'}:${'manyfold-operator'}"]
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
`;

export async function readState(dir = defaultDir()): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Whether every process of a recorded cluster is still running. */
export function isUp(state: ClusterState): boolean {
  return state.processes.length > 0 && state.processes.every(isRunning);
}

/**
 * Starts the control plane in `dir`, or adopts the one already running there.
 * Returns its state.
 */
export async function up(options: UpOptions = {}): Promise<ClusterState> {
  const dir = resolve(options.dir ?? defaultDir());
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const nodes = options.nodes ?? 3;
  await mkdir(dir, { recursive: true });


  const previous = await readState(dir);
  if (previous && isUp(previous)) {
    log(`The local control plane in ${dir} is already running (apiserver ${previous.server}).`);
    if (options.nodes !== undefined && previous.nodes !== options.nodes) {
      const client = await KubeClient.create({ kubeconfig: previous.kubeconfig });
      try {
        await ensureNodes(client, nodes);
      } finally {
        await client.close();
      }
      const next = { ...previous, nodes };
      await writeFile(stateFile(dir), JSON.stringify(next, null, 2));
      log(`Scaled the fake nodes to ${nodes}.`);
      return next;
    }
    return previous;
  }
  if (previous) {
    log('A previous local control plane is partly running; stopping what is left of it first.');
    await down({ dir, log: () => undefined });
  }

  const started = Date.now();
  const assets = await ensureAssets({ log, ...(options.build === undefined ? {} : { build: options.build }) });
  const pki = await ensurePki(join(dir, 'pki'), identities);
  const logs = join(dir, 'logs');
  await mkdir(logs, { recursive: true });
  const running: ProcessRecord[] = [];
  try {
    const state = await startAll({ dir, logs, assets, pki, nodes, running, log });
    log(`Local control plane is up in ${formatDuration(Date.now() - started)}: kubectl --kubeconfig ${state.kubeconfig} get nodes`);
    return state;
  } catch (error) {
    for (const record of [...running].reverse()) await stopProcess(record, { graceMs: 3000 });
    await rm(stateFile(dir), { force: true });
    throw error;
  }
}

async function startAll(ctx: {
  dir: string;
  logs: string;
  assets: Assets;
  pki: Pki;
  nodes: number;
  running: ProcessRecord[];
  log: (line: string) => void;
}): Promise<ClusterState> {
  const { dir, logs, assets, pki, running, log } = ctx;
  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
    kwok: await freePort(),
  };
  const saveState = async (extra: Partial<ClusterState> = {}): Promise<ClusterState> => {
    const state: ClusterState = {
      version: 1,
      dir,
      kubeconfig: join(dir, 'kubeconfig'),
      operatorKubeconfig: join(dir, 'operator.kubeconfig'),
      server: `https://127.0.0.1:${ports.apiserver}`,
      etcdEndpoint: `http://127.0.0.1:${ports.etcdClient}`,
      ports,
      processes: [...running],
      nodes: ctx.nodes,
      startedAt: new Date().toISOString(),
      ...extra,
    };
    await writeFile(stateFile(dir), JSON.stringify(state, null, 2));
    return state;
  };

  // etcd
  const etcdData = join(dir, 'etcd-data');
  await rm(etcdData, { recursive: true, force: true });
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  log(`Starting etcd on ${etcdUrl}`);
  const etcd = startProcess({
    name: 'etcd',
    binary: assets.etcd,
    log: join(logs, 'etcd.log'),
    args: [
      '--name=dev',
      `--data-dir=${etcdData}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=dev=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
      '--quota-backend-bytes=8589934592',
    ],
  });
  running.push(etcd);
  await saveState();
  await waitReady(etcd, async () => {
    const res = await fetch(`${etcdUrl}/health`);
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  }, { timeoutMs: 30_000 });

  // kube-apiserver
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const auditPolicy = join(dir, 'audit-policy.yaml');
  await writeFile(auditPolicy, auditPolicyYaml);
  log(`Starting kube-apiserver on ${server}`);
  const apiserver = startProcess({
    name: 'kube-apiserver',
    binary: assets.kubeApiserver,
    log: join(logs, 'kube-apiserver.log'),
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=Node,RBAC',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=true',
      '--max-requests-inflight=800',
      '--max-mutating-requests-inflight=400',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${join(logs, 'audit.log')}`,
      '--audit-log-format=json',
      '--audit-log-maxsize=200',
      '--audit-log-maxbackup=1',
      '--v=1',
    ],
  });
  running.push(apiserver);
  await saveState();

  const adminKubeconfig = join(dir, 'kubeconfig');
  const admin = pki.clients['admin'];
  if (!admin) throw new Error('admin identity missing from the PKI');
  await writeKubeconfig({ path: adminKubeconfig, server, caCert: pki.caCert, user: 'manyfold-admin', credentials: admin });
  const client = await KubeClient.create({ kubeconfig: adminKubeconfig });
  try {
    await waitReady(apiserver, async () => (await client.requestText('/readyz')) === 'ok', { timeoutMs: 90_000 });

    const kubeconfigFor = async (file: string, user: string): Promise<string> => {
      const path = join(dir, `${file}.kubeconfig`);
      const creds = pki.clients[file];
      if (!creds) throw new Error(`identity ${file} missing from the PKI`);
      await writeKubeconfig({ path, server, caCert: pki.caCert, user, credentials: creds });
      return path;
    };
    const kcmConfig = await kubeconfigFor('controller-manager', 'system:kube-controller-manager');
    const schedulerConfig = await kubeconfigFor('scheduler', 'system:kube-scheduler');
    const kwokConfig = await kubeconfigFor('kwok', 'kwok-controller');

    log('Starting kube-controller-manager, kube-scheduler and kwok');
    const controllerManager = startProcess({
      name: 'kube-controller-manager',
      binary: assets.kubeControllerManager,
      log: join(logs, 'kube-controller-manager.log'),
      args: [
        `--kubeconfig=${kcmConfig}`,
        `--authentication-kubeconfig=${kcmConfig}`,
        `--authorization-kubeconfig=${kcmConfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.controllerManager}`,
        `--root-ca-file=${pki.caCert}`,
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--use-service-account-credentials=true',
        '--leader-elect=false',
        '--kube-api-qps=500',
        '--kube-api-burst=1000',
        '--concurrent-deployment-syncs=20',
        '--concurrent-replicaset-syncs=20',
        '--concurrent-gc-syncs=40',
        '--v=1',
      ],
    });
    running.push(controllerManager);
    const scheduler = startProcess({
      name: 'kube-scheduler',
      binary: assets.kubeScheduler,
      log: join(logs, 'kube-scheduler.log'),
      args: [
        `--kubeconfig=${schedulerConfig}`,
        `--authentication-kubeconfig=${schedulerConfig}`,
        `--authorization-kubeconfig=${schedulerConfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.scheduler}`,
        '--leader-elect=false',
        '--kube-api-qps=500',
        '--kube-api-burst=1000',
        '--v=1',
      ],
    });
    running.push(scheduler);
    const kwok = startProcess({
      name: 'kwok',
      binary: assets.kwok,
      log: join(logs, 'kwok.log'),
      args: [
        `--kubeconfig=${kwokConfig}`,
        `--config=${assets.kwokStages}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--server-address=127.0.0.1:${ports.kwok}`,
        '--node-ip=127.0.0.1',
        '--cidr=10.244.0.1/16',
        '--node-lease-duration-seconds=40',
      ],
    });
    running.push(kwok);
    await saveState();

    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    const healthy = (url: string) => async () => {
      const res = await fetch(url, { dispatcher: insecure });
      return res.ok;
    };
    try {
      await Promise.all([
        waitReady(controllerManager, healthy(`https://127.0.0.1:${ports.controllerManager}/healthz`), { timeoutMs: 60_000, what: 'healthy' }),
        waitReady(scheduler, healthy(`https://127.0.0.1:${ports.scheduler}/healthz`), { timeoutMs: 60_000, what: 'healthy' }),
        waitReady(kwok, healthy(`http://127.0.0.1:${ports.kwok}/healthz`), { timeoutMs: 60_000, what: 'healthy' }),
      ]);
    } finally {
      await insecure.close();
    }

    const operatorKubeconfig = join(dir, 'operator.kubeconfig');
    await writeOperatorKubeconfig(client, { path: operatorKubeconfig, server, caCert: pki.caCert });

    log(`Creating ${ctx.nodes} kwok node(s)`);
    try {
      await ensureNodes(client, ctx.nodes);
    } catch (error) {
      throw new StartError('kwok', error instanceof Error ? error.message : String(error), '', kwok.log);
    }
    return await saveState();
  } finally {
    await client.close();
  }
}

/**
 * Creates the operator's namespace and ServiceAccount and writes a kubeconfig holding a
 * one-year token of that ServiceAccount: a non-admin identity, so RBAC is exercised
 * exactly as in a cluster (the operator has only what `deploy/manifests` grants).
 */
export async function writeOperatorKubeconfig(client: KubeClient, options: { path: string; server: string; caCert: string }): Promise<void> {
  for (const [type, object] of [
    [Resources.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OperatorNamespace } }],
    [Resources.ServiceAccount, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: OperatorServiceAccount, namespace: OperatorNamespace } }],
  ] as const) {
    try {
      await client.create(type, object);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
  }
  const token = await client.request<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${OperatorNamespace}/serviceaccounts/${OperatorServiceAccount}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 365 * 24 * 3600 } },
  });
  await writeKubeconfig({
    path: options.path,
    server: options.server,
    caCert: options.caCert,
    user: `system:serviceaccount:${OperatorNamespace}:${OperatorServiceAccount}`,
    credentials: { token: token.status.token },
    namespace: OperatorNamespace,
  });
}

/** Stops every process `up` recorded in `dir` (newest first) and removes the etcd data. */
export async function down(options: { dir?: string; log?: (line: string) => void } = {}): Promise<boolean> {
  const dir = resolve(options.dir ?? defaultDir());
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const state = await readState(dir);
  if (!state) {
    log(`No local control plane recorded in ${dir}.`);
    return false;
  }
  for (const record of [...state.processes].reverse()) {
    const outcome = await stopProcess(record);
    log(`${record.name} (pid ${record.pid}): ${outcome}`);
  }
  await rm(stateFile(dir), { force: true });
  await rm(join(dir, 'etcd-data'), { recursive: true, force: true });
  return true;
}

/**
 * Restarts one component of a running cluster with its original arguments (tests use
 * it to restart the API server under a live informer). Returns the new state.
 */
export async function restartComponent(name: string, options: { dir?: string; downtimeMs?: number } = {}): Promise<ClusterState> {
  const dir = resolve(options.dir ?? defaultDir());
  const state = await readState(dir);
  const record = state?.processes.find((p) => p.name === name);
  if (!state || !record) throw new Error(`no component '${name}' recorded in ${dir}`);
  await stopProcess(record);
  if (options.downtimeMs) await new Promise((r) => setTimeout(r, options.downtimeMs));
  const next = startProcess({ name, binary: record.binary, args: record.args, log: record.log });
  const processes = state.processes.map((p) => (p.name === name ? next : p));
  const nextState: ClusterState = { ...state, processes };
  await writeFile(stateFile(dir), JSON.stringify(nextState, null, 2));
  if (name === 'kube-apiserver') {
    const client = await KubeClient.create({ kubeconfig: state.kubeconfig });
    try {
      await waitReady(next, async () => (await client.requestText('/readyz')) === 'ok', { timeoutMs: 90_000 });
    } finally {
      await client.close();
    }
  }
  return nextState;
}

export interface ClusterStatus {
  readonly dir: string;
  readonly state: ClusterState | undefined;
  readonly components: readonly { name: string; pid: number; running: boolean; log: string }[];
  readonly serverVersion?: string;
  readonly nodes?: { total: number; ready: number };
  readonly error?: string;
}

/** What runs in `dir`, with the server version and node readiness when reachable. */
export async function status(options: { dir?: string } = {}): Promise<ClusterStatus> {
  const dir = resolve(options.dir ?? defaultDir());
  const state = await readState(dir);
  if (!state) return { dir, state, components: [] };
  const components = state.processes.map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p), log: p.log }));
  if (!existsSync(state.kubeconfig) || !components.some((c) => c.name === 'kube-apiserver' && c.running)) {
    return { dir, state, components };
  }
  const client = await KubeClient.create({ kubeconfig: state.kubeconfig });
  try {
    const version = await client.request<{ gitVersion: string }>({ method: 'GET', path: '/version', timeoutMs: 5000 });
    return { dir, state, components, serverVersion: version.gitVersion, nodes: await countNodes(client) };
  } catch (error) {
    return { dir, state, components, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await client.close();
  }
}

/** Human-readable lines for {@link status}. */
export function formatStatus(s: ClusterStatus): string {
  if (!s.state) return `No local control plane in ${s.dir}. Start one with: npx manyfold dev up`;
  const lines = [`Local control plane in ${s.dir}`];
  for (const c of s.components) lines.push(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.running ? 'running' : 'NOT RUNNING'}`);
  lines.push(`  API server   ${s.state.server}${s.serverVersion ? ` (${s.serverVersion})` : ''}`);
  lines.push(`  etcd         ${s.state.etcdEndpoint}`);
  if (s.nodes) lines.push(`  nodes        ${s.nodes.ready}/${s.nodes.total} Ready`);
  if (s.error) lines.push(`  error        ${s.error}`);
  lines.push(`  kubeconfig   ${s.state.kubeconfig} (admin), ${s.state.operatorKubeconfig} (operator)`);
  return lines.join('\n');
}
