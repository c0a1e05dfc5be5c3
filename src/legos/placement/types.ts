/** Types of the placement planner (see `planner.ts`). */

/** A member's state, as its Cell declares it. */
export type MemberState = 'Active' | 'Cordoned' | 'Draining';

/** One member Cell as the planner sees it. */
export interface PlacementMember {
  /** Cell name; unique among members. */
  readonly name: string;
  /** Zone of the Cell; members without one share the zone `""`. */
  readonly zone?: string | undefined;
  /** Capacity weight (≥ 0; 0 holds nothing). */
  readonly weight: number;
  readonly state: MemberState;
}

/** Placement policy (`spec.placement` of a ShardMap). */
export interface PlacementPolicy {
  /** ≥ 1: no member holds more than `ceil(maxLoadFactor × share)`. */
  readonly maxLoadFactor: number;
  /** Failure domain the replicas of one shard are spread across. */
  readonly spreadBy: 'zone' | 'cell';
}

/** Input of {@link planPlacement}. */
export interface PlacementInput {
  /** Number of shards (≥ 1). */
  readonly shards: number;
  /** Replicas per shard (≥ 1). */
  readonly replicas: number;
  readonly members: readonly PlacementMember[];
  /**
   * The current assignment: `current[s]` lists the Cells holding shard `s`, primary
   * first. Missing entries mean no replica; names that are not members are gone.
   */
  readonly current: readonly (readonly string[] | undefined)[];
  readonly policy: PlacementPolicy;
}

/**
 * Why a replica moves: its member is gone or draining, it broke the spread rule, its
 * member was over its cap, the shard lacked a replica, or a member below its floor
 * needed it (balance).
 */
export type MoveReason = 'MemberGone' | 'Draining' | 'Spread' | 'OverCap' | 'Missing' | 'Balance';

/** One replica placement: shard `shard` gains a replica on `to`, replacing the one on `from` (if any). */
export interface PlannedMove {
  readonly shard: number;
  readonly from?: string | undefined;
  readonly to: string;
  readonly reason: MoveReason;
}

/** A member's bounds and load after the plan. */
export interface MemberPlan {
  readonly name: string;
  readonly state: MemberState;
  /** Failure domain (zone, or the cell name under spreadBy cell). */
  readonly domain: string;
  /** Fair share of replicas (real number). */
  readonly share: number;
  /** Most replicas it may hold. */
  readonly cap: number;
  /** Fewest replicas an Active member should hold (0 for others). */
  readonly floor: number;
  /** Replicas held after the plan. */
  readonly replicas: number;
  /** replicas / share (0 when share is 0). */
  readonly loadRatio: number;
}

/** Output of {@link planPlacement} when the input can be placed. */
export interface PlacementPlan {
  /** `target[s]`: the Cells of shard `s`, kept replicas first in their old order. */
  readonly target: string[][];
  /** Replica placements, most urgent first (gone/draining members, spread, caps, then balance). */
  readonly moves: PlannedMove[];
  /** Fewest placements any assignment meeting the same bounds needs (see `lowerBound`). */
  readonly lowerBound: number;
  readonly members: MemberPlan[];
  readonly spread: {
    /** Domains among members that can hold replicas, sorted. */
    readonly domains: string[];
    /** Most replicas of one shard in one domain: 1, or ceil(replicas / domains) with too few domains. */
    readonly perDomainLimit: number;
    /** True under spreadBy zone with fewer zones than replicas. */
    readonly degraded: boolean;
  };
  /** Replicas that found no member within the rules (0 whenever a valid assignment was found). */
  readonly unplaced: number;
  /** Active members left below their floor because no donor shard fit (0 normally). */
  readonly floorShortfall: number;
}

export type PlacementResult =
  | { readonly ok: true; readonly plan: PlacementPlan }
  | { readonly ok: false; readonly reason: 'InsufficientMembers' | 'InvalidInput'; readonly message: string };
