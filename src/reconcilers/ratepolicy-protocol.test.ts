import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialProtocolState, stepShares, sumInForce, toShareUnits, type Ack, type ProtocolState, type ShareVector } from './ratepolicy-protocol.ts';
import { splitLimit, type ShareMode } from './ratepolicy-shares.ts';

/*
 * Hunting, 2026-12-05: FC_RUNS=2000000 for the liveness property (529 s at load 13) and
 * FC_RUNS=50000 for the safety property (158 s at load 11) found no counterexample. The one failure seen
 * earlier (in ~15 long runs, no counterexample captured) fits vitest's 20 s test
 * timeout: runs of tens of thousands of cases on a machine at load 20-30 exceed it, and
 * a timeout prints no counterexample. The timeout now grows with FC_RUNS, and a real
 * failure prints its seed, path and counterexample first.
 */

/**
 * `fc.assert`, but a failure puts the seed, the path and the counterexample at the top
 * of the message and on stderr (a long run's report must not be lost), and the
 * environment can replay or hunt: `FC_SEED=<seed> FC_PATH=<path>` replays a failure,
 * `FC_RUNS=<n>` runs n cases instead of `runs` (the test's timeout grows with it).
 */
function assertProperty<Ts extends unknown[]>(property: fc.IProperty<Ts>, runs: number): void {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  const details = fc.check(property, { numRuns: runsOf(runs), ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path } : {}) });
  if (!details.failed) return;
  const message = [
    `property failed — replay with FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''}`,
    `counterexample: ${fc.stringify(details.counterexample)}`,
    fc.defaultReportMessage(details) ?? '',
  ].join('\n');
  console.error(message);
  throw new Error(message, { cause: details.errorInstance });
}
const runsOf = (runs: number): number => Number(process.env.FC_RUNS ?? runs);
/** A test timeout for `runs` cases of a few hundred steps each (about 0.1 ms per case idle; ×100 for a loaded machine). */
const timeoutFor = (runs: number): number => Math.max(20_000, runsOf(runs) * 10);

const LEASE = 3000;
const SKEW = 200;
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const LIMITS = { x: { requestsPerSecond: 100, burst: 20 }, y: { requestsPerSecond: 7.5, burst: 3 } } as const;
const BUDGET: ShareVector = Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, { rate: toShareUnits(v.requestsPerSecond), burst: toShareUnits(v.burst) }]));

interface Doc {
  readonly version: number;
  readonly expiresAt: number;
  readonly grants: ProtocolState['replicas'];
}

interface Client {
  /** index into the published documents, or undefined while it enforces nothing */
  doc?: number | undefined;
  /** client clock − true time, within ±SKEW */
  offset: number;
  /** a restarted process reads the object fresh: at least the document that was newest when it (re)started */
  fresh: number;
}

type Action =
  | { kind: 'advance'; ms: number }
  | { kind: 'ready'; names: string[]; mode: ShareMode; demands: number[] }
  | { kind: 'step' }
  | { kind: 'deliver'; who: number; pick: number }
  | { kind: 'ack'; who: number }
  | { kind: 'release'; who: number }
  | { kind: 'crash'; who: number };

const who = fc.integer({ min: 0, max: NAMES.length - 1 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: LEASE / 10 }), fc.integer({ min: 0, max: LEASE })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('ready' as const),
      names: fc.subarray(NAMES),
      mode: fc.constantFrom('Even' as const, 'Demand' as const),
      demands: fc.array(fc.integer({ min: 0, max: 150 }), { minLength: NAMES.length, maxLength: NAMES.length }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('step' as const) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), who, pick: fc.oneof(fc.constant(-1), fc.nat()) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ack' as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), who }) },
);

function targetOf(names: readonly string[], mode: ShareMode, demands: readonly number[]): Record<string, ShareVector> {
  const out: Record<string, Record<string, { rate: number; burst: number }>> = {};
  for (const [limit, spec] of Object.entries(LIMITS)) {
    const split = splitLimit({
      limit: { ...spec, scope: 'Global' },
      mode,
      replicas: names,
      demands: new Map(names.map((n) => [n, demands[NAMES.indexOf(n)] ?? 0])),
    });
    for (const [name, s] of split) (out[name] ??= {})[limit] = { rate: toShareUnits(s.requestsPerSecond), burst: toShareUnits(s.burst) };
  }
  return out;
}

