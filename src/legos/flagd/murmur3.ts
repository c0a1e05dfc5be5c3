/**
 * MurmurHash3, x86 32-bit variant, seed 0 by default: the hash flagd's `fractional`
 * operator buckets with. Strings are hashed as their UTF-8 bytes, as flagd (Go) and
 * the Python flagd evaluator do.
 *
 * Guarantees: identical output to the reference algorithm for every byte string
 * (checked against published vectors in murmur3.test.ts); no allocation for ASCII
 * strings up to {@link SCRATCH_BYTES} long.
 *
 * Limitations: 32-bit output only; not a cryptographic hash.
 */
import { fmix32 } from '../hash/fmix32.ts';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Scratch buffer size (bytes) reused for string hashing; longer strings allocate. */
const SCRATCH_BYTES = 1024;
const scratch = new Uint8Array(SCRATCH_BYTES);
const encoder = new TextEncoder();

function mixK(k: number): number {
  let x = Math.imul(k, C1);
  x = (x << 15) | (x >>> 17);
  return Math.imul(x, C2);
}

/** MurmurHash3 x86_32 of `bytes[0..length)`; returns an unsigned 32-bit integer. */
export function murmur3Bytes(bytes: Uint8Array, length: number = bytes.length, seed = 0): number {
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    const k = (bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
    h ^= mixK(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    let tail = 0;
    if (rest === 3) tail ^= (bytes[blocks + 2] ?? 0) << 16;
    if (rest >= 2) tail ^= (bytes[blocks + 1] ?? 0) << 8;
    tail ^= bytes[blocks] ?? 0;
    h ^= mixK(tail);
  }
  return fmix32(h ^ length);
}

/** MurmurHash3 x86_32 (seed 0) of the UTF-8 encoding of `text`; unsigned 32-bit. */
export function murmur3(text: string): number {
  if (text.length * 3 <= SCRATCH_BYTES) {
    const { written } = encoder.encodeInto(text, scratch);
    return murmur3Bytes(scratch, written);
  }
  const bytes = encoder.encode(text);
  return murmur3Bytes(bytes, bytes.length);
}
