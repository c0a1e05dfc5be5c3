import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryAfter, inFlight, stepMove, type Move, type MoveContext, type MoveEntry, type MovePhase } from './shardmap-move.ts';

const T0 = Date.parse('2026-12-05T00:00:00Z');
const NEXT: Record<MovePhase, readonly MovePhase[]> = {
  Pending: ['Pending', 'Copying', 'Failed'],
  Copying: ['Copying', 'Fencing', 'Failed'],
  Fencing: ['Fencing', 'Switching'],
  Switching: ['Switching', 'Done'],
  Done: ['Done'],
  Failed: ['Failed', 'Pending'],
};

const tickArb = fc.record({
  advanceMs: fc.integer({ min: 0, max: 40_000 }),
  frozen: fc.boolean(),
  mayStart: fc.boolean(),
  publishes: fc.boolean(),
  acknowledged: fc.boolean(),
  targetUsable: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

function context(over: Partial<MoveContext> & { publishedVersion: number }): MoveContext {
  return {
    nowMs: T0,
    frozen: false,
    mayStart: true,
    nextVersion: over.publishedVersion + 1,
    handoff: 'None',
    acknowledged: false,
    timeoutMs: 60_000,
    backoffMs: (attempt) => Math.min(1000 * 2 ** (attempt - 2), 60_000),
    targetUsable: true,
    ...over,
  };
}

describe('stepMove', () => {
  it('never skips a phase, never advances past an unpublished version or under the kill switch, and keeps the serving set and epoch safe in every published table', () => {
    fc.assert(
      fc.property(fc.constantFrom('None' as const, 'Acknowledged' as const), fc.boolean(), fc.array(tickArb, { maxLength: 60 }), (handoff, hasFrom, ticks) => {
        const base: MoveEntry = { replicas: ['a', 'b', 'c'], joining: [], leaving: [], epoch: 7 };
        let move: Move = { shard: 3, to: 'd', phase: 'Pending', ...(hasFrom ? { from: 'b' } : {}) };
        let now = T0;
        let published = 10;
        let entry = base; // as published
        let pending: MoveEntry | undefined;
        for (const t of ticks) {
          now += t.advanceMs;
          if (pending && t.publishes) {
            published++;
            expect(pending.replicas.length).toBeGreaterThanOrEqual(base.replicas.length);
            expect(new Set(pending.replicas).size).toBe(pending.replicas.length);
            expect(pending.epoch).toBeGreaterThanOrEqual(entry.epoch);
            expect(pending.epoch).toBeLessThanOrEqual(published); // epochs never above the routing version
            for (const c of pending.joining) expect(pending.replicas).not.toContain(c);
            entry = pending;
            pending = undefined;
          }
          const ctx = context({ nowMs: now, publishedVersion: published, handoff, ...t });
          const step = stepMove(move, { ...ctx, nextVersion: published + 1 });
          expect(NEXT[move.phase]).toContain(step.move.phase);
          if (t.frozen) expect(step.move).toBe(move);
          if (step.move.phase !== move.phase && move.phase !== 'Pending' && move.phase !== 'Failed' && step.move.phase !== 'Failed') {
            expect(move.version ?? 0).toBeLessThanOrEqual(published); // advanced only once its table was out
          }
          if (move.phase === 'Copying' && step.move.phase === 'Fencing' && handoff === 'Acknowledged') expect(t.acknowledged).toBe(true);
          if (step.publish) {
            // The decider builds the next table from the last published one.
            pending = entryAfter(entry, step.move);
            expect(entryAfter(pending, step.move)).toEqual(pending); // idempotent
          }
          move = step.move;
        }
        if (move.phase === 'Done') {
          expect(entry.replicas).toContain('d');
          if (hasFrom) expect(entry.replicas).not.toContain('b');
          expect(entry.epoch).toBeGreaterThan(base.epoch);
          expect(entry.leaving).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('under fair conditions a move is Done after four steps and four publications at most, with epoch + 1 and the old replica gone', () => {
    let move: Move = { shard: 0, from: 'a', to: 'd', phase: 'Pending' };
    let published = 0;
    const events: string[] = [];
    for (let i = 0; i < 6 && move.phase !== 'Done'; i++) {
      const step = stepMove(move, context({ publishedVersion: published }));
      if (step.event) events.push(step.event);
      if (step.publish) published++;
      move = step.move;
    }
    expect(move.phase).toBe('Done');
    expect(events).toEqual(['migration_started', 'migration_fenced', 'migration_done']);
    expect(entryAfter({ replicas: ['a', 'b', 'c'], joining: [], leaving: [], epoch: 1 }, move)).toEqual({ replicas: ['b', 'c', 'd'], joining: [], leaving: [], epoch: 2 });
  });

  it('waits for the acknowledgement, fails after the timeout, and retries after the backoff', () => {
    let move = stepMove({ shard: 0, from: 'a', to: 'd', phase: 'Pending' }, context({ publishedVersion: 0, handoff: 'Acknowledged' })).move;
    expect(move.phase).toBe('Copying');
    expect(stepMove(move, context({ publishedVersion: 1, handoff: 'Acknowledged', nowMs: T0 + 59_999 })).move.phase).toBe('Copying');
    const failed = stepMove(move, context({ publishedVersion: 1, handoff: 'Acknowledged', nowMs: T0 + 60_000 }));
    expect(failed.move.phase).toBe('Failed');
    expect(failed.publish).toBe(true); // the joining replica leaves the table
    expect(failed.move.message).toMatch(/no acknowledgement from d within 60000 ms/);
    move = failed.move;
    expect(stepMove(move, context({ publishedVersion: 2, nowMs: T0 + 60_500 })).move.phase).toBe('Failed');
    const retried = stepMove(move, context({ publishedVersion: 2, nowMs: T0 + 61_000 })).move;
    expect(retried.phase).toBe('Pending');
    const started = stepMove(retried, context({ publishedVersion: 2, nowMs: T0 + 61_000, handoff: 'Acknowledged' })).move;
    expect(started.attempts).toBe(2);
    expect(stepMove(started, context({ publishedVersion: 3, nowMs: T0 + 62_000, handoff: 'Acknowledged', acknowledged: true })).move.phase).toBe('Fencing');
  });

  it('counts only Copying, Fencing and Switching as in flight', () => {
    const phases: MovePhase[] = ['Pending', 'Copying', 'Fencing', 'Switching', 'Done', 'Failed'];
    expect(phases.filter((phase) => inFlight({ shard: 0, to: 'x', phase }))).toEqual(['Copying', 'Fencing', 'Switching']);
  });
});
