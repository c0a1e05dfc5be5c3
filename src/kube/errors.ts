/**
 * Typed errors for everything the Kubernetes API server can answer with.
 *
 * The API server reports failures as a `Status` object (`kind: Status`, `code`,
 * `reason`, `message`, `details.causes[]`). `@kubernetes/client-node` hands that back
 * as a raw string body, or no body at all on 401; this module parses it once, here,
 * into a {@link KubeApiError} that carries how the runtime should react
 * ({@link KubeApiError.retry}). Nothing else in Manyfold parses error bodies.
 *
 * Limitations: only JSON `Status` bodies are understood; anything else (an HTML page
 * from a proxy, say) keeps its first 500 characters as the message.
 */

/** How the runtime treats an error: retry at once, back off, or give up on the key. */
export type RetryClass = 'immediate' | 'backoff' | 'terminal';

/** The API server's `Status.reason` values that Manyfold reacts to (others pass through). */
export type StatusReason =
  | 'AlreadyExists'
  | 'Conflict'
  | 'NotFound'
  | 'Invalid'
  | 'Forbidden'
  | 'Unauthorized'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'Gone'
  | 'Expired'
  | 'TooManyRequests'
  | 'Timeout'
  | 'ServerTimeout'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'Unknown'
  | (string & {});

/** One field-level cause from `Status.details.causes`. */
export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

/** The admission policy that denied a request (from the `Status` the API server answered with). */
export interface AdmissionDenial {
  /** Name of the ValidatingAdmissionPolicy. */
  readonly policy: string;
  /** Name of its binding, when the server named one. */
  readonly binding: string | undefined;
  /** The policy's own message (its `message` or `messageExpression`). */
  readonly message: string;
}

/**
 * The API server's wording of a ValidatingAdmissionPolicy denial, which it puts in a
 * `details.causes[]` entry (and in `message` after "is forbidden: "): `ValidatingAdmissionPolicy
 * '<policy>' [with binding '<binding>'] denied request: <message>`.
 */
const PolicyDenial = /^ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request: ([\s\S]*)$/;

/** The policy denial among a Status's causes (or, failing that, in its message), if any. */
export function admissionDenialOf(causes: readonly StatusCause[], message: string): AdmissionDenial | undefined {
  const texts = [...causes.map((c) => c.message ?? ''), message.slice(Math.max(0, message.indexOf('ValidatingAdmissionPolicy ')))];
  for (const text of texts) {
    const match = PolicyDenial.exec(text);
    if (match?.[1] !== undefined) return { policy: match[1], binding: match[2], message: match[3] ?? '' };
  }
  return undefined;
}

/** An error answered by the API server (or the transport in front of it). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status code (0 when no response arrived). */
  readonly code: number;
  /** `Status.reason`, or one derived from the code when the body had none. */
  readonly reason: StatusReason;
  /** Field causes from `Status.details.causes` (empty when none). */
  readonly causes: readonly StatusCause[];
  /** Seconds the server asked us to wait (`Retry-After` or `details.retryAfterSeconds`). */
  readonly retryAfterSeconds: number | undefined;
  /** The request that failed, as `METHOD path`. */
  readonly request: string;
  /** The admission policy that denied the request, when one did (see {@link admissionDenialOf}). */
  readonly deniedBy: AdmissionDenial | undefined;

  constructor(options: {
    code: number;
    reason: StatusReason;
    message: string;
    request: string;
    causes?: readonly StatusCause[];
    retryAfterSeconds?: number | undefined;
    cause?: unknown;
  }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.reason = options.reason;
    this.request = options.request;
    this.causes = options.causes ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.deniedBy = options.code === 0 ? undefined : admissionDenialOf(this.causes, options.message);
  }

  /** How a reconciler that hit this error should be retried. */
  get retry(): RetryClass {
    return retryClassOf(this.code, this.reason);
  }

  /** The wait the server asked for, in ms (undefined when it asked for none). */
  get retryAfterMs(): number | undefined {
    return this.retryAfterSeconds === undefined || !(this.retryAfterSeconds >= 0) ? undefined : this.retryAfterSeconds * 1000;
  }
}

