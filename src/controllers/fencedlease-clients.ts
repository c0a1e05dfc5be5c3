/**
 * The FencedLease controller's etcd client pool, for one leadership term: one lease
 * client per distinct etcd configuration (endpoints + credentials), created on first
 * use and closed once its last user (a FencedLease key) leaves; a health probe per
 * client; reads throttled while a backend fails.
 *
 * Health: the library's watches retry an unreachable etcd silently, so each client also
 * gets a probe: every `probeIntervalMs` (default 5 s) one read of a lease directory its
 * users already read (so etcd permissions suffice). Whenever a read (the probe's or a
 * reconcile's) flips the client's health — fails after a success, or works after a
 * failure — every user of the client is enqueued, so `EtcdUnavailable` and the recovery
 * show within seconds, not at the next refresh. That is one small read per etcd
 * configuration, not per lease.
 *
 * Guarantees: at most one client and one probe per configuration in use; a client is
 * closed when its last user leaves. While a backend is failing, at most one read per
 * second (and one at a time) goes to it; the other reads get the last error at once, so
 * an etcd that swallows packets holds one worker, not all of them.
 *
 * Limitations: the pool does not bound the number of configurations itself; its owner
 * (fencedlease-backends.ts) bounds the users.
 */
import { type Clock, SystemClock } from '../legos/clock.ts';
import { LeaseUnavailableError, createLeaseClient, type LeaseClient, type LeaseClientOptions, type LeaseObservation } from '../legos/lease/index.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import type { BackendConfig } from './fencedlease-credentials.ts';

/** Default health probe interval of each etcd client, ms. */
export const DEFAULT_PROBE_INTERVAL_MS = 5000;
/** While a backend fails, at most one real read per this many ms. */
const FAILING_READ_INTERVAL_MS = 1000;

/** The leadership term the pool serves: probes stop with `signal`; health flips `enqueue` users. */
export interface PoolTerm {
  readonly signal: AbortSignal;
  readonly enqueue: (key: string) => void;
}

export interface EtcdClientPoolOptions {
  /** Builds a lease client (tests pass a fake). @default createLeaseClient */
  readonly createClient?: ((options: LeaseClientOptions) => LeaseClient) | undefined;
  /** Merged into every client's options (e.g. `requestTimeoutMs`). */
  readonly clientDefaults?: Partial<LeaseClientOptions> | undefined;
  /** Health probe interval per client, ms; 0 disables. @default {@link DEFAULT_PROBE_INTERVAL_MS} */
  readonly probeIntervalMs?: number | undefined;
  /** The lease a user reads (the probe reads one of its users'), if known. */
  readonly probeTarget: (user: string) => { readonly name: string; readonly dir: string } | undefined;
  readonly clock?: Clock | undefined;
  readonly log?: Logger | undefined;
}

interface ClientEntry {
  readonly client: LeaseClient;
  readonly users: Set<string>;
  /** The last unavailability seen, cleared by the next success. */
  failure: LeaseUnavailableError | undefined;
  /** Calls to etcd in flight through `read`. */
  inFlight: number;
  /** Monotonic ms of the last read that went to etcd. */
  lastReadAt: number;
  /** Stops the probe when the client closes. */
  readonly stop: AbortController;
}

export class EtcdClientPool {
  readonly #clients = new Map<string, ClientEntry>();
  readonly #options: EtcdClientPoolOptions;
  readonly #probeIntervalMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  #closing: Promise<void>[] = [];

  constructor(options: EtcdClientPoolOptions) {
    this.#options = options;
    this.#probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.#clock = options.clock ?? SystemClock;
    this.#log = options.log ?? silentLogger;
  }

  /** Clients open now. */
  get size(): number {
    return this.#clients.size;
  }

