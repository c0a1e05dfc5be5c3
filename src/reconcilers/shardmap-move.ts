/**
 * One shard move as a state machine, pure: data plus {@link stepMove}. A move adds a
 * replica of shard `shard` on Cell `to` and, when `from` is set, removes the one on
 * `from`, through four published routing-table changes:
 *
 * - `Pending`: planned, waiting for an in-flight slot (`migration.maxInFlight`);
 * - `Copying`: the table lists `to` as *joining* the shard (epoch unchanged, `to` not
 *   serving); the receiving host copies the data. Ends when that table is published
 *   and, under `handoff: Acknowledged`, the host on `to` acknowledged the shard at
 *   the move's epoch; a missing acknowledgement after `timeoutMs` fails the move;
 * - `Fencing`: the table serves the shard from the new set (`from` out, `to` in) at
 *   a new epoch (the routing version that publishes it), and lists `from` as *leaving*: its host holds a superseded epoch, so
 *   storage that checks the epoch as a fencing token rejects its writes;
 * - `Switching`: the table drops `from` altogether; ends when published (`Done`).
 *
 * Guarantees (property-tested in `shardmap-move.test.ts`): the serving set only changes
 * at `Fencing`, by adding `to` (ready) in the same publication that removes `from`, so
 * no published version has fewer serving replicas than before the move; the epoch
 * of the shard rises once per move and never falls; every phase change that
 * alters the table asks for a new routing version, and a move advances past a phase
 * only once the version carrying it is published, so a new leader resumes from the
 * checkpoint in status and republishes at most what was already decided; with the
 * kill switch engaged nothing advances (moves stop at their checkpoint).
 *
 * Limitations: a failed move goes back to `Pending` after its backoff (the decider may
 * replan it instead); the acknowledgement is per move attempt (epoch), so an
 * acknowledgement for an earlier attempt at the same epoch also counts.
 */
import type { ShardMapMigration } from '../crds/shardmap.ts';

export type MovePhase = ShardMapMigration['phase'];

/** A move as checkpointed in `status.migrations[]`. */
export type Move = ShardMapMigration;

/** What the decider observes for one move (all times wall ms). */
export interface MoveContext {
  readonly nowMs: number;
  /** Kill switch engaged: nothing starts, nothing advances. */
  readonly frozen: boolean;
  /** A Pending move may start (fewer than maxInFlight moves in flight). */
  readonly mayStart: boolean;
  /** Highest routing version known to be published. */
  readonly publishedVersion: number;
  /** The version the next publication will carry (publishedVersion + 1). */
  readonly nextVersion: number;
  readonly handoff: 'None' | 'Acknowledged';
  /** The host on `to` acknowledged holding the shard at `move.epoch`. */
  readonly acknowledged: boolean;
  /** Copying without an acknowledgement for this long fails the move, ms. */
  readonly timeoutMs: number;
  /** Delay before retry attempt k (1-based), ms. */
  readonly backoffMs: (attempt: number) => number;
  /** `to` is still a member that may receive (Active, zone as planned). */
  readonly targetUsable: boolean;
}