const reasonByCode: Readonly<Record<number, StatusReason>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * Classifies an API failure. Conflicts retry at once (the next read sees the new
 * resourceVersion); throttling, timeouts and server errors back off; a request the
 * server judged wrong (400, 403, 404, 405, 413, 415, 422) will not get better by
 * retrying the same input.
 */
export function retryClassOf(code: number, reason: StatusReason): RetryClass {
  if (code === 409 && reason !== 'AlreadyExists') return 'immediate';
  if (code === 0 || code === 429 || code >= 500 || code === 410) return 'backoff';
  if (code === 401) return 'backoff'; // credentials may rotate (projected tokens)
  if (code >= 400) return 'terminal';
  return 'backoff';
}

interface StatusBody {
  kind?: unknown;
  message?: unknown;
  reason?: unknown;
  code?: unknown;
  details?: { causes?: unknown; retryAfterSeconds?: unknown };
}

/**
 * Builds a {@link KubeApiError} from an HTTP answer.
 *
 * @param code HTTP status code
 * @param body the response body as text (may be empty or not JSON)
 * @param request `METHOD path`, for the message
 * @param retryAfterHeader the `Retry-After` header, when present
 */
export function parseApiError(
  code: number,
  body: string,
  request: string,
  retryAfterHeader?: string | null,
): KubeApiError {
  let status: StatusBody | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object') status = parsed;
  } catch {
    status = undefined;
  }
  const reason =
    typeof status?.reason === 'string' && status.reason !== ''
      ? status.reason
      : (reasonByCode[code] ?? 'Unknown');
  const serverMessage =
    typeof status?.message === 'string' && status.message !== ''
      ? status.message
      : body.trim() === ''
        ? `HTTP ${code}`
        : body.trim().slice(0, 500);
  const causes = Array.isArray(status?.details?.causes)
    ? (status.details.causes as unknown[]).filter(isCause)
    : [];
  const headerSeconds = retryAfterHeader ? Number.parseInt(retryAfterHeader, 10) : Number.NaN;
  const detailSeconds = status?.details?.retryAfterSeconds;
  const retryAfterSeconds = Number.isFinite(headerSeconds)
    ? headerSeconds
    : typeof detailSeconds === 'number'
      ? detailSeconds
      : undefined;
  return new KubeApiError({
    code,
    reason,
    message: `${request}: ${serverMessage}`,
    request,
    causes,
    retryAfterSeconds,
  });
}

function isCause(value: unknown): value is StatusCause {
  return value !== null && typeof value === 'object';
}

/** A transport failure (connection refused, reset, TLS) before any HTTP answer. */
export function transportError(request: string, cause: unknown): KubeApiError {
  const detail = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
  return new KubeApiError({
    code: 0,
    reason: 'ServiceUnavailable',
    message: `${request}: cannot reach the API server: ${detail}`,
    request,
    cause,
  });
}

export function isKubeApiError(error: unknown): error is KubeApiError {
  return error instanceof KubeApiError;
}

/** True when `error` is an API error with HTTP `code`. */
export function hasCode(error: unknown, code: number): boolean {
  return error instanceof KubeApiError && error.code === code;
}

export const isNotFound = (error: unknown): boolean => hasCode(error, 404);
/** The server refused the object itself (400 BadRequest, 422 Invalid): retrying the same object cannot help. */
export const isInvalid = (error: unknown): boolean => hasCode(error, 422) || hasCode(error, 400);
export const isConflict = (error: unknown): boolean =>
  error instanceof KubeApiError && error.code === 409 && error.reason !== 'AlreadyExists';
export const isAlreadyExists = (error: unknown): boolean =>
  error instanceof KubeApiError && error.code === 409 && error.reason === 'AlreadyExists';
export const isGone = (error: unknown): boolean => hasCode(error, 410);
