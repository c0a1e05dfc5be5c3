/**
 * Errors a reconcile may throw, and the one place that decides how each is retried.
 *
 * One idiom: an error says how to retry it. Anything with a `retry` class
 * (`'immediate' | 'backoff' | 'terminal'`) and, optionally, `retryAfterMs` is
 * {@link Retryable}; {@link retryAdviceOf} reads those, walking the `cause` chain, so
 * wrapping an error (`new Error(msg, { cause })`) never loses its class. In detail:
 * - {@link KubeApiError} carries its own class (Conflict: at once; 429/5xx/transport:
 *   back off, no sooner than the server's `retryAfterSeconds`; other 4xx: terminal),
 *   see kube/errors.ts; a write a fencing policy denied is terminal;
 * - {@link FencedError}: terminal for the key, and the manager steps down;
 * - {@link TerminalError}: anything the reconciler knows retrying cannot fix;
 * - {@link RetryLaterError}: a failure outside the API server (etcd, say) that should
 *   back off, optionally no sooner than a given time;
 * - anything else: back off.
 * Invalid specs are not errors: the deciders report them as `InvalidSpec` conditions
 * (see reconcilers/decision.ts), and a new generation brings the key back.
 *
 * Limitations: the `cause` chain is followed at most 8 links deep.
 */
import { KubeApiError, type RetryClass } from '../kube/errors.ts';
import { FencedError, isFencingRejection } from './leader/fence.ts';

/** An error that says how it should be retried. */
export interface Retryable {
  readonly retry: RetryClass;
  /** Retry no sooner than this, in ms (honoured for `backoff`). */
  readonly retryAfterMs?: number | undefined;
}

/** How the runtime retries a failed reconcile. */
export interface RetryAdvice {
  readonly retry: RetryClass;
  /** Lower bound of the backoff delay, in ms (undefined: the rate limiter alone decides). */
  readonly retryAfterMs: number | undefined;
}

/** A failure that retrying the same input cannot fix. */
export class TerminalError extends Error implements Retryable {
  override readonly name = 'TerminalError';
  readonly retry = 'terminal' as const;
}

/** A failure that should be retried with backoff, no sooner than `retryAfterMs` when given. */
export class RetryLaterError extends Error implements Retryable {
  override readonly name = 'RetryLaterError';
  readonly retry = 'backoff' as const;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number | undefined } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

const RetryClasses: ReadonlySet<unknown> = new Set<RetryClass>(['immediate', 'backoff', 'terminal']);

function isRetryable(error: unknown): error is Retryable {
  return error instanceof Error && RetryClasses.has((error as Partial<Retryable>).retry);
}

/** How `error` is retried (see the module header). */
export function retryAdviceOf(error: unknown): RetryAdvice {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current instanceof FencedError || isFencingRejection(current)) return { retry: 'terminal', retryAfterMs: undefined };
    if (current instanceof KubeApiError) return { retry: current.retry, retryAfterMs: current.retryAfterMs };
    if (isRetryable(current)) return { retry: current.retry, retryAfterMs: current.retryAfterMs };
    current = current.cause;
  }
  return { retry: 'backoff', retryAfterMs: undefined };
}

/** The retry class of `error` (see {@link retryAdviceOf}). */
export function classifyError(error: unknown): RetryClass {
  return retryAdviceOf(error).retry;
}

/** The shortest wait before retrying `error`, in ms, when it asks for one. */
export function retryAfterOf(error: unknown): number | undefined {
  return retryAdviceOf(error).retryAfterMs;
}

export { FencedError };
export { isInvalid, isNotFound } from '../kube/errors.ts';