/** The outcome of one step. */
export interface MoveStep {
  readonly move: Move;
  /** The routing table changes (a new version must be published). */
  readonly publish: boolean;
  /** Log event name of the transition, if any. */
  readonly event?: 'migration_started' | 'migration_fenced' | 'migration_done' | 'migration_failed' | undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Moves that count against `maxInFlight`. */
export function inFlight(move: Move): boolean {
  return move.phase === 'Copying' || move.phase === 'Fencing' || move.phase === 'Switching';
}

/** Advances `move` by at most one phase. */
export function stepMove(move: Move, ctx: MoveContext): MoveStep {
  if (ctx.frozen || move.phase === 'Done') return { move, publish: false };
  const published = (move.version ?? 0) <= ctx.publishedVersion;
  const enter = (phase: MovePhase, extra: Partial<Move> = {}): Move => ({ ...move, phase, phaseTime: iso(ctx.nowMs), ...extra });
  switch (move.phase) {
    case 'Pending': {
      if (move.retryTime !== undefined && Date.parse(move.retryTime) > ctx.nowMs) return { move, publish: false };
      if (!ctx.targetUsable) return fail(move, ctx, `${move.to} can no longer receive shard ${move.shard}`);
      if (!ctx.mayStart) return { move, publish: false };
      const { retryTime: _r, message: _m, ...rest } = move;
      return {
        move: { ...rest, phase: 'Copying', phaseTime: iso(ctx.nowMs), startTime: move.startTime ?? iso(ctx.nowMs), attempts: (move.attempts ?? 0) + 1, version: ctx.nextVersion },
        publish: true,
        event: 'migration_started',
      };
    }
    case 'Copying': {
      if (!ctx.targetUsable) return fail(move, ctx, `${move.to} can no longer receive shard ${move.shard}`);
      if (!published) return { move, publish: false };
      // The new epoch is the version of the table that fences: epochs then stay at or
      // below the routing version, and a table rebuilt at a new version is above them all.
      if (ctx.handoff === 'None' || ctx.acknowledged) return { move: enter('Fencing', { version: ctx.nextVersion, epoch: ctx.nextVersion }), publish: true, event: 'migration_fenced' };
      const since = Date.parse(move.phaseTime ?? '') || ctx.nowMs;
      if (ctx.nowMs - since >= ctx.timeoutMs) return fail(move, ctx, `no acknowledgement from ${move.to} within ${ctx.timeoutMs} ms`);
      return { move, publish: false };
    }
    case 'Fencing':
      return published ? { move: enter('Switching', { version: ctx.nextVersion }), publish: true } : { move, publish: false };
    case 'Switching':
      return published ? { move: enter('Done'), publish: false, event: 'migration_done' } : { move, publish: false };
    case 'Failed':
      if (move.retryTime !== undefined && Date.parse(move.retryTime) > ctx.nowMs) return { move, publish: false };
      return { move: enter('Pending'), publish: false };
  }
}

/**
 * A failed attempt: back to a state whose table no longer lists `to` as joining (a
 * new version is published if the joining replica was), retried after the backoff.
 */
function fail(move: Move, ctx: MoveContext, message: string): MoveStep {
  const attempts = move.attempts ?? 0;
  return {
    move: { ...move, phase: 'Failed', phaseTime: iso(ctx.nowMs), message, retryTime: iso(ctx.nowMs + ctx.backoffMs(Math.max(1, attempts) + 1)), version: ctx.nextVersion },
    publish: move.phase === 'Copying',
    event: 'migration_failed',
  };
}

/** A shard's routing-table entry as moves change it. */
export interface MoveEntry {
  /** Cells serving the shard, primary first. */
  readonly replicas: readonly string[];
  /** Cells copying the shard (not serving). */
  readonly joining: readonly string[];
  /** Cells whose epoch is superseded, still listed so their host sees it. */
  readonly leaving: readonly string[];
  readonly epoch: number;
}

const without = (list: readonly string[], name: string | undefined): string[] => list.filter((c) => c !== name);
const withOne = (list: readonly string[], name: string | undefined): string[] => (name === undefined || list.includes(name) ? [...list] : [...list, name]);

/**
 * The entry once `move` is in its phase, from the entry published before (the move's
 * previous phase, or the same phase: applying it twice changes nothing, so a table
 * written before a crash and the checkpoint that lags it agree). Pending and Failed
 * take a joining `to` back out; Fencing swaps `from` for `to` at the move's epoch and
 * lists `from` as leaving; Switching and Done drop `from` from the entry.
 */
export function entryAfter(entry: MoveEntry, move: Move): MoveEntry {
  switch (move.phase) {
    case 'Pending':
    case 'Failed':
      return { ...entry, joining: without(entry.joining, move.to) };
    case 'Copying':
      return entry.replicas.includes(move.to) ? entry : { ...entry, joining: withOne(entry.joining, move.to) };
    case 'Fencing':
    case 'Switching':
    case 'Done': {
      const replicas = withOne(without(entry.replicas, move.from), move.to);
      const leaving = move.phase === 'Fencing' ? withOne(entry.leaving, move.from) : without(entry.leaving, move.from);
      return { replicas, joining: without(entry.joining, move.to), leaving, epoch: Math.max(entry.epoch, move.epoch ?? entry.epoch + 1) };
    }
  }
}
