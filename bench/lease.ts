// Fenced-lease benchmark: `node bench/lease.ts [--rounds N] [--failovers K]`.
// Starts its own single-member etcd and prints
//   - acquire + release round trip (uncontended), p50/p99 (target p50 <= 5 ms);
//   - hand-off: from the holder calling release() to the next waiter holding, p50/p99
//     (target p99 <= 50 ms);
//   - failover: from SIGKILL of a holder process (at a random point of its keep-alive
//     period) to the waiter holding, against the TTL.
// Then stops its etcd. Run with `--holder <endpoints JSON> <name> <ttl>` it is the
// child holder process of the failover measurement.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLeaseClient, type LeaseClient, type LeaseHandle } from '../src/legos/lease/index.ts';
import { EtcdCluster } from '../test/support/etcd.ts';

const SELF = fileURLToPath(import.meta.url);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

function summary(label: string, samples: number[], target?: string): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
  return `${label.padEnd(28)} n=${String(sorted.length).padEnd(4)} p50 ${fmt(percentile(sorted, 50)).padEnd(10)} p99 ${fmt(percentile(sorted, 99)).padEnd(10)} mean ${fmt(mean).padEnd(10)} max ${fmt(sorted.at(-1) ?? Number.NaN)}${target ? `   (target ${target})` : ''}`;
}

/** Waits until `count` keys wait behind the holder of `name`. */
async function waitersQueued(client: LeaseClient, name: string, count: number): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (((await client.inspect(name)).holder?.waiters ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`no waiter queued on ${name}`);
}

async function roundTrips(client: LeaseClient, rounds: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < rounds + 20; i++) {
    const start = performance.now();
    const lease = await client.acquire('bench-roundtrip', { ttlSeconds: 10, identity: 'bench' });
    await lease.release();
    if (i >= 20) samples.push(performance.now() - start); // first 20 warm up
  }
  return samples;
}

async function handoffs(holderClient: LeaseClient, waiterClient: LeaseClient, rounds: number): Promise<number[]> {
  const samples: number[] = [];
  let holder: LeaseHandle = await holderClient.acquire('bench-handoff', { ttlSeconds: 10, identity: 'h0' });
  for (let i = 0; i < rounds; i++) {
    const clientOfNext = i % 2 === 0 ? waiterClient : holderClient;
    const next = clientOfNext.acquire('bench-handoff', { ttlSeconds: 10, identity: `h${i + 1}` }).then((lease) => ({ lease, at: performance.now() }));
    await waitersQueued(holderClient, 'bench-handoff', 1);
    const start = performance.now();
    void holder.release();
    const { lease, at } = await next;
    samples.push(at - start);
    holder = lease;
  }
  await holder.release();
  return samples;
}

async function failover(client: LeaseClient, endpoints: readonly string[], ttlSeconds: number): Promise<number> {
  const name = `bench-failover-${ttlSeconds}`;
  const child = spawn(process.execPath, [SELF, '--holder', JSON.stringify(endpoints), name, String(ttlSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout });
    const [line] = (await once(lines, 'line')) as [string];
    if (!line.startsWith('held')) throw new Error(`holder child said ${line}`);
    const next = client.acquire(name, { ttlSeconds, identity: 'successor', signal: AbortSignal.timeout(ttlSeconds * 1000 + 30_000) }).then((lease) => ({ lease, at: performance.now() }));
    await waitersQueued(client, name, 1);
    // Die at a random point of the keep-alive period (every TTL/3), as a real crash would.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ((ttlSeconds * 1000) / 3)));
    const start = performance.now();
    child.kill('SIGKILL');
    const { lease, at } = await next;
    await lease.release();
    return at - start;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}

async function holderMode(endpointsJson: string, name: string, ttl: string): Promise<void> {
  const client = createLeaseClient({ endpoints: JSON.parse(endpointsJson) as string[] });
  const lease = await client.acquire(name, { ttlSeconds: Number(ttl), identity: `holder-${process.pid}` });
  process.stdout.write(`held ${lease.fencingToken}\n`);
  await new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve(), { once: true }));
  await client.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '300' }, failovers: { type: 'string', default: '5' } } });
  const rounds = Number(values.rounds);
  const failovers = Number(values.failovers);
  console.log(`fenced-lease benchmark: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  const cluster = await EtcdCluster.start({ name: 'bench' });
  const clientA = createLeaseClient({ endpoints: cluster.endpoints });
  const clientB = createLeaseClient({ endpoints: cluster.endpoints });
  try {
    console.log(summary('acquire+release round trip', await roundTrips(clientA, rounds), 'p50 <= 5 ms'));
    console.log(summary('hand-off release->next holds', await handoffs(clientA, clientB, Math.round(rounds * 0.7)), 'p99 <= 50 ms'));
    for (const ttlSeconds of [2, 5]) {
      const runs = ttlSeconds === 2 ? failovers : Math.max(1, Math.ceil(failovers / 2));
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) samples.push(await failover(clientB, cluster.endpoints, ttlSeconds));
      const ratio = samples.map((s) => s / (ttlSeconds * 1000));
      console.log(
        `${summary(`failover after SIGKILL, TTL ${ttlSeconds} s`, samples)}   (= ${Math.min(...ratio).toFixed(2)}..${Math.max(...ratio).toFixed(2)} x TTL; ` +
          `expected: 2/3..1 x TTL since the last keep-alive, + etcd's <= 500 ms expiry scan + hand-off)`,
      );
    }
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await clientA.close();
    await clientB.close();
    await cluster.stop();
  }
}

if (process.argv[2] === '--holder') {
  const [endpoints, name, ttl] = process.argv.slice(3);
  if (!endpoints || !name || !ttl) throw new Error('usage: lease.ts --holder <endpoints JSON> <name> <ttlSeconds>');
  await holderMode(endpoints, name, ttl);
} else {
  await main();
}
