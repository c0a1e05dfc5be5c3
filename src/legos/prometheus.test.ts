import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { queryPrometheus } from './prometheus.ts';

let server: Server | undefined;

afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) await new Promise((resolve) => s.close(resolve));
});

/** A Prometheus stand-in on 127.0.0.1 answering every query with `answer`. */
async function prometheus(status: number, answer: unknown): Promise<{ address: string; queries: string[] }> {
  const queries: string[] = [];
  server = createServer((req, res) => {
    queries.push(new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, queries };
}

describe('queryPrometheus', () => {
  it('returns the value of a one-series vector and sends the query encoded', async () => {
    const p = await prometheus(200, { status: 'success', data: { resultType: 'vector', result: [{ value: [1, '0.25'] }] } });
    expect(await queryPrometheus(p.address, 'sum(rate(x{a="b c"}[1m]))')).toEqual({ value: 0.25 });
    expect(p.queries).toEqual(['sum(rate(x{a="b c"}[1m]))']);
  });

  it('reports Prometheus errors and HTTP failures as errors', async () => {
    const p = await prometheus(400, { status: 'error', error: 'parse error' });
    expect(await queryPrometheus(p.address, 'x(')).toEqual({ error: 'Prometheus refused the query: parse error' });
  });

  it('reports an unreachable Prometheus without throwing', async () => {
    const p = await prometheus(200, {});
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    const result = await queryPrometheus(p.address, 'up');
    expect('error' in result && result.error).toMatch(/^Prometheus unreachable at .*ECONNREFUSED/);
  });
});
