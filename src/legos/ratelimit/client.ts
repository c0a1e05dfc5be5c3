/**
 * `createRateLimiter`: enforce one limit of a `RatePolicy` in this process. The
 * operator splits the policy's Global limits into per-pod shares and publishes them;
 * this client watches them, enforces this pod's share with per-key token buckets
 * (limiter.ts: no I/O on the request path), acknowledges each version it receives and,
 * for Demand-mode limits, reports its demand (transport.ts says where and why).
 *
 * ```ts
 * const limiter = await createRateLimiter({ namespace: 'shop', policy: 'partner-api', limit: 'calls', podName: process.env.POD_NAME! });
 * if (!limiter.tryTake(customerId)) return reply429(limiter.retryAfterSeconds(customerId));
 * ```
 *
 * Guarantees: decisions are local (a Map lookup and a bucket update); the share in
 * force follows reconcilers/ratepolicy-protocol.ts, so together with the operator
 * the pods never enforce more than the limit, while they move; when the operator or
 * the API server is unreachable the last share holds until it lapses, then the
 * limit's fallback (default 0) applies, with a warning log (`share_lapsed`) and the
 * metric `manyfold_ratelimit_lapsed` at 1. A limit the policy does not have is an
 * error naming the limits it has ({@link RateLimitNotFoundError}).
 *
 * Reports: at most one write per `refreshIntervalMs` (the policy's
 * `refreshIntervalMilliseconds`, default 1 s), and only for a version not yet
 * acknowledged or demand that moved by more than 10 % (and 1 request/s).
 *
 * Limitations: one limiter per (pod, policy, limit) — the share is per pod, so two
 * processes in one pod must use distinct `podName`s that the policy's selector does
 * not know (they would get nothing); until the first grant the fallback applies.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Gauge, type Registry } from 'prom-client';
import { KubeClient } from '../../kube/client.ts';
import { pino, type Logger } from 'pino';
import { SystemClock, type Clock } from '../clock.ts';
import { BackoffPolicy } from '../retry.ts';
import type { SharesDocument } from './document.ts';
import { RateLimiterCore, type LimiterEvent, type ShareInForce, type TakeOptions } from './limiter.ts';
import { kubeTransport, type SharesTransport } from './transport.ts';

/** The policy exists but has no limit of that name. */
export class RateLimitNotFoundError extends Error {
  override readonly name = 'RateLimitNotFoundError';
  /** `<namespace>/<policy>`. */
  readonly policy: string;
  readonly limit: string;
  /** The limits the policy has. */
  readonly existing: readonly string[];

  constructor(policy: string, limit: string, existing: readonly string[]) {
    super(`RatePolicy ${policy} has no limit named '${limit}'; its limits are: ${existing.length === 0 ? '(none)' : existing.join(', ')}`);
    this.policy = policy;
    this.limit = limit;
    this.existing = existing;
  }
}

export interface RateLimiterOptions {
  /** Namespace of the RatePolicy (and of this pod). Default: `POD_NAMESPACE`, else the service account's namespace. */
  readonly namespace?: string | undefined;
  /** Name of the RatePolicy. */
  readonly policy: string;
  /** Name of the limit in it. */
  readonly limit: string;
  /** This pod's name, as the policy's selector sees it. Default: `POD_NAME`, else the host name. */
  readonly podName?: string | undefined;
  /** Kubeconfig path; default the usual chain (in-cluster in a pod). Ignored with `transport` or `client`. */
  readonly kubeconfig?: string | undefined;
  /** A client to use (not closed by `close()`). */
  readonly client?: KubeClient | undefined;
  /** Another way to reach the shares (tests, benchmarks). */
  readonly transport?: SharesTransport | undefined;
  /** Bound of the per-key bucket map; default 10,000. */
  readonly maxKeys?: number | undefined;
  readonly clock?: Clock | undefined;
  /** Default: JSON lines on stderr at level `info`. */
  readonly log?: Logger | undefined;
  /** Where to register the `manyfold_ratelimit_*` metrics (none when omitted). */
  readonly registry?: Registry | undefined;
  /** How long `createRateLimiter` waits for the first read, ms. Default 10,000. */
  readonly startTimeoutMs?: number | undefined;
  /**
   * How long `close()` waits for a version that no longer grants this pod anything (the
   * operator publishes one once the pod is not Ready or is being deleted), so that its
   * acknowledgement returns the share to the others at once instead of after the lapse.
   * Default 3,000 ms; 0 closes at once.
   */
  readonly closeTimeoutMs?: number | undefined;
}

