import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryDuring, inFlight, stepMove, type Move, type MoveContext, type MovePhase } from './shardmap-move.ts';

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
        const base = { replicas: ['a', 'b', 'c'], epoch: 7 };
        let move: Move = { shard: 3, to: 'd', phase: 'Pending', ...(hasFrom ? { from: 'b' } : {}) };
        let now = T0;
        let published = 10;
        let pendingPublish = false;
        let lastEpoch = base.epoch;
        for (const t of ticks) {
          now += t.advanceMs;
          if (pendingPublish && t.publishes) {
            published++;
            pendingPublish = false;
            // The table just published: the entry of the move's phase (as the decider builds it).
            const entry = entryDuring(base, move);
            expect(entry.replicas.length).toBeGreaterThanOrEqual(base.replicas.length);
            expect(new Set(entry.replicas).size).toBe(entry.replicas.length);
            expect(entry.epoch).toBeGreaterThanOrEqual(lastEpoch);
            lastEpoch = entry.epoch;
            if (entry.joining.length > 0) expect(entry.replicas).not.toContain(move.to);
          }
          const ctx = context({ nowMs: now, publishedVersion: pendingPublish ? published : published, handoff, ...t });
          const step = stepMove(move, { ...ctx, nextVersion: published + 1 });
          expect(NEXT[move.phase]).toContain(step.move.phase);
          if (t.frozen) expect(step.move).toBe(move);
          if (step.move.phase !== move.phase && move.phase !== 'Pending' && move.phase !== 'Failed' && step.move.phase !== 'Failed') {
            expect(move.version ?? 0).toBeLessThanOrEqual(published); // advanced only once its table was out
          }
          if (move.phase === 'Copying' && step.move.phase === 'Fencing' && handoff === 'Acknowledged') expect(t.acknowledged).toBe(true);
          if (step.publish) pendingPublish = true;
          move = step.move;
        }
        expect(entryDuring(base, { ...move, phase: 'Done' }).epoch).toBe(base.epoch + 1);
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
    expect(entryDuring({ replicas: ['a', 'b', 'c'], epoch: 1 }, move)).toEqual({ replicas: ['b', 'c', 'd'], joining: [], leaving: [], epoch: 2 });
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
