import { describe, expect, it } from 'vitest';
import { clientConfig } from './config.ts';
import { EtcdConnection, loadedEtcd3, translateError } from './etcd-connection.ts';
import { LeaseUnavailableError } from './errors.ts';

// Its own file: vitest gives each file fresh module state, so etcd3 is not imported yet.
describe('etcd3 is imported lazily', () => {
  it('not when the module loads or a connection is made, but on the first call', async () => {
    const conn = new EtcdConnection(clientConfig({ endpoints: ['127.0.0.1:1'] }), {}, () => undefined);
    expect(loadedEtcd3()).toBeUndefined();
    expect(translateError(new Error('boom'), 'op')).toBeInstanceOf(LeaseUnavailableError);
    await expect(conn.call('op', async () => 'ok')).resolves.toBe('ok');
    expect(loadedEtcd3()).toBeDefined();
    conn.close();
  });
});
