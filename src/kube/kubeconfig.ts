/**
 * Where the API server is and how to authenticate to it, from a kubeconfig or from the
 * in-cluster service account — without importing `@kubernetes/client-node`.
 *
 * Why our own loader: importing client-node costs the operator ~55-75 MiB of RSS (it
 * pulls in every generated API class), and the operator needs only a server URL, TLS
 * material and a bearer token or client certificate. Kubeconfigs that need more
 * (exec credential plugins, auth-provider, basic auth, proxy-url) are handed to
 * client-node's `KubeConfig`, imported only then, so nothing a user relies on is lost.
 *
 * Resolution follows kubectl: an explicit path, else every file in `KUBECONFIG` merged
 * (the first file to define a name wins, the first `current-context` wins), else
 * `~/.kube/config`, else the in-cluster service account. Relative paths inside a
 * kubeconfig are relative to the file that holds them. Token files (the in-cluster
 * projected token rotates) are re-read once a minute, as client-go does. The YAML
 * parser is imported only when a kubeconfig file is read (never in a cluster).
 */
import { readFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';

export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

export interface ClusterConnection {
  readonly server: string;
  readonly tls: TlsMaterial;
  /** The CA as a file path, when the kubeconfig named one (for writing derived kubeconfigs). */
  readonly caFile?: string;
  /** Authentication headers for the next request (a re-read token, an exec plugin's answer). */
  readonly headers: () => Promise<Record<string, string>>;
  /** Where it came from, for error messages: a path, or `in-cluster`. */
  readonly source: string;
}

export interface LoadOptions {
  /** A kubeconfig path; without it, `KUBECONFIG`, `~/.kube/config`, then in-cluster. */
  readonly kubeconfig?: string | undefined;
  /** A context other than the current one. */
  readonly context?: string | undefined;
  /** Send requests to this URL instead of the cluster's server (a proxy in tests). */
  readonly server?: string | undefined;
  /** Environment and home directory, for tests. */
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
  readonly serviceAccountDir?: string;
}

const ServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_FILE_TTL_MS = 60_000;

interface Named<T> {
  readonly name: string;
  readonly value: T;
  /** The directory of the file it came from, for relative paths. */
  readonly base: string;
}

interface ClusterEntry {
  readonly server?: string;
  readonly 'certificate-authority'?: string;
  readonly 'certificate-authority-data'?: string;
  readonly 'insecure-skip-tls-verify'?: boolean;
  readonly 'tls-server-name'?: string;
  readonly 'proxy-url'?: string;
}

interface UserEntry {
  readonly 'client-certificate'?: string;
  readonly 'client-certificate-data'?: string;
  readonly 'client-key'?: string;
  readonly 'client-key-data'?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly exec?: unknown;
  readonly 'auth-provider'?: unknown;
  readonly username?: string;
  readonly password?: string;
}

interface ContextEntry {
  readonly cluster?: string;
  readonly user?: string;
}

interface Merged {
  currentContext?: string;
  readonly clusters: Map<string, Named<ClusterEntry>>;
  readonly users: Map<string, Named<UserEntry>>;
  readonly contexts: Map<string, Named<ContextEntry>>;
  readonly files: string[];
}

/** Loads the connection, or throws an error that says what was looked for. */
export async function loadConnection(options: LoadOptions = {}): Promise<ClusterConnection> {
  const env = options.env ?? process.env;
  const files = kubeconfigFiles(options, env);
  if (files.length === 0) {
    const saDir = options.serviceAccountDir ?? ServiceAccountDir;
    const inCluster = inClusterConnection(env, saDir);
    if (inCluster) return withServer(inCluster, options.server);
    throw new Error(
      'no kubeconfig: set --kubeconfig or KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
    );
  }
  const merged = files.length === 0 ? mergeFiles(files, () => null) : mergeFiles(files, (await import('yaml')).parse);
  const source = merged.files.join(delimiter);
  const contextName = options.context ?? merged.currentContext;
  if (!contextName) throw new Error(`kubeconfig ${source}: no current-context (pass a context)`);
  const context = merged.contexts.get(contextName);
  if (!context) throw new Error(`kubeconfig ${source}: context "${contextName}" not found`);
  const cluster = context.value.cluster === undefined ? undefined : merged.clusters.get(context.value.cluster);
  if (!cluster?.value.server) throw new Error(`kubeconfig ${source}: context "${contextName}" names no cluster with a server`);
  const user = context.value.user === undefined ? undefined : merged.users.get(context.value.user);

  if (needsClientNode(cluster.value, user?.value)) {
    return withServer(await clientNodeConnection(options, source), options.server);
  }
  const c = cluster.value;
  const u = user?.value ?? {};
  const caFile = c['certificate-authority'] === undefined ? undefined : resolvePath(cluster.base, c['certificate-authority']);
  const tls: TlsMaterial = {
    ...material('ca', c['certificate-authority-data'], caFile),
    ...material('cert', u['client-certificate-data'], u['client-certificate'] ? resolvePath(user!.base, u['client-certificate']) : undefined),
    ...material('key', u['client-key-data'], u['client-key'] ? resolvePath(user!.base, u['client-key']) : undefined),
    ...(c['insecure-skip-tls-verify'] ? { rejectUnauthorized: false } : {}),
    ...(c['tls-server-name'] ? { servername: c['tls-server-name'] } : {}),
  };
  const headers = u.token
    ? staticBearer(u.token)
    : u.tokenFile
      ? fileBearer(resolvePath(user!.base, u.tokenFile))
      : async () => ({});
  return withServer({ server: trimSlash(c.server!), tls, ...(caFile ? { caFile } : {}), headers, source }, options.server);
}

function kubeconfigFiles(options: LoadOptions, env: NodeJS.ProcessEnv): string[] {
  if (options.kubeconfig) {
    if (!existsSync(options.kubeconfig)) throw new Error(`kubeconfig ${options.kubeconfig} does not exist`);
    return [options.kubeconfig];
  }
  const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== '' && existsSync(p));
  if (fromEnv.length > 0) return fromEnv;
  const home = join(options.home ?? env['HOME'] ?? homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

/** Merges kubeconfig files; `parseYaml` is the `yaml` package's, imported only when a file is read. */
function mergeFiles(files: readonly string[], parseYaml: (text: string) => unknown): Merged {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), files: [...files] };
  for (const file of files) {
    let doc: Record<string, unknown> | null;
    try {
      doc = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
    } catch (error) {
      throw new Error(`kubeconfig ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (doc === null || typeof doc !== 'object') continue;
    const base = dirname(file);
    if (merged.currentContext === undefined && typeof doc['current-context'] === 'string' && doc['current-context'] !== '') {
      merged.currentContext = doc['current-context'];
    }
    addNamed(merged.clusters, doc['clusters'], 'cluster', base);
    addNamed(merged.users, doc['users'], 'user', base);
    addNamed(merged.contexts, doc['contexts'], 'context', base);
  }
  return merged;
}

function addNamed<T>(into: Map<string, Named<T>>, list: unknown, field: string, base: string): void {
  if (!Array.isArray(list)) return;
  for (const entry of list as unknown[]) {
    if (entry === null || typeof entry !== 'object') continue;
    const { name, [field]: value } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || into.has(name)) continue;
    into.set(name, { name, value: (value ?? {}) as T, base });
  }
}

/** Kubeconfig features this loader leaves to client-node. */
function needsClientNode(cluster: ClusterEntry, user: UserEntry | undefined): boolean {
  return Boolean(cluster['proxy-url'] || user?.exec || user?.['auth-provider'] || user?.username || user?.password);
}

async function clientNodeConnection(options: LoadOptions, source: string): Promise<ClusterConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${source}: no current cluster`);
  const https: RequestOptions = {};
  await kc.applyToHTTPSOptions(https);
  const asBuffer = (v: RequestOptions['ca']): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(Array.isArray(v) ? v.join('\n') : String(v)));
  const tls: TlsMaterial = {
    ...(https.ca ? { ca: asBuffer(https.ca) } : {}),
    ...(https.cert ? { cert: asBuffer(https.cert) } : {}),
    ...(https.key ? { key: asBuffer(https.key as RequestOptions['ca']) } : {}),
    ...(https.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    ...(https.servername ? { servername: https.servername } : {}),
  };
  return {
    server: trimSlash(cluster.server),
    tls,
    ...(cluster.caFile ? { caFile: cluster.caFile } : {}),
    source,
    headers: async () => {
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(opts.headers ?? {})) {
        if (value !== undefined) out[key] = Array.isArray(value) ? value.join(', ') : String(value);
      }
      if (typeof opts.auth === 'string' && opts.auth !== '') out['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      return out;
    },
  };
}

function inClusterConnection(env: NodeJS.ProcessEnv, saDir: string): ClusterConnection | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  const tokenFile = join(saDir, 'token');
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  const caFile = join(saDir, 'ca.crt');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    tls: existsSync(caFile) ? { ca: readFileSync(caFile) } : {},
    ...(existsSync(caFile) ? { caFile } : {}),
    headers: fileBearer(tokenFile),
    source: 'in-cluster',
  };
}

