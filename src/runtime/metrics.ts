/**
 * Prometheus metrics of the operator, with controller-runtime's and client-go's
 * metric names so existing dashboards and alerts work unchanged:
 * `controller_runtime_reconcile_total{controller,result}`,
 * `controller_runtime_reconcile_errors_total`, `controller_runtime_reconcile_time_seconds`,
 * `workqueue_*{name}`, `leader_election_master_status{name}`; plus Manyfold's own
 * (`leader_elections_total`, `manyfold_fencing_epoch`, `manyfold_fenced_writes_total`,
 * informer counters) and the default process metrics (RSS, heap, event loop lag).
 *
 * One registry per manager (no global registry), so tests can run several managers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const reconcileBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers: [this.registry] });
  readonly terminalErrors = new Counter({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller', labelNames: ['controller'], registers: [this.registry] });
  readonly reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: reconcileBuckets, registers: [this.registry] });
  readonly activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers: [this.registry] });
  readonly maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly queueLatency = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name', 'controller'], buckets: queueBuckets, registers: [this.registry] });
  readonly workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name', 'controller'], buckets: queueBuckets, registers: [this.registry] });
  readonly unfinishedWork = new Gauge({ name: 'workqueue_unfinished_work_seconds', help: 'How many seconds of work has been done that is in progress', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly longestRunning = new Gauge({ name: 'workqueue_longest_running_processor_seconds', help: 'How many seconds has the longest running processor for workqueue been running', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers: [this.registry] });
  readonly leaderElections = new Counter({ name: 'leader_elections_total', help: 'Number of leadership terms this process has won', labelNames: ['name'], registers: [this.registry] });
  readonly fencingEpoch = new Gauge({ name: 'manyfold_fencing_epoch', help: 'Fencing epoch of the current leadership term (0 when not leading)', registers: [this.registry] });
  readonly fencedWrites = new Counter({ name: 'manyfold_fenced_writes_total', help: 'Writes the API server rejected because a newer leader exists', registers: [this.registry] });
  readonly informerEvents = new Counter({ name: 'manyfold_informer_events_total', help: 'Watch events applied to informer caches', labelNames: ['resource'], registers: [this.registry] });
  readonly informerRestarts = new Counter({ name: 'manyfold_informer_watch_restarts_total', help: 'Watches reopened by reason (silent, gone, error)', labelNames: ['resource', 'reason'], registers: [this.registry] });
  readonly informerObjects = new Gauge({ name: 'manyfold_informer_objects', help: 'Objects held in informer caches', labelNames: ['resource'], registers: [this.registry] });

  /** Bounded per-object memories, by name, with the evictions already counted. */
  readonly #memories = new Map<string, { memory: TrackedMemory; counted: number }>();
  readonly memoryEvictions = new Counter({
    name: 'manyfold_memory_evictions_total',
    help: 'Entries evicted from bounded in-memory maps (forced-apply times, status memories, event dedupe, retry counters), by map',
    labelNames: ['memory'],
    registers: [this.registry],
    collect: () => {
      for (const [memory, entry] of this.#memories) {
        const evictions = entry.memory.evictions;
        // A memory replaced by a fresh one (a new term's writer) counts from 0 again.
        const delta = evictions >= entry.counted ? evictions - entry.counted : evictions;
        if (delta > 0) this.memoryEvictions.inc({ memory }, delta);
        entry.counted = evictions;
      }
    },
  });
  readonly memoryEntries = new Gauge({
    name: 'manyfold_memory_entries',
    help: 'Entries held in bounded in-memory maps, by map',
    labelNames: ['memory'],
    registers: [this.registry],
    collect: () => {
      for (const [memory, entry] of this.#memories) this.memoryEntries.set({ memory }, entry.memory.size);
    },
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Reports a bounded memory (a {@link BoundedMap}, say) as `manyfold_memory_entries` and
   * `manyfold_memory_evictions_total` with label `memory=name`; tracking a new memory
   * under a name replaces the old one.
   */
  trackMemory(name: string, memory: TrackedMemory): void {
    const previous = this.#memories.get(name);
    this.#memories.set(name, { memory, counted: previous === undefined || previous.memory === memory ? (previous?.counted ?? 0) : 0 });
  }
}

/** What {@link OperatorMetrics.trackMemory} reads of a bounded memory. */
export interface TrackedMemory {
  /** Entries held now. */
  readonly size: number;
  /** Entries evicted since the memory was created. */
  readonly evictions: number;
}

/**
 * The gauge `name` on `registry`, created on first use (a controller added to two
 * managers, or twice in tests, shares it). `collect` runs at every scrape.
 */
export function domainGauge<T extends string>(
  registry: Registry,
  options: { readonly name: string; readonly help: string; readonly labelNames?: readonly T[]; readonly collect?: (gauge: Gauge<T>) => void },
): Gauge<T> {
  const existing = registry.getSingleMetric(options.name);
  if (existing) return existing as Gauge<T>;
  const collect = options.collect;
  return new Gauge<T>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [registry],
    ...(collect ? { collect(this: Gauge<T>) { collect(this); } } : {}),
  });
}

/** The counter `name` on `registry`, created on first use (see {@link domainGauge}). */
export function domainCounter<T extends string>(registry: Registry, options: { readonly name: string; readonly help: string; readonly labelNames?: readonly T[] }): Counter<T> {
  const existing = registry.getSingleMetric(options.name);
  if (existing) return existing as Counter<T>;
  return new Counter<T>({ name: options.name, help: options.help, labelNames: options.labelNames ?? [], registers: [registry] });
}
