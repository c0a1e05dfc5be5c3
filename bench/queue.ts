/**
 * In-process throughput of the controller work queue: M distinct keys are added, taken
 * and marked done by W workers, for several rounds, on the real clock. Two figures:
 *
 * - `queue`: bare `add → get → done` loops (the queue's own cost);
 * - `pool`: the same keys through `WorkerPool` with a trivial async reconcile (adds the
 *   reconcile bookkeeping: forget, metrics hooks, outcome handling).
 *
 * Usage: `node bench/queue.ts [keys=10000] [workers=4] [rounds=20]` (Node 24, or
 * `npx node bench/queue.ts`). Prints keys per second; the target is >= 100,000.
 */
import { SystemClock } from '../src/legos/clock.ts';
import { WorkerPool, WorkQueue } from '../src/runtime/queue/index.ts';

const [keysArg, workersArg, roundsArg] = process.argv.slice(2);
const KEYS = Number(keysArg ?? 10_000);
const WORKERS = Number(workersArg ?? 4);
const ROUNDS = Number(roundsArg ?? 20);
const keys = Array.from({ length: KEYS }, (_, i) => `namespace-${i % 50}/object-${i}`);

interface Counter {
  count: number;
  target: number;
  reached: () => void;
}

function tick(counter: Counter): void {
  counter.count++;
  if (counter.count === counter.target) counter.reached();
}

async function rounds(counter: Counter, add: (key: string) => void): Promise<number> {
  const run = async (): Promise<void> => {
    counter.count = 0;
    counter.target = KEYS;
    const reached = new Promise<void>((resolve) => (counter.reached = resolve));
    for (const key of keys) add(key);
    await reached;
  };
  await run(); // warm-up
  const start = performance.now();
  for (let r = 0; r < ROUNDS; r++) await run();
  return (KEYS * ROUNDS) / ((performance.now() - start) / 1000);
}

async function benchQueue(): Promise<number> {
  const queue = new WorkQueue({ clock: SystemClock });
  const counter: Counter = { count: 0, target: 0, reached: () => {} };
  const loops = Array.from({ length: WORKERS }, async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      queue.done(key);
      tick(counter);
    }
  });
  const rate = await rounds(counter, (key) => queue.add(key));
  queue.shutDown();
  await Promise.all(loops);
  return rate;
}

async function benchPool(): Promise<number> {
  const queue = new WorkQueue({ clock: SystemClock });
  const counter: Counter = { count: 0, target: 0, reached: () => {} };
  const pool = new WorkerPool({
    queue,
    clock: SystemClock,
    concurrency: WORKERS,
    classify: () => 'backoff',
    reconcile: async () => {
      tick(counter);
      return undefined;
    },
  });
  const running = pool.start();
  const rate = await rounds(counter, (key) => queue.add(key));
  await pool.stop();
  await running;
  return rate;
}

const format = (rate: number): string => Math.round(rate).toLocaleString('en-US');
console.log(`work queue throughput: ${KEYS} keys x ${ROUNDS} rounds, ${WORKERS} workers, node ${process.version}`);
console.log(`queue  add->get->done          ${format(await benchQueue())} keys/s`);
console.log(`pool   add->reconcile->done    ${format(await benchPool())} keys/s`);
