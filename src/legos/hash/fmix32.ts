/**
 * MurmurHash3's 32-bit finalizer (avalanche step), shared by the flagd bucketing hash
 * (legos/flagd/murmur3.ts) and the shard routing hash (legos/placement/key-hash.ts).
 *
 * Limitations: a mixer, not a hash: equal inputs give equal outputs, and 0 maps to 0.
 */

/** Mixes the 32 bits of `x` so each input bit affects every output bit; unsigned result. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
