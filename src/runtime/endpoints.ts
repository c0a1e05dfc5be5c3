/**
 * The manager's probe and metrics endpoints as a {@link Runnable}: binds them when
 * started, closes them when its signal aborts. `/readyz` is ready when every informer
 * has synced; `/healthz` when the event loop turns (it answers at all). `/metrics` is
 * plain HTTP to anyone, or, with {@link EndpointsOptions.secureMetrics}, HTTPS only to
 * callers the API server authenticates (TokenReview) and authorizes to get
 * `/metrics` (SubjectAccessReview; metrics-auth.ts), as controller-runtime's secure
 * metrics do. The HTTP details are in http.ts.
 *
 * Limitations: a bind address of `0` disables that endpoint; a bind failure rejects
 * `listening` and `start`.
 */
import type { Registry } from 'prom-client';
import { serveMetrics, serveProbes, type Endpoint } from './http.ts';
import type { MetricsAuthorizer } from './metrics-auth.ts';
import type { Runnable } from './runnable.ts';

export interface EndpointsOptions {
  /** Probe address (`:8081`, `127.0.0.1:0`, or `0` to disable). @default '0' */
  readonly healthProbeBindAddress?: string | undefined;
  /** Metrics address (same syntax). @default '0' */
  readonly metricsBindAddress?: string | undefined;
  readonly registry: Registry;
  /** Serve `/metrics` over HTTPS to authorized callers only. @default plain HTTP to anyone */
  readonly secureMetrics?: SecureMetrics | undefined;
  /** Informers not synced yet (empty when ready). */
  readonly unsynced: () => readonly string[];
}

/** Authenticated metrics serving: the certificate, and who may read. */
export interface SecureMetrics {
  /** PEM serving certificate and key. */
  readonly tls: { readonly cert: string; readonly key: string };
  /** Admits a request by its bearer token (metrics-auth.ts: TokenReview + SubjectAccessReview). */
  readonly authorizer: MetricsAuthorizer;
  /** Where the certificate came from, for the log (`cert-dir`, `self-signed`). */
  readonly certificate: string;
}

/** Where the endpoints listen (absent: disabled). */
export interface EndpointAddresses {
  metrics?: string;
  probes?: string;
}

export class Endpoints implements Runnable {
  readonly #options: EndpointsOptions;
  /** Filled in once bound. */
  readonly addresses: EndpointAddresses = {};
  readonly #listening: PromiseWithResolvers<EndpointAddresses> = Promise.withResolvers();

  constructor(options: EndpointsOptions) {
    this.#options = options;
    this.#listening.promise.catch(() => undefined);
  }

  /** Resolves with the bound addresses once both endpoints listen. */
  get listening(): Promise<EndpointAddresses> {
    return this.#listening.promise;
  }

  async start(signal: AbortSignal): Promise<void> {
    const endpoints: Endpoint[] = [];
    try {
      const probes = await serveProbes(this.#options.healthProbeBindAddress ?? '0', {
        healthz: { ping: () => ({ ok: true, detail: '' }) },
        readyz: {
          informers: () => {
            const pending = this.#options.unsynced();
            return { ok: pending.length === 0, detail: pending.length ? `not synced: ${pending.join(', ')}` : '' };
          },
        },
      });
      if (probes) {
        endpoints.push(probes);
        this.addresses.probes = probes.address;
      }
      const secure = this.#options.secureMetrics;
      const metrics = await serveMetrics(this.#options.metricsBindAddress ?? '0', this.#options.registry, secure ? { tls: secure.tls, authorizer: secure.authorizer } : {});
      if (metrics) {
        endpoints.push(metrics);
        this.addresses.metrics = metrics.address;
      }
      this.#listening.resolve(this.addresses);
      if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    } catch (error) {
      this.#listening.reject(error);
      throw error;
    } finally {
      for (const endpoint of endpoints) await endpoint.close();
    }
  }
}
