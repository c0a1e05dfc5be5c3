/**
 * Test fixtures for the agent: temporary directories removed after each test, a real
 * HTTP collector on 127.0.0.1 that records every sample it is sent (and can be told to
 * refuse, fail or be slow), config files, polling with a deadline, and parsing of
 * `/metrics` and of the agent's acknowledgement log.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';

const created: string[] = [];

afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the current test. */
export function tempDir(prefix = 'manyfold-agent-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** What the collector answers: accept, an HTTP error, or a delay before accepting. */
export type CollectorMode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'chaos'; failRate: number; slowRate: number; slowMs: number; random: () => number };

/** The body of a batch POST (see src/agent/batch.ts). */
export interface PostedBatch {
  readonly node: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly records: readonly { sensor: string; seq: number; value: unknown }[];
}

/** A real HTTP sink on 127.0.0.1 that records every sample of every accepted batch. */
export class Collector {
  mode: CollectorMode = { kind: 'ok' };
  /** Every sequence number received in an accepted batch, with repeats. */
  readonly received: number[] = [];
  readonly batches: PostedBatch[] = [];
  requests = 0;
  refused = 0;
  private server: Server | undefined;
  private portValue = 0;

  get port(): number {
    return this.portValue;
  }
  get url(): string {
    return `http://127.0.0.1:${this.portValue}/ingest`;
  }
  /** Distinct sequence numbers received. */
  distinct(): Set<number> {
    return new Set(this.received);
  }

  /** Starts listening (on `port`, or a free one). */
  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.answer(Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portValue = (server.address() as AddressInfo).port;
  }

  /** Stops listening: connections are refused until `start(port)` again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async answer(body: Buffer, res: ServerResponse): Promise<void> {
    this.requests++;
    const mode = this.mode;
    if (mode.kind === 'status') {
      this.refused++;
      res.writeHead(mode.status).end();
      return;
    }
    if (mode.kind === 'chaos') {
      if (mode.random() < mode.failRate) {
        this.refused++;
        res.writeHead(500).end();
        return;
      }
      if (mode.random() < mode.slowRate) await sleep(mode.slowMs);
    }
    const batch = JSON.parse(body.toString()) as PostedBatch;
    this.batches.push(batch);
    for (const record of batch.records) this.received.push(record.seq);
    res.writeHead(204).end();
  }
}

/** A config.json document (version 1) with defaults for what is not given. */
export function agentConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    fleet: { namespace: 'edge', name: 'plant', uid: 'uid-1', generation: 1 },
    sensors: [{ name: 'temp', source: { type: 'simulated', waveform: 'random', amplitude: 10 }, intervalMs: 10 }],
    spool: { maxBytes: 64 * 1024 * 1024, maxAgeSeconds: 86_400, overflow: 'dropOldest' },
    sink: { type: 'stdout' },
    staleAfterSeconds: 30,
    ...overrides,
  };
}

/** Writes a config file the way a ConfigMap volume update does (new content, atomically). */
export function writeConfig(path: string, config: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(config));
  renameSync(`${path}.tmp`, path); // atomic: the agent never reads a half-written file
}

/** Polls `check` until it returns true, or throws after `timeoutMs` naming `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The sequence numbers an acknowledgement log (`--ack-log`) lists. */
export function ackedSequences(path: string): number[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+) (\d+)$/.exec(line);
    if (!match) continue; // a line cut by kill -9 was never complete, so never relied upon
    for (let s = Number(match[1]); s <= Number(match[2]); s++) out.push(s);
  }
  return out;
}

/** Sums the samples of a metric (all label sets, or those matching `labels`) in Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}