class World {
  now = 1_000_000;
  state: ProtocolState = initialProtocolState;
  docs: Doc[] = [];
  clients: Client[];
  acks: Record<string, Ack> = {};
  target: Record<string, ShareVector> = {};

  constructor(offsets: readonly number[]) {
    this.clients = NAMES.map((_, i) => ({ offset: offsets[i] ?? 0, fresh: 0 }));
  }

  step() {
    const r = stepShares(this.state, { budget: BUDGET, target: this.target, acks: this.acks, now: this.now, leaseMs: LEASE, maxClockSkewMs: SKEW });
    this.state = r.state;
    if (r.publish) this.docs.push({ version: r.state.version, expiresAt: r.state.expiresAt, grants: r.state.replicas });
    return r;
  }

  apply(a: Action) {
    switch (a.kind) {
      case 'advance':
        this.now += a.ms;
        break;
      case 'ready':
        this.target = targetOf(a.names, a.mode, a.demands);
        break;
      case 'step':
        this.step();
        break;
      case 'deliver': {
        // a watch delivers any document not older than the one the client has
        const client = this.clients[a.who]!;
        const from = client.doc ?? client.fresh;
        if (this.docs.length > from) client.doc = a.pick < 0 ? this.docs.length - 1 : from + (a.pick % (this.docs.length - from));
        break;
      }
      case 'ack': {
        const client = this.clients[a.who]!;
        if (client.doc !== undefined) this.acks[NAMES[a.who]!] = { version: this.docs[client.doc]!.version };
        break;
      }
      case 'release': {
        const client = this.clients[a.who]!;
        if (client.doc !== undefined) this.acks[NAMES[a.who]!] = { version: this.docs[client.doc]!.version };
        client.doc = undefined;
        client.fresh = Math.max(0, this.docs.length - 1);
        break;
      }
      case 'crash': {
        const client = this.clients[a.who]!;
        client.doc = undefined;
        client.fresh = Math.max(0, this.docs.length - 1);
        break;
      }
    }
  }

  /** What every client really enforces now (fallback 0 when lapsed or without a document). */
  enforced(limit: string): { rate: number; burst: number } {
    let rate = 0;
    let burst = 0;
    this.clients.forEach((c, i) => {
      if (c.doc === undefined) return;
      const doc = this.docs[c.doc]!;
      if (this.now + c.offset >= doc.expiresAt) return; // lapsed on the client's clock
      const g = doc.grants[NAMES[i]!]?.granted[limit];
      rate += g?.rate ?? 0;
      burst += g?.burst ?? 0;
    });
    return { rate, burst };
  }
}

