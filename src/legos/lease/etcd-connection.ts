/**
 * The one place that builds and owns the etcd3 client: TLS, auth, gRPC keep-alive
 * options, fault-handling policies, error translation into our `LeaseError`s, and
 * recreation of the client after persistent `13 INTERNAL` / RST_STREAM errors
 * (microsoft/etcd3#153: a long-lived channel can get stuck returning them).
 *
 * Policies: etcd3's default per-host circuit breaker stays open for 5 s after three
 * failures, longer than a short lease can survive, so hosts get a pass-through policy and
 * the global policy retries a recoverable failure once per endpoint (each retry goes to
 * the next endpoint).
 *
 * The etcd3 library (with gRPC and protobufjs: ~6 MiB of resident memory) is imported
 * on the first call, not when this module loads, so an operator without FencedLeases
 * never pays for it.
 *
 * Limitations: a retried write whose first attempt did reach etcd is applied twice;
 * the lease module only sends idempotent writes (puts of the same value, compare-guarded).
 */
import type * as Etcd3Library from 'etcd3';
import type { Etcd3, IOptions } from 'etcd3';
import { LeaseAccessError, LeaseError, LeaseLostError, LeaseUnavailableError } from './errors.ts';
import type { ClientConfig } from './config.ts';
import type { LeaseClientOptions, LeaseEvent } from './types.ts';

type Etcd3Module = typeof Etcd3Library;
let etcd3: Etcd3Module | undefined;
let loading: Promise<Etcd3Module> | undefined;

/** The etcd3 module, imported on first use. */
export async function loadEtcd3(): Promise<Etcd3Module> {
  if (etcd3) return etcd3;
  loading ??= import('etcd3').then((m) => (etcd3 = m));
  return loading;
}

/** The etcd3 module if already imported (before that, no error can be one of its classes). */
export function loadedEtcd3(): Etcd3Module | undefined {
  return etcd3;
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type PolicyContext = Parameters<Parameters<Policy['execute']>[0]>[0];
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

const noEvent = () => ({ dispose: () => undefined });

/** A cockatiel-compatible policy from an `execute` function (`_altReturn` is type-only). */
function policy(execute: <T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal) => Promise<T>): Policy {
  return { execute, onSuccess: noEvent, onFailure: noEvent } as unknown as Policy;
}

const passThrough = policy(async (fn, signal) => fn({ signal: signal ?? new AbortController().signal }));

function retryRecoverable(attempts: number): Policy {
  return policy(async (fn, signal) => {
    const context = { signal: signal ?? new AbortController().signal };
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(context);
      } catch (error) {
        if (attempt >= attempts || !(error instanceof Error) || etcd3?.isRecoverableError(error) !== true) throw error;
      }
    }
  });
}

/** Watch-stream reconnect backoff of etcd3's shared watch manager: 100 ms doubling to 1 s. */
function cappedBackoff(durationMs = 100): Backoff {
  return { duration: durationMs, next: () => cappedBackoff(Math.min(1000, durationMs * 2)) };
}

const bytes = (value: string | Uint8Array): Buffer => (typeof value === 'string' ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength));

/** True for the gRPC errors that mean "this channel is broken", not "etcd said no". */
export function isInternalStreamError(error: unknown): boolean {
  if (etcd3 && error instanceof etcd3.GRPCInternalError) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /RST_STREAM|^13 INTERNAL/.test(message);
}

/** Translates an etcd3 or gRPC error into a `LeaseError`. */
export function translateError(error: unknown, what: string): LeaseError {
  if (error instanceof LeaseError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (
    etcd3 &&
    (error instanceof etcd3.EtcdPermissionDeniedError ||
      error instanceof etcd3.EtcdAuthenticationFailedError ||
      error instanceof etcd3.EtcdRoleNotGrantedError ||
      error instanceof etcd3.GRPCUnauthenticatedError)
  ) {
    return new LeaseAccessError(`${what}: ${message}`, { cause: error });
  }
  return new LeaseUnavailableError(`${what}: ${message}`, { cause: error });
}

/** Owns the current etcd3 client; replaces it after persistent internal errors. */
export class EtcdConnection {
  readonly #options: IOptions;
  readonly #config: ClientConfig;
  readonly #emit: (event: LeaseEvent) => void;
  /** Created on the first call (after etcd3 is imported). */
  #client: Etcd3 | undefined;
  #internalErrors = 0;
  #recreations = 0;
  #closed = false;

  constructor(config: ClientConfig, options: Pick<LeaseClientOptions, 'tls' | 'auth'>, emit: (event: LeaseEvent) => void) {
    this.#config = config;
    this.#emit = emit;
    const tls = options.tls;
    this.#options = {
      hosts: [...config.endpoints],
      grpcOptions: { ...config.grpcOptions },
      dialTimeout: config.requestTimeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + config.requestTimeoutMs }),
      faultHandling: { host: () => passThrough, global: retryRecoverable(config.endpoints.length + 1), watchBackoff: cappedBackoff() },
      ...(tls?.ca === undefined
        ? {}
        : {
            credentials: {
              rootCertificate: bytes(tls.ca),
              ...(tls.key === undefined ? {} : { privateKey: bytes(tls.key) }),
              ...(tls.cert === undefined ? {} : { certChain: bytes(tls.cert) }),
            },
          }),
      ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}),
    };
  }

  /** How many times the client was recreated. */
  get recreations(): number {
    return this.#recreations;
  }

  get requestTimeoutMs(): number {
    return this.#config.requestTimeoutMs;
  }

  /** Runs `fn` on the current client, translating errors and counting internal ones. */
  async call<T>(what: string, fn: (client: Etcd3) => Promise<T>): Promise<T> {
    if (this.#closed) throw new LeaseLostError('closed', `${what}: the lease client is closed`);
    try {
      const { Etcd3 } = await loadEtcd3();
      if (this.#closed) throw new LeaseLostError('closed', `${what}: the lease client is closed`);
      this.#client ??= new Etcd3(this.#options);
      const result = await fn(this.#client);
      this.#internalErrors = 0;
      return result;
    } catch (error) {
      this.reportError(error);
      throw translateError(error, what);
    }
  }

  /** Counts an error seen outside `call` (on a stream); internal ones may recreate the client. */
  reportError(error: unknown): void {
    if (isInternalStreamError(error)) this.#noteInternalError();
  }

  #noteInternalError(): void {
    this.#internalErrors++;
    if (this.#internalErrors < this.#config.recreateAfterInternalErrors || this.#closed || !etcd3) return;
    const old = this.#client;
    this.#client = new etcd3.Etcd3(this.#options);
    this.#recreations++;
    this.#emit({ type: 'etcd_client_recreated', consecutiveInternalErrors: this.#internalErrors, recreations: this.#recreations });
    this.#internalErrors = 0;
    old?.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client?.close();
  }
}
