/**
 * A rate limiter in front of a Node `http` request handler: admitted requests go to the
 * handler, the others get `429 Too Many Requests` with `Retry-After` (whole seconds,
 * at least 1) and never reach it. The decision is `tryTake` (no waiting, no I/O).
 *
 * Limitations: the key function runs on every request and must be cheap; requests are
 * counted one token each.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { RateLimiter } from './client.ts';

export interface RateLimitedOptions {
  /** The key value a request is counted under (e.g. a customer header); default one key for all. */
  readonly keyOf?: ((request: IncomingMessage) => string) | undefined;
}

/** Wraps `handler` so that requests over the share get a 429 with `Retry-After`. */
export function rateLimited(limiter: Pick<RateLimiter, 'tryTake' | 'retryAfterSeconds'>, handler: RequestListener, options: RateLimitedOptions = {}): RequestListener {
  const keyOf = options.keyOf ?? (() => '');
  return (request: IncomingMessage, response: ServerResponse) => {
    const key = keyOf(request);
    if (limiter.tryTake(key)) {
      handler(request, response);
      return;
    }
    response.writeHead(429, { 'Retry-After': String(limiter.retryAfterSeconds(key)), 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('rate limit exceeded\n');
  };
}
