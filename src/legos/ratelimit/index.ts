/**
 * Rate limiters fed by `RatePolicy`: the public API. See `client.ts` for the
 * guarantees and limitations, `limiter.ts` for the decision path, `transport.ts` for
 * where reports travel and why.
 */
export { RateLimitNotFoundError, createRateLimiter, type RateLimiter, type RateLimiterOptions } from './client.ts';
export { DEFAULT_MAX_KEYS, type ShareInForce, type ShareState, type TakeOptions } from './limiter.ts';
export { rateLimited, type RateLimitedOptions } from './http.ts';
export type { ShareReport, SharesTransport } from './transport.ts';
export type { SharesDocument } from './document.ts';
