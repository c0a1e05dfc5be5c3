// Model-based test: random interleavings of every WorkQueue operation are run against
// the queue and against a naive reference model (arrays and linear scans); after each
// step the two must agree on what was handed to whom, and the queue must keep its
// invariants on its own (no key held twice, drains settle exactly when work is done).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../legos/clock.ts';
import { defaultControllerRateLimiter } from './rate-limiter.ts';
import { WorkQueue } from './work-queue.ts';

const KEYS = ['a', 'b', 'c', 'd'] as const;
type Key = (typeof KEYS)[number];

type Op =
  | { op: 'add'; key: Key }
  | { op: 'addAfter'; key: Key; ms: number }
  | { op: 'addRateLimited'; key: Key }
  | { op: 'forget'; key: Key }
  | { op: 'get' }
  | { op: 'abortGet'; pick: number }
  | { op: 'done'; pick: number }
  | { op: 'advance'; ms: number }
  | { op: 'shutDown' }
  | { op: 'shutDownWithDrain' };

const key = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), key }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('addAfter' as const), key, ms: fc.oneof(fc.constantFrom(-1, 0, 5, 10, 20, 40), fc.integer({ min: 1, max: 60 })) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('addRateLimited' as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), key }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('abortGet' as const), pick: fc.nat(10) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('done' as const), pick: fc.nat(10) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.oneof(fc.constantFrom(0, 5, 10, 20, 40), fc.integer({ min: 0, max: 80 })) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'shutDown' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'shutDownWithDrain' as const }) },
);

/** The reference: the queue's contract written as plainly as possible. */
class Model {
  now = 0;
  seq = 0;
  queue: Key[] = [];
  dirty = new Set<Key>();
  processing = new Set<Key>();
  delayed = new Map<Key, { readyAt: number; seq: number }>();
  waiters: number[] = [];
  handed = new Map<number, Key | undefined>();
  drains: (boolean | undefined)[] = [];
  shut = false;
  limiter = defaultControllerRateLimiter<Key>({ clock: { monotonic: () => this.now } });

  add(k: Key): void {
    if (this.shut || this.dirty.has(k)) return;
    this.dirty.add(k);
    if (!this.processing.has(k)) this.enqueue(k);
  }
  enqueue(k: Key): void {
    const id = this.waiters.shift();
    if (id === undefined) this.queue.push(k);
    else this.handOut(id, k);
  }
  handOut(id: number, k: Key): void {
    this.dirty.delete(k);
    this.processing.add(k);
    this.handed.set(id, k);
  }
  addAfter(k: Key, ms: number): void {
    if (this.shut) return;
    if (ms <= 0) return this.add(k);
    const readyAt = this.now + ms;
    const existing = this.delayed.get(k);
    if (existing === undefined || readyAt < existing.readyAt) this.delayed.set(k, { readyAt, seq: this.seq });
    this.seq++;
  }
  advance(ms: number): void {
    this.now += ms;
    const due = [...this.delayed].filter(([, e]) => e.readyAt <= this.now).sort(([, x], [, y]) => x.readyAt - y.readyAt || x.seq - y.seq);
    for (const [k] of due) {
      this.delayed.delete(k);
      this.add(k);
    }
  }
  get(id: number): void {
    if (this.shut) return void this.handed.set(id, undefined);
    const k = this.queue.shift();
    if (k === undefined) this.waiters.push(id);
    else this.handOut(id, k);
  }
  done(k: Key): void {
    if (!this.processing.delete(k)) return;
    if (this.dirty.has(k)) this.enqueue(k);
    if (this.processing.size === 0) this.drains = this.drains.map((d) => d ?? true);
  }
  shutDown(drain: boolean): void {
    this.shut = true;
    this.queue = [];
    this.dirty.clear();
    this.delayed.clear();
    for (const id of this.waiters) this.handed.set(id, undefined);
    this.waiters = [];
    if (drain) this.drains.push(this.processing.size === 0 ? true : undefined);
    else this.drains = this.drains.map((d) => d ?? this.processing.size === 0);
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WorkQueue (model-based)', () => {
  it('agrees with the reference model under random interleavings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60, size: 'max' }), async (ops) => {
        const clock = new ManualClock({ monotonicMs: 0 });
        const queue = new WorkQueue<Key>({ clock, rateLimiter: defaultControllerRateLimiter<Key>({ clock }) });
        const model = new Model();
        const handed = new Map<number, Key | undefined>();
        const aborts = new Map<number, AbortController>();
        const drains: (boolean | undefined)[] = [];
        const held = new Set<Key>();
        const doubleHeld: Key[] = [];
        let nextId = 0;

        for (const step of ops) {
          switch (step.op) {
            case 'add':
              queue.add(step.key);
              model.add(step.key);
              break;
            case 'addAfter':
              queue.addAfter(step.key, step.ms);
              model.addAfter(step.key, step.ms);
              break;
            case 'addRateLimited':
              queue.addRateLimited(step.key);
              if (!model.shut) model.addAfter(step.key, model.limiter.when(step.key));
              break;
            case 'forget':
              queue.forget(step.key);
              model.limiter.forget(step.key);
              expect(queue.retries(step.key)).toBe(0);
              break;
            case 'get': {
              const id = nextId++;
              const abort = new AbortController();
              aborts.set(id, abort);
              queue.get(abort.signal).then(
                (k) => {
                  handed.set(id, k);
                  if (k === undefined) return;
                  // Never two holders of one key without a done() in between.
                  if (held.has(k)) doubleHeld.push(k);
                  held.add(k);
                },
                (error: unknown) => {
                  throw error;
                },
              );
              model.get(id);
              break;
            }
            case 'abortGet': {
              const id = model.waiters[step.pick % Math.max(1, model.waiters.length)];
              if (id === undefined) break;
              aborts.get(id)?.abort();
              model.waiters = model.waiters.filter((w) => w !== id);
              model.handed.set(id, undefined);
              break;
            }
            case 'done': {
              const holding = [...model.processing].sort();
              const k = holding[step.pick % Math.max(1, holding.length)] ?? KEYS[step.pick % KEYS.length]!;
              held.delete(k);
              queue.done(k);
              model.done(k);
              break;
            }
            case 'advance':
              clock.advance(step.ms);
              model.advance(step.ms);
              break;
            case 'shutDown':
              queue.shutDown();
              model.shutDown(false);
              break;
            case 'shutDownWithDrain': {
              const index = drains.length;
              drains.push(undefined);
              void queue.shutDownWithDrain().then((drained) => (drains[index] = drained));
              model.shutDown(true);
              break;
            }
          }
          await flush();
          expect(queue.len).toBe(model.queue.length);
          expect(queue.processing).toBe(model.processing.size);
          expect(queue.delayed).toBe(model.delayed.size);
          expect(queue.shuttingDown).toBe(model.shut);
          expect(doubleHeld).toEqual([]);
          expect(handed).toEqual(model.handed);
          expect(drains).toEqual(model.drains);
          if (model.delayed.size > 0 && !model.shut) expect(clock.pendingSleeps).toBe(1);
          if (model.delayed.size === 0) expect(clock.pendingSleeps).toBe(0);
        }

        // Dedupe: whatever is still pending comes out once each, in the model's order.
        const rest: (Key | undefined)[] = [];
        for (let n = queue.len; n > 0; n--) rest.push(await queue.get());
        expect(rest).toEqual(model.queue);
        expect(new Set(rest).size).toBe(rest.length);
        queue.shutDown();
        await flush();
      }),
    );
  });
});
