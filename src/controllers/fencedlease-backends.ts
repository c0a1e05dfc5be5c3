/**
 * The FencedLease controller's view of etcd for one leadership term: which FencedLease
 * uses which etcd configuration (the clients themselves live in the pool,
 * fencedlease-clients.ts), one `observe()` watch per FencedLease, which enqueues the
 * object's key whenever its holder changes in etcd, and the revoke each FencedLease
 * still has pending (see the decider).
 *
 * Lifecycle: {@link LeaseBackends.source} is the controller's event source. It runs for
 * the length of a leadership term; when its signal aborts it stops every watch and closes
 * every client, so nothing outlives the term. Reconciles register interest
 * (`client`, `watch`) and release it (`forget`) when the object is gone.
 *
 * Guarantees: at most `maxLeases` FencedLeases are tracked (further ones are refused with
 * an error, counted in `stats().refused`); at most one watch per FencedLease; a client is
 * closed when its last user moves to another configuration or is forgotten.
 *
 * Status memory lives in one place, the term's writer (`FencedWriter.statusOf`, read
 * through the shell's `ctx.status`): a holder change seen by the etcd watch right after a
 * revoke must not meet a cached status without the nonce just recorded. The uids whose
 * finalizer was removed are remembered by the shell (runtime/shell.ts).
 *
 * Limitations: pending revokes live in memory and are lost with the term (at most once,
 * see the decider); a watch that keeps failing is restarted with backoff up to 30 s.
 */
import { type Clock, SystemClock } from '../legos/clock.ts';
import { BackoffPolicy } from '../legos/retry.ts';
import type { LeaseClient, LeaseObservation } from '../legos/lease/index.ts';
import type { PendingRevoke } from '../reconcilers/fencedlease.ts';
import type { Source } from '../runtime/controller.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { EtcdClientPool, type EtcdClientPoolOptions, type PoolTerm } from './fencedlease-clients.ts';
import type { BackendConfig } from './fencedlease-credentials.ts';

export { DEFAULT_PROBE_INTERVAL_MS } from './fencedlease-clients.ts';

/** Default cap on FencedLeases tracked at once. */
export const DEFAULT_MAX_LEASES = 10_000;
/** Restarts of a failed lease watch: 1 s doubling to 30 s. */
const WatchRestartBackoff = new BackoffPolicy({ initialDelayMs: 1000, multiplier: 2, maxDelayMs: 30_000, group: 'fencedlease_watch' });

/** The client pool's options (see fencedlease-clients.ts), plus the cap on FencedLeases. */
export interface LeaseBackendsOptions extends Partial<Omit<EtcdClientPoolOptions, 'probeTarget'>> {
  /** Most FencedLeases tracked at once. @default {@link DEFAULT_MAX_LEASES} */
  readonly maxLeases?: number | undefined;
}

interface LeaseEntry {
  configId: string;
  watch: { readonly name: string; readonly dir: string; readonly stop: AbortController } | undefined;
  pending: PendingRevoke | undefined;
}

/** Thrown when the registry is asked for a client outside a leadership term. */
export class NotLeadingError extends Error {
  override readonly name = 'NotLeadingError';
}

export class LeaseBackends {
  readonly #pool: EtcdClientPool;
  readonly #leases = new Map<string, LeaseEntry>();
  readonly #maxLeases: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  #term: PoolTerm | undefined;
  #refused = 0;
  #watchRestarts = 0;

  constructor(options: LeaseBackendsOptions = {}) {
    this.#maxLeases = options.maxLeases ?? DEFAULT_MAX_LEASES;
    this.#clock = options.clock ?? SystemClock;
    this.#log = options.log ?? silentLogger;
    this.#pool = new EtcdClientPool({
      createClient: options.createClient,
      clientDefaults: options.clientDefaults,
      probeIntervalMs: options.probeIntervalMs,
      probeTarget: (user) => this.#leases.get(user)?.watch,
      clock: this.#clock,
      log: this.#log,
    });
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
      await this.#pool.drain();
    }
  };

  /** Counts for metrics and tests. */
  stats(): { clients: number; leases: number; watches: number; refused: number; watchRestarts: number } {
    let watches = 0;
    for (const entry of this.#leases.values()) if (entry.watch) watches++;
    return { clients: this.#pool.size, leases: this.#leases.size, watches, refused: this.#refused, watchRestarts: this.#watchRestarts };
  }

  /**
   * The client of `config` for FencedLease `objectKey`, created when missing; moves the
   * object from any configuration it used before (closing that client if now unused).
   * Throws {@link NotLeadingError} outside a term, an Error past `maxLeases`, and the
   * client library's `LeaseConfigError` for unusable options.
   */
  client(objectKey: string, config: BackendConfig): LeaseClient {
    const term = this.#term;
    if (!term) throw new NotLeadingError('not leading: no etcd clients outside a leadership term');
    let lease = this.#leases.get(objectKey);
    if (!lease) {
      if (this.#leases.size >= this.#maxLeases) {
        this.#refused++;
        throw new Error(`too many FencedLeases tracked (${this.#maxLeases}); ${objectKey} is not observed`);
      }
      lease = { configId: config.id, watch: undefined, pending: undefined };
      this.#leases.set(objectKey, lease);
    } else if (lease.configId !== config.id) {
      this.#stopWatch(lease);
      this.#pool.release(lease.configId, objectKey);
      lease.configId = config.id;
    }
    return this.#pool.use(config, objectKey, term);
  }

  /** The client `objectKey` last used, if still open (clean-up when its Secrets are gone). */
  lastClient(objectKey: string): LeaseClient | undefined {
    const lease = this.#leases.get(objectKey);
    return lease ? this.#pool.client(lease.configId) : undefined;
  }

  /**
   * Reads the holder of `objectKey`'s lease through its client (call `client` first).
   * While its backend is failing and another call is already probing it, rejects at once
   * with the last `LeaseUnavailableError` instead of waiting for another timeout.
   */
  async inspect(objectKey: string, name: string, dir: string): Promise<LeaseObservation> {
    const lease = this.#leases.get(objectKey);
    const observation = lease ? await this.#pool.read(lease.configId, name, dir, this.#term) : undefined;
    if (!observation) throw new NotLeadingError(`no etcd client registered for ${objectKey}`);
    return observation;
  }

  /** Ensures one watch of lease `name` under `dir` for `objectKey`, enqueuing it on every holder change. */
  watch(objectKey: string, name: string, dir: string): void {
    const term = this.#term;
    const lease = this.#leases.get(objectKey);
    const client = lease ? this.#pool.client(lease.configId) : undefined;
    if (!term || !lease || !client) return;
    if (lease.watch && lease.watch.name === name && lease.watch.dir === dir) return;
    this.#stopWatch(lease);
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, term.signal]);
    lease.watch = { name, dir, stop };
    void this.#observe(client, objectKey, name, dir, signal, term.enqueue);
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

  /** Stops tracking `objectKey`: its watch stops and its client closes if no one else uses it. */
  async forget(objectKey: string): Promise<void> {
    this.#release(objectKey);
    await this.#pool.drain();
  }

  #release(objectKey: string): void {
    const lease = this.#leases.get(objectKey);
    if (!lease) return;
    this.#stopWatch(lease);
    this.#leases.delete(objectKey);
    this.#pool.release(lease.configId, objectKey);
  }

  #stopWatch(lease: LeaseEntry): void {
    lease.watch?.stop.abort();
    lease.watch = undefined;
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
