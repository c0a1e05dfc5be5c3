/**
 * Authentication and authorization of `/metrics` requests by the API server, as
 * controller-runtime's secure metrics (`filters.WithAuthenticationAndAuthorization`)
 * do: the caller's bearer token goes to a TokenReview; the user it names must be
 * allowed `get` on the non-resource URL `/metrics` by a SubjectAccessReview (RBAC:
 * ClusterRole `manyfold-metrics-reader` in deploy/manifests/metrics-auth.yaml).
 *
 * Answers: no or malformed `Authorization: Bearer` header, or a token the API server
 * does not authenticate: 401. Authenticated but not allowed: 403. API server
 * unreachable: 503 (the scrape fails; nothing is served unauthenticated).
 *
 * Decisions are cached per token (SHA-256 of it, never the token itself) for
 * `cacheTtlMs` (default 10,000 ms), at most `maxCached` entries (default 256, oldest
 * evicted first), so a scrape every few seconds costs two API calls per TTL, not per
 * scrape. Failures to reach the API server are not cached.
 *
 * The operator needs `create` on tokenreviews and subjectaccessreviews (ClusterRole
 * `manyfold-operator-metrics-auth`).
 *
 * Limitations: a revoked token or binding keeps working until its cached decision
 * expires (up to `cacheTtlMs`); only bearer tokens are understood (no client
 * certificates).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../legos/clock.ts';
import { SystemClock } from '../legos/clock.ts';
import type { KubeClient } from '../kube/client.ts';

/** The verdict on one request: serve it, or answer with `code` and `message`. */
export type AuthDecision = { readonly allowed: true; readonly user: string } | { readonly allowed: false; readonly code: 401 | 403 | 503; readonly message: string };

/** Decides whether a request may read `/metrics` (one verb, as the HTTP layer needs). */
export interface MetricsAuthorizer {
  authorize(request: { authorization: string | undefined; path: string }): Promise<AuthDecision>;
}

interface TokenReview {
  status?: { authenticated?: boolean; error?: string; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } };
}
interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export interface KubeMetricsAuthorizerOptions {
  readonly client: KubeClient;
  /** How long a decision is reused, in ms (default 10,000). */
  readonly cacheTtlMs?: number;
  /** Most cached decisions (default 256). */
  readonly maxCached?: number;
  readonly clock?: Clock;
}

/** {@link MetricsAuthorizer} backed by TokenReview and SubjectAccessReview. */
export class KubeMetricsAuthorizer implements MetricsAuthorizer {
  private readonly client: KubeClient;
  private readonly ttlMs: number;
  private readonly maxCached: number;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { readonly at: number; readonly decision: AuthDecision }>();
  /** API calls made (TokenReviews + SubjectAccessReviews), for tests and metrics. */
  reviews = 0;

  constructor(options: KubeMetricsAuthorizerOptions) {
    this.client = options.client;
    this.ttlMs = options.cacheTtlMs ?? 10_000;
    this.maxCached = options.maxCached ?? 256;
    this.clock = options.clock ?? SystemClock;
  }

  async authorize(request: { authorization: string | undefined; path: string }): Promise<AuthDecision> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.authorization ?? '');
    const token = match?.[1];
    if (!token) return { allowed: false, code: 401, message: 'Unauthorized: a bearer token is required' };
    const key = `${createHash('sha256').update(token).digest('hex')} ${request.path}`;
    const now = this.clock.monotonic();
    const cached = this.cache.get(key);
    if (cached && now - cached.at < this.ttlMs) return cached.decision;
    let decision: AuthDecision;
    try {
      decision = await this.review(token, request.path);
    } catch (error) {
      return { allowed: false, code: 503, message: `cannot reach the API server to authorize: ${error instanceof Error ? error.message : String(error)}` };
    }
    this.cache.delete(key);
    this.cache.set(key, { at: now, decision });
    while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    return decision;
  }

  private async review(token: string, path: string): Promise<AuthDecision> {
    this.reviews++;
    const review = await this.client.request<TokenReview>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) return { allowed: false, code: 401, message: 'Unauthorized: the token was not authenticated' };
    this.reviews++;
    const access = await this.client.request<SubjectAccessReview>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.groups ? { groups: user.groups } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb: 'get' },
        },
      },
    });
    if (access.status?.allowed) return { allowed: true, user: user.username };
    return { allowed: false, code: 403, message: `Forbidden: user "${user.username}" cannot get path "${path}"${access.status?.reason ? `: ${access.status.reason}` : ''}` };
  }
}
