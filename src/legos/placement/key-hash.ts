/**
 * The stable key-to-shard hash of ShardMap routing (the client library's `lookup` and
 * anything else that must agree with it, in any language):
 *
 *     h     = FNV-1a 32-bit over the UTF-8 bytes of the key
 *             (offset basis 0x811c9dc5, prime 0x01000193)
 *     h     = fmix32(h): h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16
 *             (MurmurHash3's finalizer, all arithmetic mod 2^32)
 *     shard = floor(h × shards / 2^32)
 *
 * Stable across versions: the routing table names the hash (`keyHash: fnv1a32-fmix32`),
 * the test vectors in `key-hash.vectors.json` pin it, and a change would be a new name.
 * The multiply-shift keeps shards contiguous ranges of the hash space, so a key's shard
 * is a pure function of the key and the shard count.
 *
 * Limitations: a 32-bit hash (adversarial keys can be made to collide: do not route
 * untrusted keys where skew matters); lone surrogates in a string are encoded as
 * U+FFFD, as `TextEncoder` does.
 */
import { fmix32 } from '../hash/fmix32.ts';

/** The name the routing table records for this hash. */
export const KEY_HASH_NAME = 'fnv1a32-fmix32';

const OFFSET = 0x811c9dc5;
const PRIME = 0x01000193;

function byte(h: number, b: number): number {
  return Math.imul(h ^ b, PRIME);
}

/** FNV-1a 32-bit over the UTF-8 encoding of `key` (no allocation). */
export function fnv1a32(key: string | Uint8Array): number {
  let h = OFFSET;
  if (typeof key !== 'string') {
    for (const b of key) h = byte(h, b);
    return h >>> 0;
  }
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < key.length) {
      const d = key.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) h = byte(h, c);
    else if (c < 0x800) {
      h = byte(h, 0xc0 | (c >> 6));
      h = byte(h, 0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      h = byte(h, 0xe0 | (c >> 12));
      h = byte(h, 0x80 | ((c >> 6) & 0x3f));
      h = byte(h, 0x80 | (c & 0x3f));
    } else {
      h = byte(h, 0xf0 | (c >> 18));
      h = byte(h, 0x80 | ((c >> 12) & 0x3f));
      h = byte(h, 0x80 | ((c >> 6) & 0x3f));
      h = byte(h, 0x80 | (c & 0x3f));
    }
  }
  return h >>> 0;
}


/** The 32-bit routing hash of a key. */
export function keyHash(key: string | Uint8Array): number {
  return fmix32(fnv1a32(key));
}

/** The shard of `key` among `shards` (1 ≤ shards ≤ 2^31). */
export function shardOfKey(key: string | Uint8Array, shards: number): number {
  return Math.floor((keyHash(key) * shards) / 4294967296);
}
