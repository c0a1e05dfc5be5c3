/**
 * Urgent work: what a controller must do ahead of every work queue (the kill switch's
 * publish is the one user). A controller declares {@link UrgentSpec}: triggers (an
 * informer change that makes some namespaces urgent) and `run(ctx, scope)`. The runtime
 * then
 *
 * - runs it at once when a trigger fires while leading, outside the queue, without
 *   waiting for a worker (triggers that fire while it runs are merged into one more
 *   run, right after);
 * - runs it over every namespace (`{ all: true }`) at the start of every term, after the
 *   epoch is enforced and the caches are synced, before any controller's workers take
 *   their first key;
 * - holds the manager's {@link UrgentGate} for as long as it runs: no reconcile of any
 *   controller starts meanwhile (those already running finish), so the status writes
 *   and Events the same change queued come after the urgent writes, instead of
 *   competing with them for the API server and the CPU.
 *
 * Guarantees: the gate is closed synchronously in the informer's handler, before the
 * workers can take the keys the same event enqueued. Every write goes through the
 * term's fenced writer, like any other.
 *
 * Limitations: `run` must be idempotent and short (the queue is held meanwhile); the
 * gate opens after `maxHoldMs` even if a run hangs (default 10 s), and a failed run is
 * logged, not retried: the level-triggered reconciles of the same change still converge.
 */
import type { Clock } from '../legos/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Cache, InformerSelector } from './controller.ts';
import type { Logger } from './log.ts';
import type { FencedWriter } from './writer.ts';

/** Which namespaces the urgent work must cover. */
export type UrgentScope = { readonly all: true } | { readonly all: false; readonly namespaces: ReadonlySet<string> };

/** An informer change that makes some namespaces urgent. */
export interface UrgentTrigger {
  readonly type: ResourceType;
  readonly selector?: InformerSelector | undefined;
  /** The scope made urgent by an add (`old` undefined), update, or delete (`next` undefined); undefined: none. */
  readonly affects: (old: KubeObject | undefined, next: KubeObject | undefined) => UrgentScope | undefined;
}

/** What an urgent run gets: the term's writer and the shared caches. */
export interface UrgentContext {
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly epoch: number;
  readonly clock: Clock;
  readonly writer: FencedWriter;
  readonly cache: Cache;
  readonly client: KubeClient;
}

/** Work a controller runs ahead of every queue (see the module header). */
export interface UrgentSpec {
  readonly triggers: readonly UrgentTrigger[];
  /** Does the urgent work for `scope` (idempotent). */
  readonly run: (ctx: UrgentContext, scope: UrgentScope) => Promise<void>;
}

/** The union of two scopes. */
export function mergeScopes(a: UrgentScope | undefined, b: UrgentScope): UrgentScope {
  if (a === undefined) return b;
  if (a.all || b.all) return { all: true };
  return { all: false, namespaces: new Set([...a.namespaces, ...b.namespaces]) };
}

/** A scope of the given namespaces. */
export function namespacesScope(...namespaces: string[]): UrgentScope {
  return { all: false, namespaces: new Set(namespaces) };
}

/**
 * The manager's gate between urgent work and reconciles: closed while any urgent work
 * runs (at most `maxHoldMs` per hold), open otherwise.
 */
export class UrgentGate {
  readonly #clock: Clock;
  readonly #maxHoldMs: number;
  #holds = 0;
  #waiters: (() => void)[] = [];

  /** @param options.maxHoldMs longest one hold keeps the gate closed, ms. @default 10000 */
  constructor(options: { readonly clock: Clock; readonly maxHoldMs?: number | undefined }) {
    this.#clock = options.clock;
    this.#maxHoldMs = options.maxHoldMs ?? 10_000;
  }

  /** True while no urgent work runs. */
  get open(): boolean {
    return this.#holds === 0;
  }

  /**
   * Closes the gate (synchronously) and runs `work`; opens it when `work` settles or
   * after `maxHoldMs`, whichever comes first.
   */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.#holds++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#holds--;
      if (this.#holds === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
    const timer = new AbortController();
    void this.#clock.sleep(this.#maxHoldMs, timer.signal).then(release, () => undefined);
    try {
      return await work();
    } finally {
      timer.abort();
      release();
    }
  }

  /** Resolves once the gate is open (at once when it is), or when `signal` aborts. */
  whenOpen(signal: AbortSignal): Promise<void> {
    if (this.#holds === 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.#waiters.push(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}
