/**
 * Crash test with real processes: `manyfold agent` (bin/manyfold.js, --no-heartbeat)
 * samples two simulated sensors every 10 ms into a spool in a temp dir and forwards to
 * an HTTP collector this test runs on 127.0.0.1, which answers 500 or is slow at random
 * so a backlog exists when the agent dies. The agent is `kill -9`ed at random points
 * (some during start-up and recovery, most while sampling and forwarding) at least 50
 * times, restarted each time on the same spool. Then a last agent drains and stops on
 * SIGTERM (exit 0).
 *
 * Checked: every sample the agent acknowledged (its --ack-log lists the sequence numbers
 * whose spool append returned) reached the collector at least once; a sequence number
 * never names two different samples (the counter resumes from the spool); the number of
 * duplicates is reported, not bounded (at-least-once).
 *
 * Tier: `slow`: about 3 minutes on an idle machine, up to 7 allowed on a busy one;
 * `npm run test:integration` runs it, `test:unit` does not. The seed of the sink's
 * chaos is printed on success and on failure; replay a run with
 * `MANYFOLD_CRASH_SEED=<seed>`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFailed } from 'vitest';
import { ackedSequences, agentConfig, Collector, eventually, tempDir, writeConfig } from './testing.test-helper.ts';

const KILLS = 50;
const BIN = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));

/** A small deterministic PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface AgentProcess {
  readonly child: ChildProcess;
  /** Resolves when the agent logged `agent_started`. */
  readonly started: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startAgent(dir: string, env: NodeJS.ProcessEnv): AgentProcess {
  const child = spawn(
    process.execPath,
    [BIN, 'agent', '--config', join(dir, 'config.json'), '--spool-dir', join(dir, 'spool'), '--no-heartbeat', '--node-name', 'crash-node', '--metrics-bind-address', '0', '--ack-log', join(dir, 'acks'), '--shutdown-timeout', '10s'],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const started = new Promise<void>((resolve) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 100_000) stdout += chunk;
      if (stdout.includes('"agent_started"')) resolve();
    });
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, started, exited, stderr: () => stderr };
}

describe('agent crash test', () => {
  it(`loses no acknowledged sample across ${KILLS} kill -9 with a flaky, slow sink`, { timeout: 420_000 }, async () => {
    const seed = Number(process.env['MANYFOLD_CRASH_SEED'] ?? Date.now() % 1_000_000);
    onTestFailed(() => {
      process.stdout.write(`[agent crash test] FAILED with seed ${seed}; replay: MANYFOLD_CRASH_SEED=${seed} npx vitest run --project slow src/agent/crash.slow.test.ts\n`);
    });
    const random = prng(seed);
    const dir = tempDir('manyfold-agent-crash-');
    const cache = join(dir, 'compile-cache');
    mkdirSync(cache);
    const env = { ...process.env, NODE_COMPILE_CACHE: cache };
    const sink = new Collector();
    await sink.start();
    sink.mode = { kind: 'chaos', failRate: 0.25, slowRate: 0.25, slowMs: 400, random };
    const sensors = ['t0', 't1'].map((name) => ({ name, source: { type: 'simulated', waveform: 'random', amplitude: 100 }, intervalMs: 10 }));
    writeConfig(join(dir, 'config.json'), agentConfig({ sensors, sink: { type: 'http', url: sink.url, batchSize: 40, timeoutMs: 1000 } }));

    const began = Date.now();
    let earlyKills = 0;
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const agent = startAgent(dir, env);
        if (random() < 0.15) {
          earlyKills++; // during start-up or spool recovery
          await new Promise((r) => setTimeout(r, random() * 700));
        } else {
          await Promise.race([agent.started, agent.exited]);
          await new Promise((r) => setTimeout(r, 30 + random() * 700));
        }
        agent.child.kill('SIGKILL');
        const exit = await agent.exited;
        // Anything but our SIGKILL means the agent died on its own: that is a failure.
        expect({ kill, ...exit, stderr: exit.signal === 'SIGKILL' ? '' : agent.stderr() }).toEqual({ kill, code: null, signal: 'SIGKILL', stderr: '' });
      }
      const acked = ackedSequences(join(dir, 'acks'));
      expect(acked.length).toBeGreaterThan(200); // the agent did real work between kills

      // Drain: a healthy sink and one more agent, stopped by SIGTERM once it delivered everything.
      sink.mode = { kind: 'ok' };
      const last = startAgent(dir, env);
      await last.started;
      // The agent keeps sampling, so wait for everything acknowledged so far, then stop it: its
      // shutdown spools, syncs and forwards the rest.
      const before = ackedSequences(join(dir, 'acks'));
      await eventually('the acknowledged backlog at the sink', () => {
        const got = sink.distinct();
        return before.every((s) => got.has(s));
      }, 60_000, 200);
      last.child.kill('SIGTERM');
      expect((await last.exited).code).toBe(0);

      const finalAcked = ackedSequences(join(dir, 'acks'));
      const got = sink.distinct();
      const missing = finalAcked.filter((s) => !got.has(s));
      expect(missing).toEqual([]);
      // A sequence number names one sample: every copy received carries the same sensor and value.
      const bySeq = new Map<number, string>();
      const conflicts: number[] = [];
      for (const batch of sink.batches) {
        for (const record of batch.records) {
          const identity = JSON.stringify([record.sensor, record.value]);
          const seen = bySeq.get(record.seq);
          if (seen !== undefined && seen !== identity) conflicts.push(record.seq);
          bySeq.set(record.seq, identity);
        }
      }
      expect(conflicts).toEqual([]);
      const duplicates = sink.received.length - got.size;
      process.stdout.write(
        `[agent crash test] seed ${seed}: ${KILLS} kill -9 (${earlyKills} during start-up), ${finalAcked.length} acknowledged samples verified at the sink, ` +
          `${duplicates} duplicate deliveries, ${sink.refused} requests answered 500, ${Math.round((Date.now() - began) / 1000)} s\n`,
      );
    } finally {
      await sink.stop();
    }
  });
});
