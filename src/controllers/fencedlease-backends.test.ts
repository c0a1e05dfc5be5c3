import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../legos/clock.ts';
import { LeaseUnavailableError, type LeaseClient, type LeaseClientOptions, type LeaseObservation } from '../legos/lease/index.ts';
import { LeaseBackends, NotLeadingError } from './fencedlease-backends.ts';
import { backendConfig } from './fencedlease-credentials.ts';

/** A lease client whose observe() yields what the test pushes. */
class FakeClient implements LeaseClient {
  closed = false;
  observers = 0;
  inspectImpl: () => Promise<LeaseObservation> = async () => ({ name: 'x', holder: undefined, revision: 1n });
  private readonly listeners = new Set<() => void>();
  readonly options: LeaseClientOptions;
  constructor(options: LeaseClientOptions) {
    this.options = options;
  }
  acquire(): never {
    throw new Error('not used');
  }
  inspect(): Promise<LeaseObservation> {
    return this.inspectImpl();
  }
  observe(name: string, options: { readonly signal: AbortSignal }): AsyncIterable<LeaseObservation> {
    return { [Symbol.asyncIterator]: () => this.watching(name, options.signal) };
  }
  private async *watching(name: string, signal: AbortSignal): AsyncGenerator<LeaseObservation> {
    this.observers++;
    let wake: () => void = () => undefined;
    let dirty = true;
    const listener = () => {
      dirty = true;
      wake();
    };
    this.listeners.add(listener);
    signal.addEventListener('abort', () => wake(), { once: true });
    try {
      while (!signal.aborted) {
        if (dirty) {
          dirty = false;
          yield { name, holder: undefined, revision: 1n };
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      this.listeners.delete(listener);
      this.observers--;
    }
  }
  /** Simulates a holder change seen by every watch. */
  change(): void {
    for (const l of this.listeners) l();
  }
  revoke(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  deleteAll(): Promise<number> {
    return Promise.resolve(0);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(options: { maxLeases?: number } = {}) {
  const created: FakeClient[] = [];
  const clock = new ManualClock();
  const backends = new LeaseBackends({ createClient: (o) => {
    const c = new FakeClient(o);
    created.push(c);
    return c;
  }, clock, ...options });
  const enqueued: string[] = [];
  const term = new AbortController();
  const running = backends.source({ signal: term.signal, enqueue: (k) => enqueued.push(k) });
  return { backends, created, enqueued, term, running, clock };
}

const A = backendConfig(['http://a:2379']);
const B = backendConfig(['http://b:2379']);

describe('LeaseBackends', () => {
  it('shares one client per configuration and closes it when its last user leaves', async () => {
    const { backends, created, term, running } = setup();
    const c1 = backends.client('ns/one', A);
    const c2 = backends.client('ns/two', A);
    expect(c1).toBe(c2);
    expect(created).toHaveLength(1);
    const c3 = backends.client('ns/three', B);
    expect(c3).not.toBe(c1);
    await backends.forget('ns/one');
    expect(created[0]?.closed).toBe(false);
    // Moving to another configuration releases the old one.
    backends.client('ns/two', B);
    await backends.forget('nobody');
    expect(created[0]?.closed).toBe(true);
    expect(backends.stats()).toMatchObject({ clients: 1, leases: 2 });
    term.abort();
    await running;
    expect(created[1]?.closed).toBe(true);
    expect(backends.stats()).toMatchObject({ clients: 0, leases: 0, watches: 0 });
  });

  it('keeps one watch per FencedLease, enqueues its key on holder changes, and stops it when forgotten', async () => {
    const { backends, created, enqueued, term, running } = setup();
    backends.client('ns/one', A);
    backends.watch('ns/one', 'one', '/l/one/');
    backends.watch('ns/one', 'one', '/l/one/');
    await tick();
    const client = created[0] as FakeClient;
    expect(client.observers).toBe(1);
    expect(enqueued).toEqual(['ns/one']);
    client.change();
    await tick();
    expect(enqueued).toEqual(['ns/one', 'ns/one']);
    await backends.forget('ns/one');
    await tick();
    expect(client.observers).toBe(0);
    expect(client.closed).toBe(true);
    term.abort();
    await running;
  });

  it('refuses clients outside a term and past maxLeases, counting refusals', async () => {
    expect(() => new LeaseBackends().client('ns/x', A)).toThrow(NotLeadingError);
    const { backends, term, running } = setup({ maxLeases: 2 });
    backends.client('ns/1', A);
    backends.client('ns/2', A);
    expect(() => backends.client('ns/3', A)).toThrow(/too many/);
    expect(backends.stats().refused).toBe(1);
    backends.client('ns/1', B);
    term.abort();
    await running;
  });

  it('lets one read at a time, at most one a second, reach a failing backend; the others get the last error at once', async () => {
    const { backends, created, term, running, clock } = setup();
    backends.client('ns/1', A);
    backends.client('ns/2', A);
    const client = created[0] as FakeClient;
    const down = new LeaseUnavailableError('etcd down');
    let reads = 0;
    client.inspectImpl = () => {
      reads++;
      return Promise.reject(down);
    };
    await expect(backends.inspect('ns/1', '1', '/l/1/')).rejects.toBe(down);
    await expect(backends.inspect('ns/2', '2', '/l/2/')).rejects.toBe(down);
    expect(reads).toBe(1);
    clock.advance(1000);
    let release: () => void = () => undefined;
    client.inspectImpl = () => {
      reads++;
      return new Promise((_, reject) => (release = () => reject(down)));
    };
    const probing = backends.inspect('ns/1', '1', '/l/1/');
    clock.advance(1000);
    await expect(backends.inspect('ns/2', '2', '/l/2/')).rejects.toBe(down);
    expect(reads).toBe(2);
    release();
    await expect(probing).rejects.toBe(down);
    clock.advance(1000);
    client.inspectImpl = async () => ({ name: '2', holder: undefined, revision: 5n });
    await expect(backends.inspect('ns/2', '2', '/l/2/')).resolves.toMatchObject({ revision: 5n });
    // Healthy again: reads go through at once.
    await expect(backends.inspect('ns/1', '1', '/l/1/')).resolves.toMatchObject({ revision: 5n });
    term.abort();
    await running;
  });

  it('probes each client and enqueues all its FencedLeases when its health flips', async () => {
    const { backends, created, enqueued, term, running, clock } = setup();
    backends.client('ns/1', A);
    backends.client('ns/2', A);
    backends.watch('ns/1', '1', '/l/1/');
    await tick();
    enqueued.length = 0;
    const client = created[0] as FakeClient;
    let reads = 0;
    client.inspectImpl = () => {
      reads++;
      return Promise.reject(new LeaseUnavailableError('etcd down'));
    };
    clock.advance(5000);
    await tick();
    expect(reads).toBe(1);
    expect(enqueued.sort()).toEqual(['ns/1', 'ns/2']);
    clock.advance(5000);
    await tick();
    expect(enqueued).toHaveLength(2);
    client.inspectImpl = async () => {
      reads++;
      return { name: '1', holder: undefined, revision: 2n };
    };
    clock.advance(5000);
    await tick();
    expect(reads).toBe(3);
    expect(enqueued).toHaveLength(4);
    term.abort();
    await running;
    expect(client.closed).toBe(true);
  });

  it('announces every flip of health, whether a reconcile or the probe saw it (outage, recovery, outage)', async () => {
    const { backends, created, enqueued, term, running, clock } = setup();
    backends.client('ns/1', A);
    backends.client('ns/2', A);
    backends.watch('ns/1', '1', '/l/1/');
    await tick();
    enqueued.length = 0;
    const client = created[0] as FakeClient;
    const down = async (): Promise<LeaseObservation> => Promise.reject(new LeaseUnavailableError('etcd down'));
    const up = async (): Promise<LeaseObservation> => ({ name: '1', holder: undefined, revision: 2n });
    client.inspectImpl = down;
    clock.advance(5000);
    await tick();
    expect(enqueued).toHaveLength(2);
    // A reconcile's read sees etcd back before the probe does...
    client.inspectImpl = up;
    clock.advance(1000);
    await backends.inspect('ns/2', '2', '/l/2/');
    expect(enqueued).toHaveLength(4);
    // ...and the probe sees the next outage: announced again.
    client.inspectImpl = down;
    clock.advance(4000);
    await tick();
    expect(enqueued).toHaveLength(6);
    term.abort();
    await running;
  });

  it('never holds more clients than configurations in use, nor closes one still in use (random sequences)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.constantFrom('use', 'forget'), key: fc.constantFrom('a', 'b', 'c', 'd'), config: fc.constantFrom(A, B, backendConfig(['http://c:2379'])) }), { maxLength: 40 }),
        async (ops) => {
          const { backends, created, term, running } = setup();
          const uses = new Map<string, string>();
          for (const step of ops) {
            if (step.op === 'use') {
              backends.client(step.key, step.config);
              uses.set(step.key, step.config.id);
            } else {
              await backends.forget(step.key);
              uses.delete(step.key);
            }
            const inUse = new Set(uses.values());
            expect(backends.stats().clients).toBe(inUse.size);
            const open = created.filter((c) => !c.closed);
            expect(open).toHaveLength(inUse.size);
          }
          term.abort();
          await running;
          expect(created.every((c) => c.closed)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('backendConfig', () => {
  it('identifies endpoints and credentials without revealing them', () => {
    const plain = backendConfig(['http://a:2379']);
    const withUser = backendConfig(['http://a:2379'], { auth: { username: 'root', password: 's3cret-pw' } });
    const rotated = backendConfig(['http://a:2379'], { auth: { username: 'root', password: 'other' } });
    expect(plain.id).not.toBe(withUser.id);
    expect(withUser.id).not.toBe(rotated.id);
    expect(withUser.id).toBe(backendConfig(['http://a:2379'], { auth: { username: 'root', password: 's3cret-pw' } }).id);
    expect(withUser.id).not.toContain('s3cret');
    expect(withUser.id.startsWith('http://a:2379#')).toBe(true);
    expect(withUser.options).toEqual({ endpoints: ['http://a:2379'], auth: { username: 'root', password: 's3cret-pw' } });
    const tls = backendConfig(['https://a:2379'], { tls: { ca: new Uint8Array([1, 2]) } });
    expect(tls.id).not.toBe(backendConfig(['https://a:2379'], { tls: { ca: new Uint8Array([1, 3]) } }).id);
  });
});
