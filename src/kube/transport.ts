/**
 * The HTTP/1.1 transport of {@link KubeClient}: Node's own `http`/`https` with one
 * keep-alive agent (connection pool) per client.
 *
 * Why not `fetch` (undici): undici is ~110 modules of JavaScript (~4 MiB of the
 * operator's heap, plus the code pages that run it) and parses HTTP in WebAssembly, which
 * V8's memory-saving `--lite-mode` (jitless) disables; Node's `http` parses in C++
 * (llhttp) and is already part of the binary. bench/README.md, issue 15.
 *
 * Guarantees: one connection per request in flight (no HTTP/2, no pipelining; no limit
 * per origin unless `maxSockets` is given), idle connections kept alive (at most 256); a request is aborted by its
 * `signal` at any point, headers or body, and an aborted request destroys its socket
 * (so the informer's watchdog, aborting a silent watch, also discards a broken
 * connection). Transport failures reject with the underlying error (ECONNREFUSED,
 * AbortError, ...); HTTP statuses are returned, never thrown.
 *
 * Limitations: responses are not decompressed, so no `Accept-Encoding` is sent (the API
 * server then answers uncompressed, which costs bytes on the wire, not memory); no
 * redirects are followed (the API server sends none).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TlsMaterial } from './kubeconfig.ts';

/** An answer whose headers arrived; its body is read once, with `text()` or `chunks()`. */
export interface HttpResponse {
  /** HTTP status code. */
  readonly status: number;
  /** Status is 2xx. */
  readonly ok: boolean;
  /** One header's value (lower-case name), or null. */
  header(name: string): string | null;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** The body as it arrives; ends when the server ends it, throws when aborted. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Stops reading: drops the body and destroys the connection. */
  cancel(): void;
}

/** What one request sends. */
export interface HttpRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** TLS material for `https://` servers. */
  readonly tls: TlsMaterial;
  /**
   * Connections per origin at most (default: no limit). Each watch holds a connection
   * for its whole life, so a limit below the number of watches stalls every other
   * request behind them: an operator runs more than 64 informers.
   */
  readonly maxSockets?: number;
}

/** A connection pool and the requests sent through it. */
export class HttpTransport {
  private readonly https: HttpsAgent;
  private readonly http: HttpAgent;

  constructor(options: HttpTransportOptions) {
    const { tls } = options;
    const pool = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: options.maxSockets ?? Number.POSITIVE_INFINITY, scheduling: 'lifo' as const };
    this.http = new HttpAgent(pool);
    this.https = new HttpsAgent({
      ...pool,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    });
  }

  /** Sends `request` to `url`; resolves when the answer's headers arrived. */
  send(url: URL, request: HttpRequest): Promise<HttpResponse> {
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(request.body));
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: request.method,
        headers,
        agent: secure ? this.https : this.http,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      req.once('error', reject);
      req.once('response', (res) => {
        req.off('error', reject);
        // Errors after the headers surface through the body's reader.
        req.on('error', () => undefined);
        resolve(answer(res));
      });
      req.end(request.body);
    });
  }

  /** Closes every connection; the transport is unusable afterwards. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function answer(res: IncomingMessage): HttpResponse {
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    header(name) {
      const value = res.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
    async text() {
      const parts: Buffer[] = [];
      for await (const chunk of res) parts.push(chunk as Buffer);
      return Buffer.concat(parts).toString('utf8');
    },
    chunks: () => res,
    cancel: () => {
      res.destroy();
    },
  };
}