describe('stepShares (no-overshoot protocol)', () => {
  it('the shares in force never add up to more than the limit, at any step of any transition', () => {
    assertProperty(
      fc.property(fc.array(fc.integer({ min: -SKEW, max: SKEW }), { minLength: NAMES.length, maxLength: NAMES.length }), fc.array(actionArb, { minLength: 20, maxLength: 150, size: 'max' }), (offsets, actions) => {
        const world = new World(offsets);
        for (const action of actions) {
          world.apply(action);
          for (const limit of Object.keys(LIMITS)) {
            const real = world.enforced(limit);
            const bound = sumInForce(world.state, [limit])[limit]!;
            expect(real.rate).toBeLessThanOrEqual(BUDGET[limit]!.rate);
            expect(real.burst).toBeLessThanOrEqual(BUDGET[limit]!.burst);
            expect(bound.rate).toBeLessThanOrEqual(BUDGET[limit]!.rate);
            expect(bound.burst).toBeLessThanOrEqual(BUDGET[limit]!.burst);
          }
        }
      }),
      300,
    );
  }, timeoutFor(300));

  it('converges once replicas acknowledge, and within the lease when they do not', () => {
    assertProperty(
      fc.property(fc.array(actionArb, { maxLength: 80, size: 'max' }), fc.subarray(NAMES, { minLength: 1 }), fc.boolean(), (actions, finalReady, acking) => {
        const world = new World(NAMES.map(() => 0));
        for (const action of actions) world.apply(action);
        world.apply({ kind: 'ready', names: finalReady, mode: 'Even', demands: [] });
        let rounds = 0;
        let converged = false;
        while (rounds < 6 && !converged) {
          converged = world.step().converged;
          if (acking) {
            NAMES.forEach((_, i) => {
              world.apply({ kind: 'deliver', who: i, pick: 1e9 }); // some document ≥ its own; pick newest below
              world.clients[i]!.doc = world.docs.length - 1;
              world.apply({ kind: 'ack', who: i });
            });
          } else {
            world.apply({ kind: 'advance', ms: LEASE + SKEW });
          }
          rounds++;
        }
        expect(converged).toBe(true);
        // settled: stepping again publishes nothing new — except, once, the removal of a departed
        // replica's zero entry whose acknowledgement arrived after the converging step
        let again = world.step();
        if (again.newVersion) again = world.step();
        expect(again.newVersion).toBe(false);
      }),
      300,
    );
  }, timeoutFor(300));

  it('a newcomer waits until the others have acknowledged the lower share', () => {
    const world = new World([0, 0, 0, 0, 0]);
    world.apply({ kind: 'ready', names: ['a', 'b'], mode: 'Even', demands: [] });
    const first = world.step();
    expect(first.state.version).toBe(1);
    expect(first.converged).toBe(true);
    world.apply({ kind: 'ready', names: ['a', 'b', 'c'], mode: 'Even', demands: [] });
    const lower = world.step();
    expect(lower.newVersion).toBe(true);
    expect(lower.converged).toBe(false);
    expect(lower.waitingFor).toEqual(['a', 'b']);
    expect(lower.state.replicas.c?.granted.x?.rate ?? 0).toBe(0);
    expect(lower.state.replicas.a?.granted.x?.rate).toBe(Math.floor(BUDGET.x!.rate / 3));
    // only a acknowledged: c gets what a gave up, not what b may still enforce
    world.acks.a = { version: 2 };
    world.now += 100;
    const half = world.step();
    expect(half.newVersion).toBe(true);
    expect(half.converged).toBe(false);
    expect(half.waitingFor).toEqual(['b']);
    const bOld = first.state.replicas.b!.granted.x!.rate;
    expect(half.state.replicas.c?.granted.x?.rate).toBe(BUDGET.x!.rate - Math.floor(BUDGET.x!.rate / 3) - bOld);
    // b's window ends maxClockSkewMs after the superseded document's expiry: not a millisecond earlier
    world.now = first.state.expiresAt + SKEW - 1;
    expect(world.step().newVersion).toBe(false);
    world.now = first.state.expiresAt + SKEW;
    const granted = world.step();
    expect(granted.newVersion).toBe(true);
    expect(granted.converged).toBe(true);
    expect(granted.state.replicas.c?.granted.x?.rate).toBe(Math.floor(BUDGET.x!.rate / 3));
    expect(granted.nextStepAt).toBeGreaterThan(world.now);
  });

  it('a departed replica’s share returns to the others only after it acknowledged or lapsed', () => {
    const world = new World([0, 0, 0, 0, 0]);
    world.apply({ kind: 'ready', names: ['a', 'b'], mode: 'Even', demands: [] });
    const first = world.step();
    world.apply({ kind: 'ready', names: ['a'], mode: 'Even', demands: [] });
    const gone = world.step();
    expect(gone.state.replicas.b?.granted.x?.rate).toBe(0);
    expect(gone.state.replicas.a?.granted.x?.rate).toBe(first.state.replicas.a?.granted.x?.rate);
    expect(gone.waitingFor).toEqual(['b']);
    world.acks.b = { version: 1 };
    expect(world.step().waitingFor).toEqual(['b']); // an old acknowledgement does not count
    world.acks.b = { version: 2 };
    const back = world.step();
    expect(back.converged).toBe(true);
    expect(back.state.replicas.a?.granted.x?.rate).toBe(Math.floor(BUDGET.x!.rate));
    expect(back.state.replicas.b).toBeUndefined();
  });

  it('re-publishes the same version once a third of the lease has run', () => {
    const world = new World([0, 0, 0, 0, 0]);
    world.apply({ kind: 'ready', names: ['a'], mode: 'Even', demands: [] });
    const first = world.step();
    expect(first.publish).toBe(true);
    world.now += LEASE / 3 - 1;
    expect(world.step().publish).toBe(false);
    world.now += 1;
    const refresh = world.step();
    expect(refresh.publish).toBe(true);
    expect(refresh.newVersion).toBe(false);
    expect(refresh.state.version).toBe(first.state.version);
    expect(refresh.state.expiresAt).toBe(world.now + LEASE);
  });
});
