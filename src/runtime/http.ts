/**
 * The operator's probe and metrics endpoints: `/healthz` (the process is alive and its
 * event loop turns), `/readyz` (every informer has synced), `/metrics` (Prometheus).
 *
 * Addresses use controller-runtime's flag syntax: `:8080` (all interfaces),
 * `127.0.0.1:0` (loopback, any free port), or `0` to disable.
 *
 * `/metrics` can be served over TLS and only to callers an authorizer admits
 * (metrics-auth.ts: TokenReview + SubjectAccessReview), as controller-runtime's secure
 * metrics are.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { MetricsAuthorizer } from './metrics-auth.ts';

export type Check = () => { ok: boolean; detail: string };

export interface Endpoint {
  readonly server: Server;
  readonly address: string;
  close(): Promise<void>;
}

/** Parses `host:port`, `:port` or `port`; `0` (alone) means disabled (undefined). */
export function parseBindAddress(value: string): { host: string; port: number } | undefined {
  if (value === '0' || value === '') return undefined;
  const colon = value.lastIndexOf(':');
  const host = colon > 0 ? value.slice(0, colon).replace(/^\[|\]$/g, '') : '0.0.0.0';
  const port = Number(colon >= 0 ? value.slice(colon + 1) : value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid bind address '${value}': expected host:port, :port or 0 to disable`);
  }
  return { host, port };
}

async function listen(server: Server, bind: { host: string; port: number }): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `${address.address}:${address.port}`;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}

/** Serves `/healthz` and `/readyz` from named checks. */
export async function serveProbes(bindAddress: string, checks: { healthz: Record<string, Check>; readyz: Record<string, Check> }): Promise<Endpoint | undefined> {
  const bind = parseBindAddress(bindAddress);
  if (!bind) return undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const set = path === '/healthz' || path === '/livez' ? checks.healthz : path === '/readyz' ? checks.readyz : undefined;
    if (!set) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const results = Object.entries(set).map(([name, check]) => ({ name, ...check() }));
    const ok = results.every((r) => r.ok);
    const verbose = (req.url ?? '').includes('verbose');
    const body = verbose || !ok ? results.map((r) => `[${r.ok ? '+' : '-'}]${r.name} ${r.ok ? 'ok' : `failed: ${r.detail}`}`).join('\n') + '\n' : 'ok';
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
  });
  const address = await listen(server, bind);
  return { server, address, close: closer(server) };
}

/** How `/metrics` is protected (both optional: plain HTTP to anyone by default). */
export interface MetricsServing {
  /** PEM certificate and key: serve HTTPS. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Admits or refuses each request (401/403/503 with a plain-text reason). */
  readonly authorizer?: MetricsAuthorizer;
}

/** Serves `/metrics` from a prom-client registry. */
export async function serveMetrics(bindAddress: string, registry: Registry, serving: MetricsServing = {}): Promise<Endpoint | undefined> {
  const bind = parseBindAddress(bindAddress);
  if (!bind) return undefined;
  const send = (res: ServerResponse) =>
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    if (!serving.authorizer) {
      void send(res);
      return;
    }
    void serving.authorizer.authorize({ authorization: req.headers.authorization, path }).then((decision) => {
      if (decision.allowed) return send(res);
      res.writeHead(decision.code, { 'Content-Type': 'text/plain; charset=utf-8', ...(decision.code === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}) }).end(`${decision.message}\n`);
      return undefined;
    });
  };
  const server: Server = serving.tls ? createTlsServer({ cert: serving.tls.cert, key: serving.tls.key }, handler) : createServer(handler);
  const address = await listen(server, bind);
  return { server, address, close: closer(server) };
}
