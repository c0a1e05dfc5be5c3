/**
 * The agent's one HTTP port (`--metrics-bind-address`, default `:9464`): `/metrics`
 * (Prometheus text from the agent's registry) and `/healthz`.
 *
 * `/healthz` is a liveness probe: 200 while the agent can do its job, whatever its
 * sensors report (the body is `<health>` or `<health>: <message>`), and 503 when the
 * spool failed (the agent reopens it itself; a restart by the kubelet recovers it too).
 * Sensor staleness, a sink outage or a rejected config never fail it: restarting would
 * not help (a config is picked up by polling).
 *
 * Limitations: plain HTTP, no authentication (bind it to the pod network only).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { parseBindAddress } from '../runtime/http.ts';
import type { AgentHealth } from './health.ts';

/** The running endpoint. */
export interface AgentEndpoint {
  /** `host:port` actually bound (the port is resolved when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

/** What `/healthz` needs. */
export interface Liveness {
  health(): AgentHealth;
  /** False when the agent cannot work (its spool failed). */
  alive(): boolean;
}

/** Serves `/metrics` and `/healthz` on `bindAddress`; undefined when it is `0` (disabled). */
export async function serveAgentEndpoint(bindAddress: string, registry: Registry, liveness: Liveness): Promise<AgentEndpoint | undefined> {
  const bind = parseBindAddress(bindAddress);
  if (bind === undefined) return undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(`${String(error)}\n`),
      );
    } else if (path === '/healthz' || path === '/livez') {
      const health = liveness.health();
      const body = health.message === '' ? health.status : `${health.status}: ${health.message}`;
      res.writeHead(liveness.alive() ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${body}\n`);
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const info = server.address() as AddressInfo;
  return {
    address: `${info.address}:${info.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