  /** The client of `config` for `user`, created (with its probe) when missing. Throws the library's `LeaseConfigError` for unusable options. */
  use(config: BackendConfig, user: string, term: PoolTerm): LeaseClient {
    let entry = this.#clients.get(config.id);
    if (!entry) {
      const client = (this.#options.createClient ?? createLeaseClient)({ ...(this.#options.clientDefaults ?? {}), ...config.options });
      entry = { client, users: new Set(), failure: undefined, inFlight: 0, lastReadAt: -Infinity, stop: new AbortController() };
      this.#clients.set(config.id, entry);
      this.#log.info({ event: 'etcd_client_created', config: config.id }, 'etcd client created');
      if (this.#probeIntervalMs > 0) void this.#probe(entry, config.id, term);
    }
    entry.users.add(user);
    return entry.client;
  }

  /** The client of configuration `configId`, if open. */
  client(configId: string): LeaseClient | undefined {
    return this.#clients.get(configId)?.client;
  }

  /** `user` leaves configuration `configId`; the client closes when it was the last. */
  release(configId: string, user: string): void {
    const entry = this.#clients.get(configId);
    if (!entry) return;
    entry.users.delete(user);
    if (entry.users.size > 0) return;
    this.#clients.delete(configId);
    entry.stop.abort();
    const closing = entry.client.close().catch((error: unknown) => {
      this.#log.warn({ event: 'etcd_client_close_failed', config: configId, err: error instanceof Error ? error.message : String(error) }, 'closing an etcd client failed');
    });
    this.#closing.push(closing);
    void closing.finally(() => {
      this.#closing = this.#closing.filter((p) => p !== closing);
    });
    this.#log.info({ event: 'etcd_client_closed', config: configId }, 'etcd client closed: no FencedLease uses it');
  }

  /** Resolves once every client being closed is closed. */
  async drain(): Promise<void> {
    await Promise.all(this.#closing);
  }

  /**
   * Reads lease `name` under `dir` through the client of `configId`. While its backend is
   * failing and another call is already probing it, rejects at once with the last
   * `LeaseUnavailableError` instead of waiting for another timeout.
   */
  async read(configId: string, name: string, dir: string, term: PoolTerm | undefined): Promise<LeaseObservation | undefined> {
    const entry = this.#clients.get(configId);
    if (!entry) return undefined;
    const now = this.#clock.monotonic();
    if (entry.failure && (entry.inFlight > 0 || now - entry.lastReadAt < FAILING_READ_INTERVAL_MS)) throw entry.failure;
    entry.inFlight++;
    entry.lastReadAt = now;
    try {
      const observation = await entry.client.inspect(name, { key: dir });
      this.#setHealth(entry, configId, undefined, term);
      return observation;
    } catch (error) {
      if (error instanceof LeaseUnavailableError) this.#setHealth(entry, configId, error, term);
      throw error;
    } finally {
      entry.inFlight--;
    }
  }

  /** Records a read's outcome; when the client's health flips, enqueues every user of it. */
  #setHealth(entry: ClientEntry, configId: string, failure: LeaseUnavailableError | undefined, term: PoolTerm | undefined): void {
    const flipped = (entry.failure === undefined) !== (failure === undefined);
    entry.failure = failure;
    if (!flipped) return;
    this.#log.warn(
      { event: failure ? 'etcd_unavailable' : 'etcd_available', config: configId, users: entry.users.size, err: failure?.message },
      failure ? 'etcd unreachable' : 'etcd answers again',
    );
    if (term && !entry.stop.signal.aborted) for (const key of entry.users) term.enqueue(key);
  }

  /** Reads one user's lease every interval (a flip of health enqueues every user, see `#setHealth`). */
  async #probe(entry: ClientEntry, configId: string, term: PoolTerm): Promise<void> {
    const signal = AbortSignal.any([entry.stop.signal, term.signal]);
    while (!signal.aborted) {
      await this.#clock.sleep(this.#probeIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      let target: { readonly name: string; readonly dir: string } | undefined;
      for (const user of entry.users) {
        target = this.#options.probeTarget(user);
        if (target) break;
      }
      if (target) await this.read(configId, target.name, target.dir, term).catch(() => undefined);
    }
  }
}
