import { describe, expect, it } from 'vitest';
import { parseApiError } from '../kube/errors.ts';
import { RetryLaterError, TerminalError, classifyError, isInvalid, retryAdviceOf } from './errors.ts';
import { FencedError, isFencingRejection } from './leader/fence.ts';

const fencingDenial = (policy: string) => {
  const denial = `ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: stale epoch`;
  return parseApiError(403, JSON.stringify({ kind: 'Status', reason: 'Forbidden', code: 403, message: `x is forbidden: ${denial}`, details: { causes: [{ message: denial }] } }), 'PATCH /x');
};

describe('retry advice', () => {
  it('reads the class an error carries, through wrapping causes', () => {
    expect(retryAdviceOf(new TerminalError('no'))).toEqual({ retry: 'terminal', retryAfterMs: undefined });
    expect(retryAdviceOf(new RetryLaterError('later', { retryAfterMs: 5000 }))).toEqual({ retry: 'backoff', retryAfterMs: 5000 });
    const conflict = parseApiError(409, JSON.stringify({ reason: 'Conflict' }), 'PUT /x');
    expect(classifyError(new Error('wrapped', { cause: conflict }))).toBe('immediate');
    expect(retryAdviceOf(new Error('wrapped', { cause: parseApiError(429, '{}', 'GET /x', '3') }))).toEqual({ retry: 'backoff', retryAfterMs: 3000 });
    expect(classifyError(new Error('plain'))).toBe('backoff');
    expect(classifyError('not an error')).toBe('backoff');
  });

  it('treats a fenced write as terminal, whether already turned into a FencedError or still the API error', () => {
    expect(classifyError(new FencedError(3, 'fenced'))).toBe('terminal');
    for (const policy of ['manyfold-fencing', 'manyfold-fencing-heartbeats']) {
      expect(isFencingRejection(fencingDenial(policy))).toBe(true);
      expect(classifyError(fencingDenial(policy))).toBe('terminal');
    }
    expect(isFencingRejection(fencingDenial('someone-elses-policy'))).toBe(false);
  });

  it('calls 400 and 422 invalid, nothing else', () => {
    expect(isInvalid(parseApiError(422, '{}', 'PATCH /x'))).toBe(true);
    expect(isInvalid(parseApiError(400, '{}', 'PATCH /x'))).toBe(true);
    expect(isInvalid(parseApiError(409, '{}', 'PATCH /x'))).toBe(false);
    expect(isInvalid(new Error('422'))).toBe(false);
  });
});