/** A running limiter. */
export interface RateLimiter {
  /** Takes `n` tokens (default 1) for `key` if available now. Never waits, never does I/O. */
  tryTake(key: string, n?: number): boolean;
  /** Takes `n` tokens for `key`, waiting its turn but never longer than `maxWaitMs`; false when that is not enough. */
  take(key: string, n?: number, options?: TakeOptions): Promise<boolean>;
  /** Seconds until `n` tokens of `key` could be taken (for `Retry-After`), at least 1. */
  retryAfterSeconds(key: string, n?: number): number;
  /** The share enforced now. */
  share(): ShareInForce;
  /**
   * Stops watching and reporting: waits up to `closeTimeoutMs` for a version without this
   * pod's grant, then writes a last report when one is pending. Call it on SIGTERM.
   */
  close(): Promise<void>;
}

function defaultNamespace(): string {
  const env = process.env.POD_NAMESPACE;
  if (env) return env;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return 'default';
  }
}

/**
 * Starts a limiter: reads the published shares once (rejecting with
 * {@link RateLimitNotFoundError} when the policy lacks the limit), then watches and
 * reports in the background until `close()`. A policy whose shares are not published
 * yet is not an error: the fallback applies until they are.
 */
export async function createRateLimiter(options: RateLimiterOptions): Promise<RateLimiter> {
  const clock = options.clock ?? SystemClock;
  const namespace = options.namespace ?? defaultNamespace();
  const podName = options.podName ?? process.env.POD_NAME ?? hostname();
  const log = (options.log ?? pino({ base: { logger: 'manyfold-ratelimit' }, timestamp: pino.stdTimeFunctions.isoTime }, process.stderr)).child({ policy: `${namespace}/${options.policy}`, limit: options.limit, pod: podName });
  const ownClient = options.transport === undefined && options.client === undefined ? await KubeClient.create({ kubeconfig: options.kubeconfig }) : undefined;
  const transport = options.transport ?? kubeTransport({ client: (options.client ?? ownClient)!, namespace, policy: options.policy, podName });
  const stop = new AbortController();

  let missing: RateLimitNotFoundError | undefined;
  const onEvent = (event: LimiterEvent) => {
    if (event.event === 'share_lapsed') log.warn({ event: 'share_lapsed', expiredAt: new Date(event.expiredAtMs).toISOString(), fallbackRps: event.share.requestsPerSecond }, 'no fresh shares from the operator: falling back');
    else if (event.event === 'limit_missing') {
      missing = new RateLimitNotFoundError(`${namespace}/${options.policy}`, event.limit, event.existing);
      log.error({ event: 'limit_missing', existing: event.existing }, missing.message);
    } else if (event.previous.state === 'lapsed' && event.share.state === 'granted') log.info({ event: 'share_restored', rps: event.share.requestsPerSecond }, 'fresh shares again');
    else log.debug({ event: 'share_changed', state: event.share.state, rps: event.share.requestsPerSecond, version: event.share.version }, 'share changed');
  };
  const core = new RateLimiterCore({ policy: options.policy, limit: options.limit, podName, clock, maxKeys: options.maxKeys, onEvent });
  if (options.registry) registerMetrics(options.registry, core, { policy: `${namespace}/${options.policy}`, limit: options.limit });

  // reporting state
  let received = 0; // newest version received
  let reported = -1;
  let reportedDemand = 0;
  let lastWrite = Number.NEGATIVE_INFINITY;
  // cuts the report loop's sleep short when a version arrives (acknowledgements are on the transition's critical path)
  let kick = new AbortController();
  const docWaiters = new Set<() => void>();
  const onDocument = (doc: SharesDocument | undefined) => {
    if (doc === undefined) return;
    core.applyDocument(doc);
    if (doc.version > received) {
      received = doc.version;
      kick.abort();
    }
    for (const wake of docWaiters) wake();
  };

  // first read
  const startSignal = AbortSignal.any([stop.signal, AbortSignal.timeout(options.startTimeoutMs ?? 10_000)]);
  let first: Awaited<ReturnType<SharesTransport['read']>>;
  try {
    first = await transport.read(startSignal);
  } catch (error) {
    await ownClient?.close();
    throw new Error(`rate limiter ${namespace}/${options.policy}/${options.limit}: cannot read the published shares`, { cause: error });
  }
  onDocument(first.document);
  if (missing !== undefined) {
    await ownClient?.close();
    throw missing;
  }
  if (first.document === undefined) log.warn({ event: 'shares_not_published' }, 'the RatePolicy has no published shares yet: the fallback applies');

  const backoff = new BackoffPolicy({ initialDelayMs: 200, multiplier: 2, maxDelayMs: 5000, jitter: 'equal' });
  const watchLoop = (async () => {
    let resumeFrom = first.resumeFrom;
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        await transport.watch(resumeFrom, onDocument, stop.signal);
        failures = 0;
      } catch (error) {
        if (stop.signal.aborted) break;
        failures++;
        log.warn({ event: 'watch_failed', err: error }, 'watching the shares failed; reading again');
        await clock.sleep(backoff.delayForAttempt(failures + 1), stop.signal).catch(() => undefined);
      }
      if (stop.signal.aborted) break;
      try {
        const again = await transport.read(stop.signal);
        onDocument(again.document);
        resumeFrom = again.resumeFrom;
      } catch (error) {
        if (stop.signal.aborted) break;
        failures++;
        log.warn({ event: 'read_failed', err: error }, 'reading the shares failed');
        await clock.sleep(backoff.delayForAttempt(failures + 1), stop.signal).catch(() => undefined);
      }
    }
  })();

  const reportDue = (): boolean => {
    const doc = core.document;
    if (doc === undefined) return false;
    if (received > reported) return true;
    const entry = doc.limits.find((l) => l.name === options.limit);
    if (entry?.shareMode !== 'Demand' || entry.scope !== 'Global') return false;
    const demand = core.demand();
    return Math.abs(demand - reportedDemand) > Math.max(1, 0.1 * reportedDemand);
  };
  const writeReport = async (signal: AbortSignal = stop.signal) => {
    const doc = core.document;
    const entry = doc?.limits.find((l) => l.name === options.limit);
    const demand = entry?.shareMode === 'Demand' ? core.demand() : undefined;
    const version = received;
    await transport.report({ version, demand: demand === undefined ? {} : { [options.limit]: demand } }, signal);
    reported = version;
    if (demand !== undefined) reportedDemand = demand;
  };
  const reportLoop = (async () => {
    while (!stop.signal.aborted) {
      const interval = core.document?.refreshIntervalMs ?? 1000;
      const now = clock.monotonic();
      if (reportDue() && now - lastWrite >= interval) {
        lastWrite = now;
        try {
          await writeReport();
        } catch (error) {
          if (stop.signal.aborted) break;
          log.warn({ event: 'report_failed', err: error }, 'writing the report failed');
        }
      }
      const wait = received > reported ? Math.max(1, lastWrite + interval - clock.monotonic()) : interval / 4;
      if (kick.signal.aborted) kick = new AbortController();
      await clock.sleep(wait, AbortSignal.any([stop.signal, kick.signal])).catch(() => undefined);
    }
  })();

  let closed: Promise<void> | undefined;
  return {
    tryTake: (key, n) => core.tryTake(key, n),
    take: (key, n, takeOptions) => core.take(key, n, takeOptions),
    retryAfterSeconds: (key, n) => {
      const ms = core.delayFor(key, n);
      const fallback = (core.document?.refreshIntervalMs ?? 1000) / 1000;
      return Math.max(1, Math.ceil(Number.isFinite(ms) ? ms / 1000 : fallback));
    },
    share: () => core.share(),
    close: () =>
      (closed ??= (async () => {
        // A pod that goes away holds its share until it acknowledges a version without it (or that lapses):
        // wait, briefly, for the operator to publish one, so the others get the share back in one round trip.
        const deadline = clock.monotonic() + (options.closeTimeoutMs ?? 3000);
        const released = () => core.document !== undefined && (core.document.replicas[podName]?.[options.limit]?.[0] ?? 0) === 0;
        while (!released() && clock.monotonic() < deadline) {
          const wake = new AbortController();
          const onDoc = () => wake.abort();
          docWaiters.add(onDoc);
          await clock.sleep(deadline - clock.monotonic(), wake.signal).catch(() => undefined);
          docWaiters.delete(onDoc);
        }
        stop.abort();
        await Promise.allSettled([watchLoop, reportLoop]);
        if (received > reported) {
          // the loops' signal is aborted by now: the last acknowledgement gets its own (bounded) one
          await writeReport(AbortSignal.timeout(5000)).catch((error: unknown) => log.warn({ event: 'report_failed', err: error }, 'last report failed'));
        }
        await ownClient?.close();
      })()),
  };
}

function registerMetrics(registry: Registry, core: RateLimiterCore, labels: { policy: string; limit: string }): void {
  const labelNames = ['policy', 'limit'] as const;
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.set(labels, value());
      },
    });
  gauge('manyfold_ratelimit_share_requests_per_second', 'Share of the limit this pod enforces, per key value', () => core.share().requestsPerSecond);
  gauge('manyfold_ratelimit_lapsed', '1 while the share has lapsed (no fresh shares) and the fallback applies', () => (core.share().state === 'lapsed' ? 1 : 0));
  gauge('manyfold_ratelimit_lapses', 'Times the share lapsed since start', () => core.stats.lapses);
  gauge('manyfold_ratelimit_admitted', 'Decisions that admitted, since start', () => core.stats.admitted);
  gauge('manyfold_ratelimit_denied', 'Decisions that refused, since start', () => core.stats.denied);
  gauge('manyfold_ratelimit_key_evictions', 'Buckets evicted from the bounded key map, since start', () => core.stats.evictions);
  gauge('manyfold_ratelimit_keys', 'Key values holding a bucket', () => core.keys);
}
