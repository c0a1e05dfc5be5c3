import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a32, keyHash, KEY_HASH_NAME, shardOfKey } from './key-hash.ts';

interface Vectors {
  readonly hash: string;
  readonly vectors: readonly { key: string; hash: number; shards: Record<string, number> }[];
}
const vectors = JSON.parse(readFileSync(new URL('./key-hash.vectors.json', import.meta.url), 'utf8')) as Vectors;

describe('key hash', () => {
  it('FNV-1a matches the published test values', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('matches the test vectors in the repository (the hash is stable across versions)', () => {
    expect(vectors.hash).toBe(KEY_HASH_NAME);
    expect(vectors.vectors.length).toBeGreaterThan(10);
    for (const v of vectors.vectors) {
      expect(keyHash(v.key)).toBe(v.hash);
      for (const [shards, shard] of Object.entries(v.shards)) expect(shardOfKey(v.key, Number(shards))).toBe(shard);
    }
  });

  it('hashes a string as its UTF-8 bytes, and lands in range', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 1, max: 65_536 }), (key, shards) => {
        expect(keyHash(key)).toBe(keyHash(new TextEncoder().encode(key)));
        const shard = shardOfKey(key, shards);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(shards);
      }),
    );
  });

  it('spreads sequential keys evenly over shards (chi-square well under the 0.1 % critical value)', () => {
    const shards = 64;
    const counts = new Array<number>(shards).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) counts[shardOfKey(`user:${i}`, shards)]! += 1;
    const expected = n / shards;
    const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(103.4); // 63 degrees of freedom, p = 0.001
  });
});
