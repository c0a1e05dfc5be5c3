/**
 * The FencedLease controller's connections to etcd, for one leadership term: one lease
 * client per distinct etcd configuration (endpoints + credentials), created lazily and
 * closed once no FencedLease uses it; one `observe()` watch per FencedLease, which
 * enqueues the object's key whenever its holder changes in etcd; and the revoke each
 * FencedLease still has pending (see the decider).
 *
 * Lifecycle: {@link LeaseBackends.source} is the controller's event source. It runs for
 * the length of a leadership term; when its signal aborts it stops every watch and closes
 * every client, so nothing outlives the term. Reconciles register interest
 * (`client`, `watch`) and release it (`forget`) when the object is gone.
 *
 * Health: the library's watches retry an unreachable etcd silently, so each client also
 * gets a probe: every `probeIntervalMs` (default 5 s) one read of a lease directory its
 * users already read (so etcd permissions suffice). Whenever a read (the probe's or a
 * reconcile's) flips the client's health — fails after a success, or works after a
 * failure — every FencedLease on it is enqueued, so `EtcdUnavailable` and the recovery
 * show within seconds, not at the next refresh. That is one small read per etcd
 * configuration, not per lease.
 *
 * Guarantees: at most `maxLeases` FencedLeases are tracked (further ones are refused with
 * an error, counted in `stats().refused`); at most one watch per FencedLease and one
 * probe per client; a client is closed when its last user moves to another
 * configuration or is forgotten. While a backend is failing, at most one read per
 * second (and one at a time) goes to it; the other reads get the last error at once, so
 * an etcd that swallows packets holds one worker, not all of them.
 *
 * Status memory: within a term this operator is the only writer of a FencedLease's
 * status, so the last status it wrote (per object uid) is the current one, even while the
 * informer cache still shows an older copy. Reconciles read that memory first: a holder
 * change seen by the etcd watch right after a revoke must not meet a cached status
 * without the nonce just recorded, or the nonce would act again on the successor.
 *
 * The same reasoning makes it remember (bounded) the uids whose finalizer it removed: the
 * watch enqueues the key again after the clean-up deleted the keys, and a cache that
 * still shows the object with its finalizer must not clean up a second time.
 *
 * Limitations: pending revokes and the status memory live in memory and are lost with
 * the term (at most once, see the decider); a watch that keeps failing is restarted with
 * backoff up to 30 s.
 */
import { type Clock, SystemClock } from '../legos/clock.ts';
import { BackoffPolicy } from '../legos/retry.ts';
import { LeaseUnavailableError, createLeaseClient, type LeaseClient, type LeaseClientOptions, type LeaseObservation } from '../legos/lease/index.ts';
import type { FencedLeaseStatus } from '../crds/fencedlease.ts';
import type { PendingRevoke } from '../reconcilers/fencedlease.ts';
import type { Source } from '../runtime/controller.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import type { BackendConfig } from './fencedlease-credentials.ts';

/** Default cap on FencedLeases tracked at once. */
export const DEFAULT_MAX_LEASES = 10_000;
/** Default health probe interval of each etcd client, ms. */
export const DEFAULT_PROBE_INTERVAL_MS = 5000;
/** Uids of finalized objects remembered (oldest forgotten first). */
const MAX_FINALIZED = 1024;
/** Restarts of a failed lease watch: 1 s doubling to 30 s. */
const WatchRestartBackoff = new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: 30_000, group: 'fencedlease_watch' });
/** While a backend fails, at most one real read per this many ms. */
const FAILING_READ_INTERVAL_MS = 1000;

export interface LeaseBackendsOptions {
  /** Builds a lease client (tests pass a fake). Default `createLeaseClient`. */
  readonly createClient?: ((options: LeaseClientOptions) => LeaseClient) | undefined;
  /** Merged into every client's options (e.g. `requestTimeoutMs`). */
  readonly clientDefaults?: Partial<LeaseClientOptions> | undefined;
  /** Most FencedLeases tracked at once. Default {@link DEFAULT_MAX_LEASES}. */
  readonly maxLeases?: number | undefined;
  /** Health probe interval per client, ms; 0 disables. Default {@link DEFAULT_PROBE_INTERVAL_MS}. */
  readonly probeIntervalMs?: number | undefined;
  readonly clock?: Clock | undefined;
  readonly log?: Logger | undefined;
}

interface ClientEntry {
  readonly client: LeaseClient;
  readonly users: Set<string>;
  /** The last unavailability seen, cleared by the next success. */
  failure: LeaseUnavailableError | undefined;
  /** Calls to etcd in flight through `inspect`. */
  inFlight: number;
  /** Monotonic ms of the last read that went to etcd. */
  lastReadAt: number;
  /** Stops the probe when the client closes. */
  readonly stop: AbortController;
}

interface LeaseEntry {
  configId: string;
  watch: { readonly name: string; readonly dir: string; readonly stop: AbortController } | undefined;
  pending: PendingRevoke | undefined;
  /** The status last written for the object with this uid. */
  written: { readonly uid: string; readonly status: FencedLeaseStatus } | undefined;
}

