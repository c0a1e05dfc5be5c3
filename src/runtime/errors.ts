/**
 * Errors a reconcile may throw, and the one place that decides how each is retried.
 *
 * - {@link KubeApiError} carries its own class (Conflict: at once; 429/5xx/transport:
 *   back off; other 4xx: terminal), see kube/errors.ts;
 * - {@link FencedError}: terminal for the key, and the manager steps down;
 * - {@link InvalidSpecError}: terminal (the reconciler reports it in a condition; a
 *   new generation of the object brings the key back);
 * - {@link TerminalError}: anything the reconciler knows retrying cannot fix;
 * - anything else: back off.
 */
import { KubeApiError, type RetryClass } from '../kube/errors.ts';
import { FencedError, isFencingRejection } from './leader/fence.ts';

/** A spec valid in shape but not in meaning; `field` names the offending field. */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A failure that retrying the same input cannot fix. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export function classifyError(error: unknown): RetryClass {
  if (error instanceof FencedError || isFencingRejection(error)) return 'terminal';
  if (error instanceof InvalidSpecError || error instanceof TerminalError) return 'terminal';
  if (error instanceof KubeApiError) return error.retry;
  return 'backoff';
}

export { FencedError };
