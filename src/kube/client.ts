/**
 * A small REST client for the Kubernetes API server; credentials come from
 * {@link loadConnection} (kubeconfig or in-cluster service account).
 *
 * Why not the generated API classes: they default patches to content types custom
 * resources reject, return error bodies as raw strings, and (in 2.0) build a new
 * undici agent for every request. This client keeps one connection pool per client,
 * sets the content type on every write explicitly, and turns every failure into a
 * {@link KubeApiError} in one place.
 *
 * Connections are HTTP/1.1 (Node's `https` agent, transport.ts: undici is not loaded)
 * so that the informer's watchdog, by aborting a silent watch, also discards its broken
 * connection.
 *
 * Limitations: client certificates are read once, at construction; token files are
 * re-read once a minute and exec plugins asked on every request, so projected
 * service-account tokens rotate correctly.
 */
import { loadConnection, type ClusterConnection, type LoadOptions } from './kubeconfig.ts';
import { KubeApiError, parseApiError, transportError } from './errors.ts';
import { HttpTransport, type HttpResponse } from './transport.ts';
import { resourcePath, type ObjectRef, type ResourceType } from './resources.ts';
import type { KubeObject, KubeList } from './types.ts';

/** Patch flavours, with their `Content-Type`. */
export const PatchType = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = keyof typeof PatchType;

export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Whole-request timeout in ms (default 30,000; watches pass their own signal). */
  readonly timeoutMs?: number;
}

