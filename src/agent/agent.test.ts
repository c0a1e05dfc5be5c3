/**
 * The agent in-process against real files and a real HTTP collector on 127.0.0.1: sink
 * outages (refused, 503), the two overflow policies on a tiny spool, config reloads,
 * a rejected config, damage in the spool, and the /metrics and /healthz endpoint.
 */
import { openSync, readdirSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SPOOL_MIN_BYTES } from '../crds/sensorfleet.ts';
import { createLogger } from '../runtime/log.ts';
import { Agent, type AgentOptions } from './agent.ts';
import { ackedSequences, agentConfig, Collector, eventually, metricValue, tempDir, writeConfig } from './testing.test-helper.ts';

const running: Agent[] = [];
const collectors: Collector[] = [];

afterEach(async () => {
  for (const agent of running.splice(0)) await agent.stop();
  for (const collector of collectors.splice(0)) await collector.stop();
});

async function collector(): Promise<Collector> {
  const c = new Collector();
  await c.start();
  collectors.push(c);
  return c;
}

async function startAgent(dir: string, config: Record<string, unknown>, options: Partial<AgentOptions> = {}): Promise<{ agent: Agent; configPath: string; ackLog: string }> {
  const configPath = join(dir, 'config.json');
  const ackLog = join(dir, 'acks');
  writeConfig(configPath, config);
  const agent = await Agent.start({
    configPath,
    spoolRoot: join(dir, 'spool'),
    nodeName: 'node-1',
    log: createLogger({ level: 'silent' }),
    ackLogPath: ackLog,
    configPollMs: 100,
    lingerMs: 20,
    forwarderBackoff: { initialDelayMs: 50, maxDelayMs: 300 },
    fsync: { mode: 'interval', intervalMs: 50 },
    processMetrics: false,
    shutdownTimeoutMs: 10_000, // a drain to a working sink ends when caught up, long before this
    ...options,
  });
  running.push(agent);
  return { agent, configPath, ackLog };
}

const fastSensors = (n: number, prefix = 's') => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, source: { type: 'simulated', waveform: 'random', amplitude: 100 }, intervalMs: 10 }));

/** Every acknowledged sample reached the collector (at least once). */
function expectNoLoss(ackLog: string, sink: Collector): number {
  const acked = ackedSequences(ackLog);
  const got = sink.distinct();
  const missing = acked.filter((s) => !got.has(s));
  expect(missing.slice(0, 10)).toEqual([]);
  return acked.length;
}

