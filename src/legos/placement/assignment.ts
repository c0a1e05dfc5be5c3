/**
 * The working state of one placement plan (legos/placement/planner.ts): the members in
 * name order with their failure domains, the slots `shards × replicas` (member index
 * or −1), replicas held per member, shards per member, which shards changed, and why
 * replicas left. The phases of the planner (keep.ts, shed.ts, fill.ts) mutate it only
 * through the operations here, which keep `slots`, `held` and `lists` in sync. Pure
 * computation; one instance per call of `planPlacement`.
 *
 * Limitations: not a general data structure: no bounds checks beyond what the
 * planner's phases need; member indexes are positions in name order.
 */
import type { MoveReason, PlacementInput, PlacementMember } from './types.ts';

/** A fixed 32-bit mix, so excess is shed from shards spread over the keyspace and ties are broken by slot. */
export function mix(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Members, domains and limits of a valid placement problem. */
export interface PlanContext {
  readonly S: number;
  readonly R: number;
  /** Total replicas, `S × R`. */
  readonly T: number;
  /** maxLoadFactor. */
  readonly f: number;
  /** Members in name order (ties broken by index do not depend on how they were listed). */
  readonly members: readonly PlacementMember[];
  readonly M: number;
  /** Member name → index in `members`. */
  readonly index: ReadonlyMap<string, number>;
  /** Failure-domain name of each member (zone or Cell name). */
  readonly domainNameOf: readonly string[];
  /** Domain names, sorted. */
  readonly domainNames: readonly string[];
  /** Domain index of each member (into `domainNames`). */
  readonly domainOf: Int32Array;
  /** Domains with at least one member that can hold replicas. */
  readonly holderDomains: ReadonlySet<string>;
  /** Replicas of one shard allowed per domain: 1 when there are at least R holder domains, else ceil(R / domains). */
  readonly L: number;
  /** Whether member `i` can hold replicas (not Draining, weight > 0). */
  readonly isHolder: (i: number) => boolean;
}

/** Validates the input and derives the {@link PlanContext}, or says why not. */
export function planContext(input: PlacementInput): { ok: true; ctx: PlanContext } | { ok: false; reason: 'InvalidInput' | 'InsufficientMembers'; message: string } {
  const { shards: S, replicas: R, policy } = input;
  const members = [...input.members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const M = members.length;
  const f = policy.maxLoadFactor;
  if (!Number.isInteger(S) || S < 1 || !Number.isInteger(R) || R < 1) return { ok: false, reason: 'InvalidInput', message: `shards (${S}) and replicas (${R}) must be positive integers` };
  if (!(f >= 1)) return { ok: false, reason: 'InvalidInput', message: `maxLoadFactor ${f} is below 1` };
  const index = new Map<string, number>();
  for (let i = 0; i < M; i++) {
    const m = members[i] as PlacementMember;
    if (index.has(m.name)) return { ok: false, reason: 'InvalidInput', message: `member ${m.name} is listed twice` };
    if (!(m.weight >= 0)) return { ok: false, reason: 'InvalidInput', message: `member ${m.name} has weight ${m.weight}` };
    index.set(m.name, i);
  }
  // Failure domains, numbered in sorted order so the plan does not depend on member order.
  const domainNameOf = members.map((m) => (policy.spreadBy === 'zone' ? (m.zone ?? '') : m.name));
  const domainNames = [...new Set(domainNameOf)].sort();
  const domainIndex = new Map(domainNames.map((d, k) => [d, k]));
  const domainOf = Int32Array.from(domainNameOf, (d) => domainIndex.get(d) as number);
  const isHolder = (i: number): boolean => members[i]?.state !== 'Draining' && (members[i]?.weight ?? 0) > 0;
  const holderDomains = new Set<string>();
  let holders = 0;
  for (let i = 0; i < M; i++) {
    if (isHolder(i)) {
      holders++;
      holderDomains.add(domainNameOf[i] as string);
    }
  }
  if (holders < R) return { ok: false, reason: 'InsufficientMembers', message: `${R} replicas need ${R} members that can hold them, found ${holders}` };
  const D = holderDomains.size;
  const L = D >= R ? 1 : Math.ceil(R / D);
  return { ok: true, ctx: { S, R, T: S * R, f, members, M, index, domainNameOf, domainNames, domainOf, holderDomains, L, isHolder } };
}

/** The slots of a plan in progress and the bookkeeping kept in sync with them. */
export class Assignment {
  readonly ctx: PlanContext;
  /** `slots[s × R + k]`: member index of replica k of shard s, or −1. */
  readonly slots: Int32Array;
  /** Replicas each member holds in `slots`. */
  readonly held: Int32Array;
  /** Member → shards held (filled by {@link indexLists} once phase 0 is done). */
  readonly lists: number[][];
  /** Shards whose replica set the plan changes (the rest keep their current list as is). */
  readonly changed: Uint8Array;
  /** Shard → Cell → why its replica left. */
  readonly departed = new Map<number, Map<string, MoveReason>>();
  /** Valid replicas a shard did not keep (spread or surplus): free stand-ins when a kept one is shed. */
  readonly alternates = new Map<number, number[]>();

  constructor(ctx: PlanContext) {
    this.ctx = ctx;
    this.slots = new Int32Array(ctx.T).fill(-1);
    this.held = new Int32Array(ctx.M);
    this.lists = Array.from({ length: ctx.M }, () => []);
    this.changed = new Uint8Array(ctx.S);
  }

  /** Records that the replica of shard `s` on Cell `name` leaves (the first reason counts). */
  depart(s: number, name: string, reason: MoveReason): void {
    let m = this.departed.get(s);
    if (!m) this.departed.set(s, (m = new Map<string, MoveReason>()));
    if (!m.has(name)) m.set(name, reason);
  }

  /** Fills `lists` from `slots`. */
  indexLists(): void {
    const { S, R } = this.ctx;
    for (let s = 0; s < S; s++) {
      for (let k = 0; k < R; k++) {
        const i = this.slots[s * R + k] as number;
        if (i >= 0) this.lists[i]?.push(s);
      }
    }
  }

  /** The slot of shard `s` held by member `i`, or −1. */
  slotOf(s: number, i: number): number {
    const R = this.ctx.R;
    for (let k = 0; k < R; k++) if (this.slots[s * R + k] === i) return s * R + k;
    return -1;
  }

  /** Can member `i` take a replica of shard `s` (ignoring the replica on `leaving`)? */
  accepts(s: number, i: number, leaving: number): boolean {
    const { R, domainOf, L } = this.ctx;
    const d = domainOf[i] as number;
    let inDomain = 0;
    for (let k = 0; k < R; k++) {
      const j = this.slots[s * R + k] as number;
      if (j < 0 || j === leaving) continue;
      if (j === i) return false;
      if (domainOf[j] === d) inDomain++;
    }
    return inDomain < L;
  }

  /** Puts a replica of shard `s` on member `i` (first empty slot). */
  place(s: number, i: number): void {
    this.changed[s] = 1;
    const base = s * this.ctx.R;
    for (let k = 0; k < this.ctx.R; k++) {
      if (this.slots[base + k] === -1) {
        this.slots[base + k] = i;
        break;
      }
    }
    this.held[i] = (this.held[i] as number) + 1;
    this.lists[i]?.push(s);
  }

  /** Moves the replica of shard `s` from member `from` to member `to`. */
  relocate(s: number, from: number, to: number, reason: MoveReason): void {
    this.slots[this.slotOf(s, from)] = -1;
    const list = this.lists[from] as number[];
    const at = list.indexOf(s);
    if (at >= 0) {
      list[at] = list[list.length - 1] as number;
      list.pop();
    }
    this.held[from] = (this.held[from] as number) - 1;
    this.depart(s, (this.ctx.members[from] as PlacementMember).name, reason);
    this.place(s, to);
  }
}
