// A stale holder cannot write: the holder runs in a child process that is frozen with
// SIGSTOP past its TTL; another contender acquires and writes; the child, thawed with
// SIGCONT, immediately tries fenced writes (through its handle and as raw transactions
// with its stale token). All must be rejected, its signal must have fired, and etcd
// must show no stale write.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseClient, type LeaseClient } from '../../../src/legos/lease/index.ts';
import { EtcdCluster } from '../../support/etcd.ts';

const CHILD = fileURLToPath(new URL('./stale-holder-child.ts', import.meta.url));

type Message = Record<string, unknown> & { type: string };

/** Reads JSON lines from a child's stdout; `next(type)` waits for the next message of that type. */
type Child = ChildProcessByStdio<Writable, Readable, null>;

function messages(child: Child) {
  const seen: Message[] = [];
  let wake: () => void = () => undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      seen.push(JSON.parse(line) as Message);
    } catch {
      return; // not one of ours
    }
    wake();
  });
  return async (type: string, timeoutMs: number): Promise<Message> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = seen.findIndex((m) => m.type === type);
      if (index >= 0) return seen.splice(index, 1)[0]!;
      if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}) before sending ${type}`);
      if (Date.now() > deadline) throw new Error(`no ${type} message from the child within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
}

describe('stale holder in a paused process', () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  let client: LeaseClient;
  let child: Child | undefined;

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ name: 'stale' });
    raw = new Etcd3({ hosts: cluster.endpoints });
    client = createLeaseClient({ endpoints: cluster.endpoints });
  });

  afterEach(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGCONT');
      process.kill(child.pid, 'SIGKILL');
      await once(child, 'exit');
    }
    child = undefined;
  });

  afterAll(async () => {
    await client?.close();
    raw?.close();
    await cluster?.stop();
  });

  it('rejects every write of a holder paused past its TTL and fires its signal', async () => {
    const name = 'stale';
    const target = '/test/stale/target';
    const ttlSeconds = 2;
    const proc = spawn(process.execPath, [CHILD, JSON.stringify(cluster.endpoints), name, String(ttlSeconds), target], { stdio: ['pipe', 'pipe', 'inherit'] });
    child = proc;
    const pid = proc.pid;
    if (pid === undefined) throw new Error('could not start the child process');
    const next = messages(proc);
    const acquired = await next('acquired', 30_000);
    const staleToken = BigInt(acquired['token'] as string);
    expect(acquired['firstWrite']).toBe(true);

    // Freeze the holder; the contender gets the lease once etcd expires the child's lease.
    process.kill(pid, 'SIGSTOP');
    const contender = await client.acquire(name, { ttlSeconds: 10, identity: 'contender', signal: AbortSignal.timeout(30_000) });
    expect(contender.fencingToken).toBeGreaterThan(staleToken);
    const fresh = await contender.fencedPut(target, 'contender');
    expect(fresh.committed).toBe(true);

    // Thaw the child and make it write at once.
    process.kill(pid, 'SIGCONT');
    const attempts = 5;
    proc.stdin.write(`write ${attempts}\n`);
    const report = await next('writes', 30_000);
    expect(report['viaHandle']).toHaveLength(attempts);
    for (const outcome of report['viaHandle'] as string[]) expect(outcome).not.toBe('committed');
    expect(report['viaEtcd']).toEqual(Array.from({ length: attempts }, () => false));
    expect(report['signalAborted']).toBe(true);
    expect(['expired', 'revoked', 'deleted', 'fenced']).toContain(report['reason']);
    const [code] = (await once(proc, 'exit')) as [number | null];
    expect(code).toBe(0);

    // etcd: the target holds the contender's value, written by the contender's put and
    // by nothing after it (version 2 = the child's one write before the pause + the contender's).
    const stored = await raw.kv.range({ key: Buffer.from(target) });
    const kv = stored.kvs[0]!;
    expect(kv.value.toString()).toBe('contender');
    expect(fresh.committed && BigInt(kv.mod_revision)).toBe(fresh.committed && fresh.revision);
    expect(kv.version).toBe('2');
    // The contender is still the holder and unaffected.
    expect(contender.signal.aborted).toBe(false);
    expect((await client.inspect(name)).holder?.fencingToken).toBe(contender.fencingToken);
    await contender.release();
  });
});