function material(field: 'ca' | 'cert' | 'key', data: string | undefined, file: string | undefined): Partial<Record<typeof field, Buffer>> {
  if (data) return { [field]: Buffer.from(data, 'base64') };
  if (file) {
    try {
      return { [field]: readFileSync(file) };
    } catch (error) {
      throw new Error(`kubeconfig: cannot read ${field === 'ca' ? 'certificate-authority' : field === 'cert' ? 'client-certificate' : 'client-key'} ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  return {};
}

function staticBearer(token: string): () => Promise<Record<string, string>> {
  const headers = { Authorization: `Bearer ${token}` };
  return async () => headers;
}

/** A bearer token read from a file, re-read once a minute (a projected token rotates). */
function fileBearer(path: string): () => Promise<Record<string, string>> {
  let cached: { headers: Record<string, string>; readAt: number } | undefined;
  return async () => {
    const now = Date.now();
    if (cached && now - cached.readAt < TOKEN_FILE_TTL_MS) return cached.headers;
    const token = (await readFile(path, 'utf8')).trim();
    cached = { headers: { Authorization: `Bearer ${token}` }, readAt: now };
    return cached.headers;
  };
}

function resolvePath(base: string, path: string): string {
  return isAbsolute(path) ? path : join(base, path);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function withServer(connection: ClusterConnection, server: string | undefined): ClusterConnection {
  return server ? { ...connection, server: trimSlash(server) } : connection;
}