export interface ListOptions {
  readonly namespace?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  readonly limit?: number | undefined;
  readonly continue?: string | undefined;
  readonly resourceVersion?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface ApplyOptions {
  /** Field manager that owns the applied fields. */
  readonly fieldManager: string;
  /** Take ownership of fields other managers hold (default true, as controllers do). */
  readonly force?: boolean;
  /** `status` to apply to the status subresource. */
  readonly subresource?: 'status';
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface DeleteOptions {
  readonly propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly gracePeriodSeconds?: number;
  readonly signal?: AbortSignal;
}

/** Answers of `/api` and `/apis/<group>/<version>` discovery, cached per client. */
interface DiscoveredResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export class KubeClient {
  /** Where the API server is and how this client authenticates to it. */
  readonly connection: ClusterConnection;
  readonly server: string;
  private readonly transport: HttpTransport;
  private readonly discovery = new Map<string, Promise<readonly DiscoveredResource[]>>();

  readonly userAgent: string;

  private constructor(connection: ClusterConnection, userAgent: string) {
    this.connection = connection;
    this.server = connection.server;
    this.userAgent = userAgent;
    this.transport = new HttpTransport({ tls: connection.tls });
  }

  /**
   * A client for `kubeconfig` (a path), or the default chain (`KUBECONFIG`,
   * ~/.kube/config, in-cluster). `userAgent` names the caller in the API server's
   * audit log (default `manyfold/<version>`); `server` overrides the cluster's URL
   * (a proxy in front of it).
   */
  static async create(options: Pick<LoadOptions, 'kubeconfig' | 'context' | 'server'> & { userAgent?: string | undefined } = {}): Promise<KubeClient> {
    return new KubeClient(await loadConnection(options), options.userAgent ?? 'manyfold/0.1.0');
  }

  /** Closes the connection pool. The client is unusable afterwards. */
  close(): Promise<void> {
    this.transport.close();
    return Promise.resolve();
  }

  /** Sends one request and returns the parsed JSON body (undefined when empty). */
  async request<T = unknown>(options: KubeRequest): Promise<T> {
    const { response, label } = await this.send(options);
    const text = await response.text();
    if (!response.ok) throw parseApiError(response.status, text, label, response.header('retry-after'));
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** GETs a plain-text endpoint (`/readyz`, `/livez`) and returns its body. */
  async requestText(path: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const { response, label } = await this.send({ method: 'GET', path, ...options });
    const text = await response.text();
    if (!response.ok) throw parseApiError(response.status, text, label, response.header('retry-after'));
    return text;
  }

  /**
   * Sends one request and returns the open response (for watches and logs): the caller
   * owns the body and must consume or cancel it. Non-2xx answers throw.
   */
  async stream(options: KubeRequest): Promise<HttpResponse> {
    const { response, label } = await this.send({ ...options, timeoutMs: options.timeoutMs ?? 0 });
    if (!response.ok) {
      const text = await response.text();
      throw parseApiError(response.status, text, label, response.header('retry-after'));
    }
    return response;
  }

  private async send(options: KubeRequest) {
    const url = new URL(this.server + options.path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const label = `${options.method} ${options.path}`;
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent, ...(await this.connection.headers()) };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    try {
      const response = await this.transport.send(url, {
        method: options.method,
        headers,
        body,
        signal: signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals),
      });
      return { response, label };
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      throw transportError(label, error);
    }
  }

  // --- typed helpers -------------------------------------------------------------

  async get<T extends KubeObject = KubeObject>(type: ResourceType, name: string, namespace?: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>({ method: 'GET', path: resourcePath(type, { namespace, name }), ...opt('signal', signal) });
  }

  /** Like {@link get}, but `undefined` when the object does not exist. */
  async getOrUndefined<T extends KubeObject = KubeObject>(type: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(type, name, namespace);
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject = KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>({
      method: 'GET',
      path: resourcePath(type, { namespace: options.namespace }),
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
      },
      ...opt('signal', options.signal),
    });
  }

  /** Lists every page (500 objects per request) and returns all items. */
  async listAll<T extends KubeObject = KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<KubeList<T>> {
    let page = await this.list<T>(type, { ...options, limit: options.limit ?? 500 });
    const items = [...page.items];
    while (page.metadata?.continue) {
      page = await this.list<T>(type, { ...options, limit: options.limit ?? 500, continue: page.metadata.continue });
      items.push(...page.items);
    }
    return { ...page, items };
  }

  async create<T extends KubeObject = KubeObject>(type: ResourceType, object: KubeObject, options: { fieldManager?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>({
      method: 'POST',
      path: resourcePath(type, { namespace: object.metadata?.namespace }),
      query: { fieldManager: options.fieldManager },
      body: object,
      ...opt('signal', options.signal),
    });
  }

  async replace<T extends KubeObject = KubeObject>(type: ResourceType, object: KubeObject, options: { subresource?: 'status'; signal?: AbortSignal } = {}): Promise<T> {
    const ref = refOf(object);
    return this.request<T>({
      method: 'PUT',
      path: resourcePath(type, { ...ref, subresource: options.subresource }),
      body: object,
      ...opt('signal', options.signal),
    });
  }

  async patch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    ref: ObjectRef,
    patch: unknown,
    options: { type: PatchType; fieldManager?: string; force?: boolean; subresource?: 'status'; signal?: AbortSignal },
  ): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: resourcePath(type, { ...ref, subresource: options.subresource }),
      query: { fieldManager: options.fieldManager, force: options.type === 'apply' ? (options.force ?? true) : undefined },
      body: patch,
      contentType: PatchType[options.type],
      ...opt('signal', options.signal),
    });
  }

  /** Server-side apply of a whole object (its `apiVersion` and `kind` pick the resource). */
  async apply<T extends KubeObject = KubeObject>(object: KubeObject, options: ApplyOptions): Promise<T> {
    const type = await this.resourceFor(object.apiVersion, object.kind);
    return this.request<T>({
      method: 'PATCH',
      path: resourcePath(type, { ...refOf(object), subresource: options.subresource }),
      query: { fieldManager: options.fieldManager, force: options.force ?? true, dryRun: options.dryRun ? 'All' : undefined },
      body: object,
      contentType: PatchType.apply,
      ...opt('signal', options.signal),
    });
  }

  async delete(type: ResourceType, ref: ObjectRef, options: DeleteOptions = {}): Promise<void> {
    await this.request({
      method: 'DELETE',
      path: resourcePath(type, ref),
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
        ...(options.preconditions ? { preconditions: options.preconditions } : {}),
        ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
      },
      ...opt('signal', options.signal),
    });
  }

  /** Deletes and ignores NotFound; returns whether something was deleted. */
  async deleteIfExists(type: ResourceType, ref: ObjectRef, options: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.delete(type, ref, options);
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return false;
      throw error;
    }
  }

  /**
   * Resolves `apiVersion` + `kind` to a resource through discovery (cached per group
   * version; a miss refreshes the cache once, so CRDs installed later are found).
   */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceType> {
    const found = await this.lookup(apiVersion, kind, false) ?? await this.lookup(apiVersion, kind, true);
    if (!found) {
      throw new KubeApiError({
        code: 404,
        reason: 'NotFound',
        message: `the server has no resource for kind ${kind} in ${apiVersion}`,
        request: `discovery ${apiVersion}`,
      });
    }
    return found;
  }

  private async lookup(apiVersion: string, kind: string, refresh: boolean): Promise<ResourceType | undefined> {
    if (refresh) this.discovery.delete(apiVersion);
    let pending = this.discovery.get(apiVersion);
    if (!pending) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      pending = this.request<{ resources: DiscoveredResource[] }>({ method: 'GET', path })
        .then((list) => list.resources.filter((r) => !r.name.includes('/')))
        .catch((error: unknown) => {
          this.discovery.delete(apiVersion);
          if (error instanceof KubeApiError && error.code === 404) return [];
          throw error;
        });
      this.discovery.set(apiVersion, pending);
    }
    const resource = (await pending).find((r) => r.kind === kind);
    if (!resource) return undefined;
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    return { group, version, plural: resource.name, kind, namespaced: resource.namespaced };
  }
}

function refOf(object: KubeObject): ObjectRef {
  const name = object.metadata?.name;
  if (!name) throw new Error(`${object.kind} has no metadata.name`);
  return { name, namespace: object.metadata?.namespace };
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
