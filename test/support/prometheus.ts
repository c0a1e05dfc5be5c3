/**
 * A real Prometheus for analysis tests (Debian's `prometheus` package, or any
 * `prometheus` binary on PATH or in $PROMETHEUS_BINARY), started on 127.0.0.1 with a
 * temporary data directory, scraping every second a small metrics endpoint the test
 * controls (`MetricsEndpoint.set(name, value)`). No fake Prometheus API.
 *
 * `startPrometheus()` returns `{ skip }` with a reason when no binary exists, so the
 * caller can skip loudly; CI installs the package (apt-get install prometheus).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A /metrics endpoint on 127.0.0.1 serving gauges the test sets. */
export class MetricsEndpoint {
  private readonly values = new Map<string, number>();
  private readonly server: Server = createServer((_req, res) => {
    const body = [...this.values].map(([k, v]) => `# TYPE ${k} gauge\n${k} ${v}\n`).join('');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  port = 0;
  set(name: string, value: number): void {
    this.values.set(name, value);
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface RunningPrometheus {
  readonly url: string;
  /** Waits until an instant query of `query` returns `value` (scrapes are every second). */
  until(query: string, value: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function binary(): string | undefined {
  const candidates = [process.env['PROMETHEUS_BINARY'], '/usr/bin/prometheus', ...(process.env['PATH'] ?? '').split(':').map((d) => join(d, 'prometheus'))];
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function startPrometheus(target: MetricsEndpoint): Promise<RunningPrometheus | { skip: string }> {
  const bin = binary();
  if (bin === undefined) return { skip: 'no prometheus binary: install Debian\'s prometheus package (apt-get install prometheus) or set PROMETHEUS_BINARY' };
  const dir = await mkdtemp(join(tmpdir(), 'manyfold-prom-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:${target.port}']\n`);
  const port = await freePort();
  const child: ChildProcess = spawn(bin, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`prometheus did not become ready on ${url}`);
    await sleep(200);
  }
  return {
    url,
    async until(query, value, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const body = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { data?: { result?: { value?: [number, string] }[] } };
        if (Number(body.data?.result?.[0]?.value?.[1]) === value) return;
        if (Date.now() > end) throw new Error(`prometheus never returned ${value} for ${query}`);
        await sleep(250);
      }
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
