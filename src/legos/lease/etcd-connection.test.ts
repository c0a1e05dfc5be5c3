import { type Etcd3, EtcdPermissionDeniedError, GRPCInternalError, GRPCUnavailableError } from 'etcd3';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from './config.ts';
import { LeaseAccessError, LeaseLostError, LeaseUnavailableError } from './errors.ts';
import { EtcdConnection, isInternalStreamError, loadEtcd3, translateError } from './etcd-connection.ts';
import type { LeaseEvent } from './types.ts';

// etcd3 connects lazily: nothing here opens a socket.
function connection(recreateAfterInternalErrors = 3) {
  const events: LeaseEvent[] = [];
  const conn = new EtcdConnection(clientConfig({ endpoints: ['127.0.0.1:1'], recreateAfterInternalErrors }), {}, (e) => events.push(e));
  return { conn, events };
}

// etcd3 is imported on the first call (etcd-connection.ts); these tests build its errors first.
beforeAll(async () => {
  await loadEtcd3();
});

const rstStream = () => new GRPCInternalError('13 INTERNAL: Received RST_STREAM with code 2 triggered by internal client error');

describe('EtcdConnection', () => {
  it('recreates the etcd3 client after N consecutive internal errors, not before', async () => {
    const { conn, events } = connection(3);
    const clients = new Set<Etcd3>();
    const failing = (c: Etcd3) => {
      clients.add(c);
      return Promise.reject(rstStream());
    };
    for (let i = 0; i < 2; i++) await expect(conn.call('op', failing)).rejects.toBeInstanceOf(LeaseUnavailableError);
    expect(clients.size).toBe(1);
    expect(conn.recreations).toBe(0);
    await expect(conn.call('op', failing)).rejects.toBeInstanceOf(LeaseUnavailableError);
    expect(conn.recreations).toBe(1);
    expect(events).toEqual([{ type: 'etcd_client_recreated', consecutiveInternalErrors: 3, recreations: 1 }]);
    await conn.call('op', async (c) => clients.add(c));
    expect(clients.size).toBe(2); // the next call runs on a new client
    conn.close();
  });

  it('a success or another kind of error resets the count', async () => {
    const { conn } = connection(2);
    await expect(conn.call('op', () => Promise.reject(rstStream()))).rejects.toThrow();
    await conn.call('op', async () => 'ok');
    await expect(conn.call('op', () => Promise.reject(rstStream()))).rejects.toThrow();
    expect(conn.recreations).toBe(0);
    conn.reportError(rstStream()); // from a stream: counts too
    expect(conn.recreations).toBe(1);
    conn.close();
  });

  it('refuses calls after close with a non-retryable error', async () => {
    const { conn } = connection();
    conn.close();
    await expect(conn.call('op', async () => 1)).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('translates errors: auth is final, transport is retryable, internal is recognized', () => {
    expect(translateError(new EtcdPermissionDeniedError('etcdserver: permission denied'), 'put')).toBeInstanceOf(LeaseAccessError);
    const unavailable = translateError(new GRPCUnavailableError('14 UNAVAILABLE'), 'put');
    expect(unavailable).toBeInstanceOf(LeaseUnavailableError);
    expect(unavailable.retryable).toBe(true);
    expect(unavailable.message).toContain('put');
    expect(isInternalStreamError(rstStream())).toBe(true);
    expect(isInternalStreamError(new Error('13 INTERNAL: stream terminated'))).toBe(true);
    expect(isInternalStreamError(new GRPCUnavailableError('14 UNAVAILABLE'))).toBe(false);
  });
});
