/**
 * A TCP proxy on 127.0.0.1 for fault injection between a client and the API server:
 * `freeze()` stops forwarding on every open connection while keeping it open (a
 * half-dead connection: the client sees silence, no error, no close); new connections
 * forward normally. `hold()` queues the bytes every connection, open or new, sends to
 * the server (optionally the answers too), and `release()` delivers them: requests a client sent during the hold
 * reach the server only then (writes "in flight" across a takeover). `close()` ends
 * everything.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  private held: { to: Socket; chunk: Buffer }[] | undefined;
  private holdBoth = false;
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      const pair = { client, upstream, frozen: false };
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket, toServer: boolean) =>
        from.on('data', (chunk: Buffer) => {
          if (pair.frozen) return;
          if (this.held && (toServer || this.holdBoth)) this.held.push({ to, chunk });
          else to.write(chunk);
        });
      forward(client, upstream, true);
      forward(upstream, client, false);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const address = proxy.server.address();
    proxy.port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  /** Connections currently open through the proxy. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Silently drops all further bytes on every connection open now. */
  freeze(): number {
    for (const pair of this.pairs) pair.frozen = true;
    return this.pairs.size;
  }

  /**
   * Queues every byte sent to the server from now on (all connections, open or new),
   * and with `bothWays` the server's answers too, until {@link release}.
   */
  hold(options: { bothWays?: boolean } = {}): void {
    this.held ??= [];
    this.holdBoth = options.bothWays ?? false;
  }

  /** Delivers what {@link hold} queued, in order; returns the bytes delivered client to server. */
  release(): number {
    const queued = this.held ?? [];
    this.held = undefined;
    let upstreamBytes = 0;
    for (const { to, chunk } of queued) {
      if (to.destroyed) continue;
      to.write(chunk);
      if ([...this.pairs].some((p) => p.upstream === to)) upstreamBytes += chunk.length;
    }
    return upstreamBytes;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