/** Thrown when the registry is asked for a client outside a leadership term. */
export class NotLeadingError extends Error {
  override readonly name = 'NotLeadingError';
}

export class LeaseBackends {
  readonly #clients = new Map<string, ClientEntry>();
  readonly #leases = new Map<string, LeaseEntry>();
  /** Objects whose finalizer this term removed: a lagging cache must not clean them up twice. */
  readonly #finalized = new Set<string>();
  readonly #createClient: (options: LeaseClientOptions) => LeaseClient;
  readonly #clientDefaults: Partial<LeaseClientOptions>;
  readonly #maxLeases: number;
  readonly #probeIntervalMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  #term: { readonly signal: AbortSignal; readonly enqueue: (key: string) => void } | undefined;
  #refused = 0;
  #watchRestarts = 0;
  #closing: Promise<void>[] = [];

  constructor(options: LeaseBackendsOptions = {}) {
    this.#createClient = options.createClient ?? createLeaseClient;
    this.#clientDefaults = options.clientDefaults ?? {};
    this.#maxLeases = options.maxLeases ?? DEFAULT_MAX_LEASES;
    this.#probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.#clock = options.clock ?? SystemClock;
    this.#log = options.log ?? silentLogger;
  }

  /** The controller's event source: owns the term's clients and watches. */
  readonly source: Source = async ({ signal, enqueue }) => {
    if (this.#term) throw new Error('LeaseBackends: a term is already running');
    const term = { signal, enqueue };
    this.#term = term;
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      if (this.#term === term) this.#term = undefined;
      for (const key of [...this.#leases.keys()]) this.#release(key);
      this.#finalized.clear();
      await Promise.all(this.#closing);
      this.#closing = [];
    }
  };

  /** Counts for metrics and tests. */
  stats(): { clients: number; leases: number; watches: number; refused: number; watchRestarts: number } {
    let watches = 0;
    for (const entry of this.#leases.values()) if (entry.watch) watches++;
    return { clients: this.#clients.size, leases: this.#leases.size, watches, refused: this.#refused, watchRestarts: this.#watchRestarts };
  }

  /**
   * The client of `config` for FencedLease `objectKey`, created when missing; moves the
   * object from any configuration it used before (closing that client if now unused).
   * Throws {@link NotLeadingError} outside a term, an Error past `maxLeases`, and the
   * client library's `LeaseConfigError` for unusable options.
   */
  client(objectKey: string, config: BackendConfig): LeaseClient {
    if (!this.#term) throw new NotLeadingError('not leading: no etcd clients outside a leadership term');
    let lease = this.#leases.get(objectKey);
    if (!lease) {
      if (this.#leases.size >= this.#maxLeases) {
        this.#refused++;
        throw new Error(`too many FencedLeases tracked (${this.#maxLeases}); ${objectKey} is not observed`);
      }
      lease = { configId: config.id, watch: undefined, pending: undefined, written: undefined };
      this.#leases.set(objectKey, lease);
    } else if (lease.configId !== config.id) {
      this.#stopWatch(lease);
      this.#unuse(lease.configId, objectKey);
      lease.configId = config.id;
    }
    let entry = this.#clients.get(config.id);
    if (!entry) {
      const client = this.#createClient({ ...this.#clientDefaults, ...config.options });
      entry = { client, users: new Set(), failure: undefined, inFlight: 0, lastReadAt: -Infinity, stop: new AbortController() };
      this.#clients.set(config.id, entry);
      this.#log.info({ event: 'etcd_client_created', config: config.id }, 'etcd client created');
      if (this.#probeIntervalMs > 0) void this.#probe(entry, config.id, AbortSignal.any([entry.stop.signal, this.#term.signal]));
    }
    entry.users.add(objectKey);
    return entry.client;
  }

  /** The client `objectKey` last used, if still open (clean-up when its Secrets are gone). */
  lastClient(objectKey: string): LeaseClient | undefined {
    const lease = this.#leases.get(objectKey);
    return lease ? this.#clients.get(lease.configId)?.client : undefined;
  }

  /**
   * Reads the holder of `objectKey`'s lease through its client (call `client` first).
   * While its backend is failing and another call is already probing it, rejects at once
   * with the last `LeaseUnavailableError` instead of waiting for another timeout.
   */
  async inspect(objectKey: string, name: string, dir: string): Promise<LeaseObservation> {
    const lease = this.#leases.get(objectKey);
    const entry = lease ? this.#clients.get(lease.configId) : undefined;
    if (!entry) throw new NotLeadingError(`no etcd client registered for ${objectKey}`);
    return this.#read(entry, lease?.configId ?? '', name, dir);
  }

  async #read(entry: ClientEntry, configId: string, name: string, dir: string): Promise<LeaseObservation> {
    const now = this.#clock.monotonic();
    if (entry.failure && (entry.inFlight > 0 || now - entry.lastReadAt < FAILING_READ_INTERVAL_MS)) throw entry.failure;
    entry.inFlight++;
    entry.lastReadAt = now;
    try {
      const observation = await entry.client.inspect(name, { key: dir });
      this.#setHealth(entry, configId, undefined);
      return observation;
    } catch (error) {
      if (error instanceof LeaseUnavailableError) this.#setHealth(entry, configId, error);
      throw error;
    } finally {
      entry.inFlight--;
    }
  }

  /** Records a read's outcome; when the client's health flips, enqueues every FencedLease on it. */
  #setHealth(entry: ClientEntry, configId: string, failure: LeaseUnavailableError | undefined): void {
    const flipped = (entry.failure === undefined) !== (failure === undefined);
    entry.failure = failure;
    if (!flipped) return;
    this.#log.warn(
      { event: failure ? 'etcd_unavailable' : 'etcd_available', config: configId, users: entry.users.size, err: failure?.message },
      failure ? 'etcd unreachable' : 'etcd answers again',
    );
    const term = this.#term;
    if (term && !entry.stop.signal.aborted) for (const key of entry.users) term.enqueue(key);
  }

  /** Ensures one watch of lease `name` under `dir` for `objectKey`, enqueuing it on every holder change. */
  watch(objectKey: string, name: string, dir: string): void {
    const term = this.#term;
    const lease = this.#leases.get(objectKey);
    const entry = lease ? this.#clients.get(lease.configId) : undefined;
    if (!term || !lease || !entry) return;
    if (lease.watch && lease.watch.name === name && lease.watch.dir === dir) return;
    this.#stopWatch(lease);
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, term.signal]);
    lease.watch = { name, dir, stop };
    void this.#observe(entry.client, objectKey, name, dir, signal, term.enqueue);
  }

  /** The revoke `objectKey` still has to confirm. */
  pendingRevoke(objectKey: string): PendingRevoke | undefined {
    return this.#leases.get(objectKey)?.pending;
  }

  /** Replaces `objectKey`'s pending revoke (ignored for objects not tracked). */
  setPendingRevoke(objectKey: string, pending: PendingRevoke | undefined): void {
    const lease = this.#leases.get(objectKey);
    if (lease) lease.pending = pending;
  }

  /** Remembers the status just written for `objectKey` (object `uid`); ignored for objects not tracked. */
  rememberStatus(objectKey: string, uid: string, status: FencedLeaseStatus): void {
    const lease = this.#leases.get(objectKey);
    if (lease) lease.written = { uid, status };
  }

  /** The status this term last wrote for `objectKey` if it is still the object with `uid`. */
  writtenStatus(objectKey: string, uid: string): FencedLeaseStatus | undefined {
    const written = this.#leases.get(objectKey)?.written;
    return written?.uid === uid ? written.status : undefined;
  }

  /** Records that the object with `uid` was cleaned up and released (bounded: the oldest 1,024 kept). */
  markFinalized(uid: string): void {
    this.#finalized.add(uid);
    if (this.#finalized.size > MAX_FINALIZED) this.#finalized.delete(this.#finalized.values().next().value as string);
  }

  /** True when this term already cleaned up the object with `uid` (the cache may still show it). */
  wasFinalized(uid: string): boolean {
    return this.#finalized.has(uid);
  }

  /** Stops tracking `objectKey`: its watch stops and its client closes if no one else uses it. */
  async forget(objectKey: string): Promise<void> {
    this.#release(objectKey);
    await Promise.all(this.#closing);
  }

  #release(objectKey: string): void {
    const lease = this.#leases.get(objectKey);
    if (!lease) return;
    this.#stopWatch(lease);
    this.#leases.delete(objectKey);
    this.#unuse(lease.configId, objectKey);
  }

  #stopWatch(lease: LeaseEntry): void {
    lease.watch?.stop.abort();
    lease.watch = undefined;
  }

  #unuse(configId: string, objectKey: string): void {
    const entry = this.#clients.get(configId);
    if (!entry) return;
    entry.users.delete(objectKey);
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

  /** Reads one user's lease every interval (a flip of health enqueues every user, see `#setHealth`). */
  async #probe(entry: ClientEntry, configId: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#clock.sleep(this.#probeIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      let target: { name: string; dir: string } | undefined;
      for (const key of entry.users) {
        target = this.#leases.get(key)?.watch;
        if (target) break;
      }
      if (target) await this.#read(entry, configId, target.name, target.dir).catch(() => undefined);
    }
  }

  async #observe(client: LeaseClient, objectKey: string, name: string, dir: string, signal: AbortSignal, enqueue: (key: string) => void): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        for await (const _observation of client.observe(name, { key: dir, signal })) {
          failures = 0;
          enqueue(objectKey);
        }
        return;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#watchRestarts++;
        this.#log.warn({ event: 'lease_watch_failed', key: objectKey, failures, err: error instanceof Error ? error.message : String(error) }, 'lease watch failed; restarting');
        enqueue(objectKey);
        await this.#clock.sleep(WatchRestartBackoff.delayAfterFailures(failures), signal).catch(() => undefined);
      }
    }
  }
}
