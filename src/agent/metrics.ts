/**
 * The agent's Prometheus metrics, in a registry of its own. Values are read at scrape
 * time from the agent's plain counters (`stats.ts`) and a snapshot of the spool and
 * health, so the per-sample hot path never touches prom-client.
 *
 * Metrics (`manyfold_agent_` prefix):
 * `samples_read_total{sensor}`, `samples_passed_total{sensor}`,
 * `samples_accepted_total{sensor}` (spooled), `samples_dropped_total{sensor,reason}`,
 * `sensor_read_errors_total{sensor}`, `spool_bytes`, `spool_records` (the backlog),
 * `spool_segments`, `spool_dropped_records_total{reason}` (overflow, age, corrupt),
 * `spool_oldest_unacked_age_seconds`, `spool_write_errors_total`,
 * `forward_batches_total`, `forward_records_total`, `forward_errors_total{class}`,
 * `forward_consecutive_failures`, `heartbeats_total`, `heartbeat_failures_total`,
 * `config_reloads_total{result}`, `health{status}` (1 for the current one), plus the
 * default process metrics.
 *
 * Limitations: counters restart at zero with the process (Prometheus handles resets);
 * spool drop counters are those of the currently open spool.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SpoolStats } from '../legos/spool/index.ts';
import type { AgentHealth } from './health.ts';
import { type AgentStats, DROP_REASONS, type SensorStats } from './stats.ts';

/** What the collectors read besides the counters. */
export interface MetricsSource {
  readonly stats: AgentStats;
  spool(): SpoolStats | undefined;
  health(): AgentHealth;
}

type Labels = Record<string, string>;

/** Builds the registry; each metric reads `source` when scraped. */
export function createAgentMetrics(source: MetricsSource, options: { processMetrics?: boolean | undefined } = {}): Registry {
  const registry = new Registry();
  const prefix = 'manyfold_agent_';

  const counter = (name: string, help: string, labelNames: string[], values: () => Iterable<readonly [Labels, number]>) =>
    new Counter({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of values()) if (value > 0) this.inc(labels, value);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], values: () => Iterable<readonly [Labels, number]>) =>
    new Gauge({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of values()) this.set(labels, value);
      },
    });
  const perSensor = (pick: (s: SensorStats) => number) => () => [...source.stats.sensors].map(([sensor, s]) => [{ sensor }, pick(s)] as const);
  const one = (value: () => number | undefined) => () => {
    const v = value();
    return v === undefined ? [] : [[{}, v] as const];
  };

  counter('samples_read_total', 'Readings taken from sensors', ['sensor'], perSensor((s) => s.read));
  counter('samples_passed_total', 'Readings that decoded and passed the filters', ['sensor'], perSensor((s) => s.passed));
  counter('samples_accepted_total', 'Samples appended to the spool (acknowledged by the agent)', ['sensor'], perSensor((s) => s.accepted));
  counter('samples_dropped_total', 'Readings dropped before the spool, by reason', ['sensor', 'reason'], () =>
    [...source.stats.sensors].flatMap(([sensor, s]) => DROP_REASONS.map((reason) => [{ sensor, reason }, s.dropped[reason]] as const)),
  );
  counter('sensor_read_errors_total', 'Sensor reads or stream connections that failed', ['sensor'], perSensor((s) => s.readErrors));
  gauge('spool_bytes', 'Bytes of the spool segment files', [], one(() => source.spool()?.bytes));
  gauge('spool_records', 'Records spooled and not yet acknowledged by the sink (backlog)', [], one(() => source.spool()?.records));
  gauge('spool_segments', 'Spool segment files', [], one(() => source.spool()?.segments));
  counter('spool_dropped_records_total', 'Spooled records dropped unforwarded, by reason', ['reason'], () => {
    const spool = source.spool();
    return spool === undefined ? [] : (['overflow', 'age', 'corrupt'] as const).map((reason) => [{ reason }, spool.dropped[reason]] as const);
  });
  gauge('spool_oldest_unacked_age_seconds', 'Age of the oldest unacknowledged record (0 when none)', [], one(() => {
    const spool = source.spool();
    return spool === undefined ? undefined : (spool.oldestUnackedAgeMs ?? 0) / 1000;
  }));
  counter('spool_write_errors_total', 'Spool appends that failed and were retried', [], one(() => source.stats.spoolWriteErrors));
  counter('forward_batches_total', 'Batches the sink acknowledged', [], one(() => source.stats.forward.batches));
  counter('forward_records_total', 'Records the sink acknowledged', [], one(() => source.stats.forward.records));
  counter('forward_errors_total', 'Failed sends, by class', ['class'], () => [...source.stats.forward.errors].map(([c, n]) => [{ class: c }, n] as const));
  gauge('forward_consecutive_failures', 'Failed sends since the last success', [], one(() => source.stats.forward.consecutiveFailures));
  counter('heartbeats_total', 'Heartbeat Lease renewals', [], one(() => source.stats.heartbeats));
  counter('heartbeat_failures_total', 'Heartbeats that failed', [], one(() => source.stats.heartbeatFailures));
  counter('config_reloads_total', 'Config changes seen, by result', ['result'], () => [
    [{ result: 'applied' }, source.stats.reloads],
    [{ result: 'rejected' }, source.stats.reloadFailures],
  ]);
  gauge('health', 'Agent health (1 for the current status)', ['status'], () => {
    const status = source.health().status;
    return (['ok', 'stale', 'error'] as const).map((s) => [{ status: s }, s === status ? 1 : 0] as const);
  });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  return registry;
}
