import { describe, expect, it } from 'vitest';
import { admissionDenialOf, parseApiError } from './errors.ts';

/** A Status body the way kube-apiserver answers a ValidatingAdmissionPolicy denial. */
function denialBody(policy: string, binding: string | undefined, message: string): string {
  const denial = `ValidatingAdmissionPolicy '${policy}'${binding === undefined ? '' : ` with binding '${binding}'`} denied request: ${message}`;
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message: `configmaps "x" is forbidden: ${denial}`,
    reason: 'Forbidden',
    details: { name: 'x', kind: 'configmaps', causes: [{ message: denial }] },
    code: 403,
  });
}

describe('admission denials', () => {
  it('names the policy, binding and message of a ValidatingAdmissionPolicy denial, from the Status causes', () => {
    const error = parseApiError(403, denialBody('manyfold-fencing', 'manyfold-fencing', 'manyfold-fencing: a write from fencing epoch 3 was rejected'), 'PATCH /api/v1/x');
    expect(error.deniedBy).toEqual({ policy: 'manyfold-fencing', binding: 'manyfold-fencing', message: 'manyfold-fencing: a write from fencing epoch 3 was rejected' });
  });

  it('reads a denial without a binding, and from the message when the causes are missing', () => {
    expect(admissionDenialOf([], "POST /x: pods \"p\" is forbidden: ValidatingAdmissionPolicy 'p1' denied request: no")).toEqual({ policy: 'p1', binding: undefined, message: 'no' });
  });

  it('finds no denial in a Forbidden that merely mentions a policy name (RBAC, say)', () => {
    const rbac = JSON.stringify({ kind: 'Status', reason: 'Forbidden', code: 403, message: 'configmaps "manyfold-fencing" is forbidden: User "u" cannot patch resource' });
    expect(parseApiError(403, rbac, 'PATCH /x').deniedBy).toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  it('is the server-requested wait in ms, from the header first, then the Status details', () => {
    expect(parseApiError(429, '{}', 'GET /x', '7').retryAfterMs).toBe(7000);
    expect(parseApiError(503, JSON.stringify({ kind: 'Status', details: { retryAfterSeconds: 2 } }), 'GET /x').retryAfterMs).toBe(2000);
    expect(parseApiError(500, '', 'GET /x').retryAfterMs).toBeUndefined();
  });
});
