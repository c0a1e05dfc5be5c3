/**
 * The hash-based placements the planner is compared with (bench only): weighted
 * rendezvous hashing, a consistent-hash ring with 100 virtual nodes per average-weight
 * member, jump consistent hash (no weights, no zones: members numbered, only appending
 * is consistent), and consistent hashing with bounded loads (ε = 0.25, capacity
 * weighted). Each places `replicas` replicas of every shard on distinct members, in
 * distinct zones where the algorithm can (rendezvous, ring and bounded-load skip a
 * member whose zone the shard already uses while enough zones remain).
 *
 * Written from the published algorithms (Thaler & Ravishankar 1996; Karger et al. 1997;
 * Lamping & Veach 2014; Mirrokni, Thorup & Zadimoghaddam 2018), not from any code.
 *
 * Limitations: 32-bit hashes; the bounded-load assignment depends on shard order (as the
 * algorithm does), so its moves include the cascade that order causes.
 */
import type { PlacementMember } from '../../src/legos/placement/types.ts';

/** A 32-bit hash of two integers (fixed constants; not the router's key hash). */
export function hash2(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A stable number for a member name (so hashes follow the member, not its index). */
export function nameId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export type Assignment = string[][];

const usable = (members: readonly PlacementMember[]) => members.filter((m) => m.state === 'Active' && m.weight > 0);

/** Weighted rendezvous (highest random weight): score = weight / −ln(u). */
export function rendezvous(shards: number, replicas: number, all: readonly PlacementMember[]): Assignment {
  const members = usable(all);
  const ids = members.map((m) => nameId(m.name));
  const zones = new Set(members.map((m) => m.zone ?? '')).size;
  const out: Assignment = [];
  const best = new Float64Array(replicas);
  const bestIndex = new Int32Array(replicas);
  for (let s = 0; s < shards; s++) {
    // Top `replicas × 4` candidates are enough to find distinct zones in practice; keep it simple: scan all.
    const chosen: number[] = [];
    const usedZones = new Set<string>();
    while (chosen.length < replicas) {
      best.fill(-1);
      bestIndex.fill(-1);
      let top = -1;
      let topScore = -1;
      for (let i = 0; i < members.length; i++) {
        if (chosen.includes(i)) continue;
        const z = members[i]?.zone ?? '';
        if (usedZones.has(z) && usedZones.size < zones) continue;
        const u = ((hash2(s, ids[i] as number) >>> 8) + 0.5) / 16777216;
        const score = (members[i]?.weight ?? 0) / -Math.log(u);
        if (score > topScore) {
          topScore = score;
          top = i;
        }
      }
      if (top < 0) break;
      chosen.push(top);
      usedZones.add(members[top]?.zone ?? '');
    }
    out.push(chosen.map((i) => members[i]?.name ?? ''));
  }
  return out;
}

interface Ring {
  readonly points: Uint32Array;
  readonly owner: Int32Array;
}

function buildRing(members: readonly PlacementMember[], vnodesPerAverage: number): Ring {
  const mean = members.reduce((a, m) => a + m.weight, 0) / members.length;
  const entries: [number, number][] = [];
  members.forEach((m, i) => {
    const n = Math.max(1, Math.round((vnodesPerAverage * m.weight) / mean));
    const id = nameId(m.name);
    for (let v = 0; v < n; v++) entries.push([hash2(id, v), i]);
  });
  entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { points: Uint32Array.from(entries, (e) => e[0]), owner: Int32Array.from(entries, (e) => e[1]) };
}

function firstAtOrAfter(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/** Walks the ring clockwise from each shard's point; `accept` may refuse a member (full). */
function ringAssign(shards: number, replicas: number, members: readonly PlacementMember[], ring: Ring, accept: (i: number) => boolean, onPlace: (i: number) => void): Assignment {
  const zones = new Set(members.map((m) => m.zone ?? '')).size;
  const out: Assignment = [];
  for (let s = 0; s < shards; s++) {
    const chosen: number[] = [];
    const usedZones = new Set<string>();
    let p = firstAtOrAfter(ring.points, hash2(s, 0x51ed));
    for (let steps = 0; chosen.length < replicas && steps < ring.points.length; steps++, p = (p + 1) % ring.points.length) {
      const i = ring.owner[p] as number;
      const z = members[i]?.zone ?? '';
      if (chosen.includes(i) || (usedZones.has(z) && usedZones.size < zones) || !accept(i)) continue;
      chosen.push(i);
      usedZones.add(z);
      onPlace(i);
    }
    out.push(chosen.map((i) => members[i]?.name ?? ''));
  }
  return out;
}

/** Consistent-hash ring, `vnodes` virtual nodes per average-weight member. */
export function ring(shards: number, replicas: number, all: readonly PlacementMember[], vnodes = 100): Assignment {
  const members = usable(all);
  return ringAssign(shards, replicas, members, buildRing(members, vnodes), () => true, () => undefined);
}

/** Consistent hashing with bounded loads: a member takes at most ceil((1 + ε) × its weighted share). */
export function boundedLoad(shards: number, replicas: number, all: readonly PlacementMember[], epsilon = 0.25, vnodes = 100): Assignment {
  const members = usable(all);
  const total = members.reduce((a, m) => a + m.weight, 0);
  const cap = members.map((m) => Math.ceil(((1 + epsilon) * shards * replicas * m.weight) / total));
  const load = new Int32Array(members.length);
  return ringAssign(
    shards,
    replicas,
    members,
    buildRing(members, vnodes),
    (i) => (load[i] as number) < (cap[i] as number),
    (i) => (load[i] = (load[i] as number) + 1),
  );
}

/** Jump consistent hash of a 32-bit key into `buckets` (Lamping & Veach), with a 64-bit LCG in BigInt-free halves. */
export function jump(key: number, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = BigInt(key) | 1n;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = Math.floor(((b + 1) * 2 ** 31) / (Number(k >> 33n) + 1));
  }
  return b;
}

/** Jump hash over members in list order (no weights, no zones); replicas by rehashing until distinct. */
export function jumpHash(shards: number, replicas: number, all: readonly PlacementMember[]): Assignment {
  const members = usable(all);
  const out: Assignment = [];
  for (let s = 0; s < shards; s++) {
    const chosen: number[] = [];
    for (let r = 0; chosen.length < replicas && r < replicas * 16; r++) {
      const i = jump(hash2(s, r), members.length);
      if (!chosen.includes(i)) chosen.push(i);
    }
    out.push(chosen.map((i) => members[i]?.name ?? ''));
  }
  return out;
}
