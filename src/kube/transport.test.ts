import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpTransport } from './transport.ts';

const servers: Server[] = [];
const transports: HttpTransport[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: (body: string, res: ServerResponse, method: string) => void): Promise<URL> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => handler(Buffer.concat(parts).toString('utf8'), res, req.method ?? ''));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/path?q=1`);
}

function transport(): HttpTransport {
  const t = new HttpTransport({ tls: {} });
  transports.push(t);
  return t;
}

describe('HttpTransport', () => {
  it('sends the method, headers and body and reads status, headers and text', async () => {
    const url = await serve((body, res, method) => {
      res.setHeader('retry-after', '3');
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method, body }));
    });
    const response = await transport().send(url, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: '{"ü":1}' });
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.header('Retry-After')).toBe('3');
    expect(response.header('x-absent')).toBeNull();
    expect(JSON.parse(await response.text())).toEqual({ method: 'PATCH', body: '{"ü":1}' });
  });

  it('returns non-2xx answers instead of throwing', async () => {
    const url = await serve((_b, res) => {
      res.writeHead(409);
      res.end('{"reason":"Conflict"}');
    });
    const response = await transport().send(url, { method: 'GET', headers: {} });
    expect(response.ok).toBe(false);
    expect(response.status).toBe(409);
    expect(await response.text()).toBe('{"reason":"Conflict"}');
  });

  it('streams chunks as they arrive and stops when the signal aborts mid-body', async () => {
    const url = await serve((_b, res) => {
      res.writeHead(200);
      res.write('first\n');
    });
    const abort = new AbortController();
    const response = await transport().send(url, { method: 'GET', headers: {}, signal: abort.signal });
    const reader = response.chunks()[Symbol.asyncIterator]();
    const first = await reader.next();
    expect(Buffer.from(first.value as Uint8Array).toString('utf8')).toBe('first\n');
    abort.abort();
    await expect(reader.next()).rejects.toThrow();
  });

  it('rejects when the server cannot be reached', async () => {
    const url = await serve(() => undefined);
    await new Promise((resolve) => servers.pop()?.close(resolve));
    await expect(transport().send(url, { method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('does not stall a request behind more long-lived streams (watches) than 64', async () => {
    const url = await serve((_b, res, method) => {
      if (method === 'GET') {
        res.writeHead(200);
        res.write('open\n'); // a watch: the answer never ends
      } else res.end('done');
    });
    const t = transport();
    const watches = await Promise.all(Array.from({ length: 70 }, () => t.send(url, { method: 'GET', headers: {} })));
    const after = await t.send(url, { method: 'POST', headers: {}, body: 'x' });
    expect(await after.text()).toBe('done');
    for (const w of watches) w.cancel();
  });

  it('reuses kept-alive connections for sequential requests', async () => {
    const ports = new Set<number>();
    const url = await serve((_b, res) => {
      ports.add(res.socket?.remotePort ?? -1);
      res.end('ok');
    });
    const t = transport();
    for (let i = 0; i < 5; i++) expect(await (await t.send(url, { method: 'GET', headers: {} })).text()).toBe('ok');
    expect(ports.size).toBe(1);
  });
});