describe('Agent against a real HTTP sink', () => {
  it('sink outage: the backlog grows within the spool limit while the sink refuses and answers 503, then drains fully', async () => {
    const dir = tempDir();
    const sink = await collector();
    const port = sink.port;
    await sink.stop(); // connection refused
    const { agent, ackLog } = await startAgent(dir, agentConfig({ sensors: fastSensors(2), sink: { type: 'http', url: `http://127.0.0.1:${port}/ingest`, timeoutMs: 1000 } }));
    await eventually('a backlog and failed sends while the sink refuses', () => (agent.spoolStats()?.records ?? 0) > 100 && (agent.stats.forward.errors.get('network') ?? 0) > 0);
    expect(agent.health().message).toContain('sink failing');
    await sink.start(port);
    sink.mode = { kind: 'status', status: 503 };
    // The agent counts a failed forward after its last attempt's answer arrives, a moment
    // after the sink counted the answer: wait for both (the sink alone raced it once).
    await eventually('503 answers, counted as http5xx', () => sink.refused >= 3 && (agent.stats.forward.errors.get('http5xx') ?? 0) > 0);
    const backlog = agent.spoolStats()?.records ?? 0;
    expect(backlog).toBeGreaterThan(100);
    expect(agent.spoolStats()?.bytes ?? Infinity).toBeLessThanOrEqual(64 * 1024 * 1024);
    sink.mode = { kind: 'ok' };
    await eventually('the backlog to drain', () => (agent.spoolStats()?.records ?? 1) < 10);
    await agent.stop();
    expect(agent.spoolStats()?.records).toBe(0);
    const verified = expectNoLoss(ackLog, sink);
    expect(verified).toBeGreaterThan(backlog);
  });

  it('overflow dropOldest on a tiny spool: evicts the oldest (counted), stays under maxBytes, keeps sampling', async () => {
    const dir = tempDir();
    const { agent } = await startAgent(dir, agentConfig({ sensors: fastSensors(4), spool: { maxBytes: SPOOL_MIN_BYTES, overflow: 'dropOldest' }, sink: { type: 'http', url: 'http://127.0.0.1:9/ingest', timeoutMs: 200 } }), {
      metricsBindAddress: '127.0.0.1:0',
      shutdownTimeoutMs: 1000, // the sink is down: do not wait for it at the end
    });
    await eventually('overflow drops', () => (agent.spoolStats()?.dropped.overflow ?? 0) > 0);
    const stats = agent.spoolStats();
    expect(stats?.bytes).toBeLessThanOrEqual(SPOOL_MIN_BYTES);
    expect(agent.stats.sensor('s0').dropped.spoolFull).toBe(0);
    const metrics = await (await fetch(`http://${agent.address}/metrics`)).text();
    expect(metricValue(metrics, 'manyfold_agent_spool_dropped_records_total', { reason: 'overflow' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'manyfold_agent_spool_bytes')).toBeLessThanOrEqual(SPOOL_MIN_BYTES);
    expect(metricValue(metrics, 'manyfold_agent_samples_accepted_total')).toBeGreaterThan(stats?.records ?? 0);
    expect(agent.health().status).toBe('ok');
  });

  it('overflow block on a tiny spool: sensors skip while full (counted), nothing is evicted, and nothing accepted is lost', async () => {
    const dir = tempDir();
    const sink = await collector();
    const port = sink.port;
    await sink.stop();
    const { agent, ackLog } = await startAgent(dir, agentConfig({ sensors: fastSensors(4), spool: { maxBytes: SPOOL_MIN_BYTES, overflow: 'block' }, sink: { type: 'http', url: `http://127.0.0.1:${port}/ingest`, timeoutMs: 500 } }));
    await eventually('sampling to pause on a full spool', () => agent.stats.sensor('s0').dropped.spoolFull > 5);
    expect(agent.health().status).toBe('stale');
    expect(agent.health().message).toContain('spool full');
    expect(agent.spoolStats()?.dropped.overflow).toBe(0);
    expect(agent.spoolStats()?.bytes).toBeLessThanOrEqual(SPOOL_MIN_BYTES);
    await sink.start(port);
    await eventually('sampling to resume', () => agent.health().status === 'ok', 20_000);
    await agent.stop();
    expect(agent.spoolStats()?.dropped.overflow).toBe(0);
    expect(expectNoLoss(ackLog, sink)).toBeGreaterThan(0);
  });

  it('reload: the new sensor set and sink take over, nothing spooled is lost; a bad config is reported and the old one keeps running', async () => {
    const dir = tempDir();
    const first = await collector();
    const second = await collector();
    const config = agentConfig({ sensors: fastSensors(2, 'a'), sink: { type: 'http', url: first.url } });
    const { agent, configPath, ackLog } = await startAgent(dir, config);
    await eventually('samples from a0 and a1', () => first.batches.some((b) => b.records.some((r) => r.sensor === 'a1')));
    first.mode = { kind: 'status', status: 503 }; // leave a backlog behind for the reload
    await eventually('a backlog', () => (agent.spoolStats()?.records ?? 0) > 50);

    writeConfig(configPath, { ...config, fleet: { ...(config['fleet'] as object), generation: 2 }, sensors: [...fastSensors(1, 'a'), ...fastSensors(1, 'b')], sink: { type: 'http', url: second.url } });
    await eventually('the reload', () => agent.stats.reloads === 1);
    expect(agent.config?.sensors.map((s) => s.name)).toEqual(['a0', 'b0']);
    await eventually('b0 at the new sink', () => second.batches.some((b) => b.records.some((r) => r.sensor === 'b0')));
    await eventually('the backlog to reach the new sink', () => (agent.spoolStats()?.records ?? 1) < 20);
    const a1Before = agent.stats.sensors.get('a1');
    expect(a1Before).toBeUndefined(); // removed sensor: stopped and its series gone

    writeConfig(configPath, { ...config, sensors: [{ name: 'bad', source: { type: 'file', path: 'relative/path' } }] });
    await eventually('the rejection', () => agent.stats.reloadFailures === 1);
    expect(agent.health()).toMatchObject({ status: 'error' });
    expect(agent.health().message).toContain('sensors[0].source.path');
    expect(agent.config?.sensors.map((s) => s.name)).toEqual(['a0', 'b0']); // still running the previous one
    const accepted = agent.stats.sensor('b0').accepted;
    await eventually('b0 still sampling', () => agent.stats.sensor('b0').accepted > accepted + 10);

    await agent.stop();
    const all = new Collector();
    for (const seq of [...first.received, ...second.received]) all.received.push(seq);
    expectNoLoss(ackLog, all);
  });

  it('reports a corrupt spool segment naming the file, and forwards the intact records', async () => {
    const dir = tempDir();
    const sinkDown = agentConfig({ sensors: fastSensors(2), spool: { maxBytes: 4 * SPOOL_MIN_BYTES }, sink: { type: 'http', url: 'http://127.0.0.1:9/ingest', timeoutMs: 200 } });
    const { agent } = await startAgent(dir, sinkDown, { shutdownTimeoutMs: 1000 });
    const segDir = join(dir, 'spool', 'edge_plant');
    await eventually('three segments', () => readdirSync(segDir).filter((n) => n.endsWith('.seg')).length >= 3);
    await agent.stop();
    running.splice(0);
    const [firstSegment] = readdirSync(segDir).filter((n) => n.endsWith('.seg')).sort();
    const fd = openSync(join(segDir, firstSegment as string), 'r+');
    writeSync(fd, Buffer.from('garbage!'), 0, 8, 2000); // damage inside a sealed segment
    closeSync(fd);

    const sink = await collector();
    const { agent: restarted } = await startAgent(dir, { ...sinkDown, sink: { type: 'http', url: sink.url } }, { metricsBindAddress: '127.0.0.1:0' });
    const health = restarted.health();
    expect(health.message).toContain(`spool damage quarantined: ${join(segDir, firstSegment as string)}`);
    expect(restarted.spoolStats()?.dropped.corrupt).toBeGreaterThan(0);
    await eventually('intact records forwarded', () => sink.received.length > 100);
    const healthz = await fetch(`http://${restarted.address}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.text()).toContain('spool damage quarantined');
  });

  it('restarted onto an invalid config, runs the last config that ran and reports the rejected field', async () => {
    const dir = tempDir();
    const sink = await collector();
    const good = agentConfig({ sensors: fastSensors(1), sink: { type: 'http', url: sink.url } });
    const { agent, configPath } = await startAgent(dir, good);
    await eventually('samples forwarded', () => sink.received.length > 5);
    await agent.stop();
    running.splice(0);
    writeConfig(configPath, { ...good, sink: { type: 'kafka' } });
    const { agent: restarted } = await startAgent(dir, { ...good, sink: { type: 'kafka' } }, { metricsBindAddress: '127.0.0.1:0' });
    expect(restarted.config?.sink).toMatchObject({ type: 'http', url: sink.url });
    expect(restarted.health().status).toBe('error');
    expect(restarted.health().message).toContain('sink.type');
    const before = sink.received.length;
    await eventually('sampling and forwarding on the last good config', () => sink.received.length > before + 5);
    const healthz = await fetch(`http://${restarted.address}/healthz`);
    expect(healthz.status).toBe(200); // a rejected config is reported, not a reason to restart
  });

  it('waits for a valid config when there is none, without sampling', async () => {
    const dir = tempDir();
    const sink = await collector();
    const { agent, configPath } = await startAgent(dir, { version: 1, fleet: { namespace: 'edge', name: 'plant' }, sensors: [] });
    expect(agent.config).toBeUndefined();
    expect(agent.health()).toMatchObject({ status: 'error' });
    expect(agent.health().message).toContain('sensors');
    writeConfig(configPath, agentConfig({ sensors: fastSensors(1), sink: { type: 'http', url: sink.url } }));
    await eventually('the valid config to run', () => sink.received.length > 0);
    expect(agent.health().status).toBe('ok');
  });

  it('serves /metrics and /healthz on one port', async () => {
    const dir = tempDir();
    const sink = await collector();
    const { agent } = await startAgent(dir, agentConfig({ sensors: [...fastSensors(1), { name: 'broken', source: { type: 'file', path: join(dir, 'missing') }, intervalMs: 10 }], sink: { type: 'http', url: sink.url } }), {
      metricsBindAddress: '127.0.0.1:0',
    });
    await eventually('forwarded batches', () => agent.stats.forward.batches > 2);
    await eventually('three failed reads', () => agent.stats.sensor('broken').readErrors >= 3);
    const metrics = await (await fetch(`http://${agent.address}/metrics`)).text();
    expect(metricValue(metrics, 'manyfold_agent_samples_read_total', { sensor: 's0' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'manyfold_agent_samples_passed_total', { sensor: 's0' })).toBeGreaterThan(0);
    expect(metricValue(metrics, 'manyfold_agent_forward_batches_total')).toBeGreaterThan(2);
    expect(metricValue(metrics, 'manyfold_agent_sensor_read_errors_total', { sensor: 'broken' })).toBeGreaterThanOrEqual(3);
    expect(metricValue(metrics, 'manyfold_agent_health', { status: 'error' })).toBe(1);
    expect(metrics).toContain('manyfold_agent_spool_oldest_unacked_age_seconds');
    expect(metrics).toContain('manyfold_agent_heartbeat_failures_total');
    const healthz = await fetch(`http://${agent.address}/healthz`);
    expect(healthz.status).toBe(200); // a failing sensor does not fail liveness
    expect(await healthz.text()).toMatch(/^error: sensor broken: source failing/);
  });
});
