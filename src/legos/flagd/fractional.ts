/**
 * flagd's `fractional` bucketing, pure: which bucket of a weighted list a bucketing
 * key falls into. This is the arithmetic flagd (Go), `@openfeature/flagd-core` and the
 * Python flagd evaluator share today: `h = murmur3_32(flagKey + targetingKey)` (UTF-8),
 * `bucket = floor(h × totalWeight / 2³²)`, and the first entry whose running sum of
 * weights exceeds `bucket` wins.
 *
 * Guarantees: monotone ramps. With entries `[[v, w], [base, T − w]]` and a fixed total
 * `T`, a key gets `v` exactly when `bucket < w`; raising `w` from p to q moves exactly
 * the keys whose bucket lies in [p, q) and no other key (and lowering moves them back).
 *
 * Limitations: weights are integers in [0, 2³¹ − 1] with a total ≤ 2³¹ − 1 (flagd's
 * limit); negative weights count as 0, as in flagd. `@openfeature/flagd-core` 4.x
 * hashes UTF-16 code units rather than UTF-8 bytes, so for targeting keys outside
 * ASCII it can disagree with flagd and with this module (see fractional-vectors.json).
 * The proposed "fractional v3" (CBOR-encoded bucketing keys, Python flagd core ≥ 2.0)
 * is a different hash and is not implemented here.
 */
import { murmur3 } from './murmur3.ts';

/** Largest total weight flagd accepts (MaxInt32). */
export const MAX_TOTAL_WEIGHT = 2_147_483_647;

/** One `fractional` entry: a variant and its integer weight. */
export interface FractionalEntry {
  readonly variant: string;
  readonly weight: number;
}

const TWO_32 = 4_294_967_296;

/** The bucket in [0, total) that a 32-bit hash falls into for a total weight `total`. */
export function bucketOf(hash: number, total: number): number {
  if (total < 2_097_152) return Math.floor((hash * total) / TWO_32); // exact: product < 2^53
  return Number((BigInt(hash) * BigInt(total)) >> 32n);
}

/** The bucketing key flagd uses when `fractional` names no explicit key. */
export function defaultBucketingKey(flagKey: string, targetingKey: string): string {
  return `${flagKey}${targetingKey}`;
}

/**
 * The variant `fractional` picks for `bucketingKey`, or `undefined` when the weights
 * total 0 (flagd then falls back to the default variant).
 */
export function fractionalVariant(bucketingKey: string, entries: readonly FractionalEntry[]): string | undefined {
  let total = 0;
  for (const e of entries) total += Math.max(0, e.weight);
  if (total <= 0 || total > MAX_TOTAL_WEIGHT) return undefined;
  const bucket = bucketOf(murmur3(bucketingKey), total);
  let sum = 0;
  for (const e of entries) {
    sum += Math.max(0, e.weight);
    if (bucket < sum) return e.variant;
  }
  return undefined;
}

/**
 * Whether a targeting key is inside a ramp at `weight` percent: the fast form of
 * `fractionalVariant(flagKey + targetingKey, [[v, weight], [base, 100 − weight]]) === v`.
 */
export function inRamp(flagKey: string, targetingKey: string, weight: number): boolean {
  return bucketOf(murmur3(defaultBucketingKey(flagKey, targetingKey)), 100) < weight;
}
