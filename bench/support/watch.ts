/**
 * Observing the cluster from a benchmark without polling: an {@link ObjectWatch} runs
 * the runtime's Informer (list, then watch) for one type in one namespace, stamps each
 * change with the `performance.now()` at which it arrived here, hands it to listeners,
 * and lets the benchmark await a condition over what it has seen (`until`).
 *
 * Listeners keep their own counters so that `until` predicates stay O(1): a predicate
 * is re-evaluated after every event. Several watches can share one {@link Notifier}, so
 * a condition over several types is awaited once.
 *
 * Limitations: times are arrival times in this process (watch delivery and this event
 * loop included); with thousands of events a second the event loop adds a little.
 */
import { Informer } from '../../src/runtime/informer/informer.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';

export type ChangeType = 'add' | 'update' | 'delete';
export type Listener<T> = (change: ChangeType, object: T, at: number) => void;

/** Waiters on conditions, re-checked whenever a watch sharing this notifier sees a change. */
export class Notifier {
  private readonly checks = new Set<() => void>();

  /** Re-checks every waiting condition. */
  notify(): void {
    for (const check of [...this.checks]) check();
  }

  /**
   * Resolves with the time (`performance.now()`) of the change after which `predicate`
   * first held (now, if it holds already). Rejects after `timeoutMs` with `what` and
   * `progress()`, or when `signal` aborts. Its timer never keeps the process alive.
   */
  until(predicate: () => boolean, options: { what: string; timeoutMs: number; signal?: AbortSignal; progress?: () => string }): Promise<number> {
    if (predicate()) return Promise.resolve(performance.now());
    return new Promise<number>((resolve, reject) => {
      const cleanup = () => {
        this.checks.delete(check);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const check = () => {
        if (!predicate()) return;
        cleanup();
        resolve(performance.now());
      };
      const onAbort = () => {
        cleanup();
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${options.progress ? ` (${options.progress()})` : ''}`));
      }, options.timeoutMs);
      timer.unref();
      this.checks.add(check);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export class ObjectWatch<T extends KubeObject = KubeObject> {
  readonly informer: Informer<T>;
  readonly notifier: Notifier;
  private readonly listeners: Listener<T>[] = [];
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(options: { client: KubeClient; type: ResourceType; namespace: string; labelSelector?: string; notifier?: Notifier }) {
    this.notifier = options.notifier ?? new Notifier();
    this.informer = new Informer<T>({
      client: options.client,
      type: options.type,
      namespace: options.namespace,
      labelSelector: options.labelSelector,
    });
    const emit = (change: ChangeType, object: T) => {
      const at = performance.now();
      for (const listener of this.listeners) listener(change, object, at);
      this.notifier.notify();
    };
    this.informer.addHandler({
      onAdd: (o) => emit('add', o),
      onUpdate: (_old, o) => emit('update', o),
      onDelete: (o) => emit('delete', o),
    });
  }

  /** Adds a listener for every later change (register before `start` to see the initial list). */
  on(listener: Listener<T>): void {
    this.listeners.push(listener);
  }

  /** Starts listing and watching; resolves once the first list has been applied. */
  async start(signal?: AbortSignal): Promise<void> {
    this.running ??= this.informer.start(this.stop.signal);
    await this.informer.waitForSync(signal);
  }

  /** {@link Notifier.until} on this watch's notifier. */
  until(predicate: () => boolean, options: { what: string; timeoutMs: number; signal?: AbortSignal; progress?: () => string }): Promise<number> {
    return this.notifier.until(predicate, options);
  }

  /** Stops the informer and waits for it to end. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }
}
