// Child process for the stale-holder test (run with `node stale-holder-child.ts <endpoints
// JSON> <name> <ttlSeconds> <targetKey>`). It acquires the lease, writes once, reports
// over stdout (JSON lines), and on a stdin line `write N` attempts N fenced writes
// through its handle plus N raw fenced transactions with its (possibly stale) token that
// bypass the handle's local checks, so etcd's own compare is exercised. Then it exits.
import { createInterface } from 'node:readline';
import { SystemClock } from '../../../src/legos/clock.ts';
import { createLeaseClient } from '../../../src/legos/lease/index.ts';
import { clientConfig } from '../../../src/legos/lease/config.ts';
import { EtcdConnection } from '../../../src/legos/lease/etcd-connection.ts';
import { EtcdLeasePort } from '../../../src/legos/lease/etcd-port.ts';

const [endpointsJson, name, ttl, target] = process.argv.slice(2);
if (!endpointsJson || !name || !ttl || !target) throw new Error('usage: stale-holder-child.ts <endpoints JSON> <name> <ttlSeconds> <targetKey>');
const endpoints = JSON.parse(endpointsJson) as string[];
const send = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

const client = createLeaseClient({ endpoints });
const rawPort = new EtcdLeasePort(new EtcdConnection(clientConfig({ endpoints }), {}, () => undefined), SystemClock);
const lease = await client.acquire(name, { ttlSeconds: Number(ttl), identity: `child-${process.pid}` });
const first = await lease.fencedPut(target, 'child-before-pause');
send({ type: 'acquired', token: lease.fencingToken.toString(), key: lease.key, firstWrite: first.committed, pid: process.pid });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const match = /^write (\d+)$/.exec(line.trim());
  if (!match) continue;
  const count = Number(match[1]);
  const signalAbortedBefore = lease.signal.aborted;
  const viaHandle: string[] = [];
  for (let i = 0; i < count; i++) {
    const result = await lease.fencedPut(target, `stale-handle-${i}`);
    viaHandle.push(result.committed ? 'committed' : result.reason);
  }
  const viaEtcd: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const result = await rawPort.txnIfCurrent({ holderKey: lease.key, token: lease.fencingToken, ops: [{ type: 'put', key: target, value: `stale-raw-${i}` }] });
    viaEtcd.push(result.committed);
  }
  const reason: unknown = lease.signal.reason;
  send({
    type: 'writes',
    viaHandle,
    viaEtcd,
    signalAbortedBefore,
    signalAborted: lease.signal.aborted,
    reason: reason instanceof Error && 'reason' in reason ? reason.reason : undefined,
  });
  break;
}
rawPort.close();
await client.close();
process.exit(0);
