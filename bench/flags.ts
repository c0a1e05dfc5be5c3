/**
 * Flag evaluation and ramp correctness, in process (no cluster).
 *
 * 1. Evaluations per second on one core of a flag with a `fractional` rule (a Rollout at
 *    30 %), through: our provider's synchronous path (flagd-core, compiled JSONLogic),
 *    the OpenFeature SDK client over our provider (async, hooks, context merging), and
 *    the bucketing alone (our MurmurHash3 + fractional, what the operator computes).
 * 2. Ramp correctness over 1,000,000 targeting keys: for each step p → q of a typical
 *    ramp, the keys flagd-core's evaluation of the published document moves onto the
 *    variant, against the exact bound: the keys whose bucket lies in [p, q) (so the
 *    moved fraction is (q − p) % up to hashing noise, and no key ever leaves).
 *
 * Usage: `npx node bench/flags.ts [keys=1000000] [seconds=3]`.
 */
import { OpenFeature } from '@openfeature/server-sdk';
import { withFeatureFlagDefaults } from '../src/crds/featureflag.ts';
import { buildDocument, defineFlag, serializeDocument } from '../src/legos/flagd/document.ts';
import { bucketOf, fractionalVariant } from '../src/legos/flagd/fractional.ts';
import { murmur3 } from '../src/legos/flagd/murmur3.ts';
import { ManyfoldFlagProvider } from '../src/legos/flagd/provider.ts';
import { machineContext } from './support/harness.ts';
import { table, type Row } from './support/stats.ts';

const KEYS = Number(process.argv[2] ?? 1_000_000);
const SECONDS = Number(process.argv[3] ?? 3);
const FLAG = 'new-checkout';
const spec = withFeatureFlagDefaults({ variants: { new: 'new', old: 'old' }, defaultVariant: 'old', safeVariant: 'old' });

function publish(weight: number): string {
  const result = defineFlag({ key: FLAG, spec, killSwitch: false, ramp: { variant: 'new', weight, rollout: 'bench' } });
  if (!result.ok) throw new Error('refused');
  return serializeDocument(buildDocument({ [FLAG]: result.flag }));
}

function provider(weight: number): ManyfoldFlagProvider {
  const p = new ManyfoldFlagProvider({ source: { subscribe: () => {} } });
  p.load(publish(weight), 1);
  return p;
}

/** Calls `fn(i)` for about SECONDS seconds; returns calls per second. */
async function rate(fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 20_000; i++) await fn(i); // warm-up
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < SECONDS * 1000) {
    for (let j = 0; j < 1000; j++) await fn(n++);
  }
  return n / ((performance.now() - start) / 1000);
}

function syncRate(fn: (i: number) => unknown): number {
  for (let i = 0; i < 20_000; i++) fn(i);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < SECONDS * 1000) {
    for (let j = 0; j < 1000; j++) fn(n++);
  }
  return n / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  console.log('# Flag evaluation and ramp correctness (bench/flags.ts)\n');
  console.log(machineContext());
  console.log('');
  const p30 = provider(30);
  const direct = syncRate((i) => p30.evaluateString(FLAG, 'x', { targetingKey: `user-${i}` }));
  await OpenFeature.setProviderAndWait('bench', p30);
  const client = OpenFeature.getClient('bench');
  const sdk = await rate((i) => client.getStringValue(FLAG, 'x', { targetingKey: `user-${i}` }));
  const entries = [{ variant: 'new', weight: 30 }, { variant: 'old', weight: 70 }];
  const bucketing = syncRate((i) => fractionalVariant(`${FLAG}user-${i}`, entries));
  await OpenFeature.close();
  const rows: Row[] = [
    { metric: 'evaluations/s/core, provider sync path (flagd-core)', value: Math.round(direct).toLocaleString('en-US'), target: 'report' },
    { metric: 'evaluations/s/core, OpenFeature client over the provider', value: Math.round(sdk).toLocaleString('en-US'), target: 'report' },
    { metric: 'bucketings/s/core, our murmur3 + fractional alone', value: Math.round(bucketing).toLocaleString('en-US'), target: 'report' },
  ];

  // Ramp correctness: flagd-core on the published documents, 1,000,000 keys.
  const ramp = [0, 1, 5, 10, 25, 50, 100];
  const buckets = new Uint8Array(KEYS);
  for (let i = 0; i < KEYS; i++) buckets[i] = bucketOf(murmur3(`${FLAG}user-${i}`), 100);
  let previous = new Uint8Array(KEYS); // 1 = served the variant
  let worst = 0;
  let allExact = true;
  let anyLeft = false;
  for (let s = 1; s < ramp.length; s++) {
    const [p, q] = [ramp[s - 1] ?? 0, ramp[s] ?? 0];
    const ev = provider(q);
    const now = new Uint8Array(KEYS);
    let moved = 0;
    let left = 0;
    let exact = 0;
    for (let i = 0; i < KEYS; i++) {
      const on = ev.evaluateString(FLAG, 'x', { targetingKey: `user-${i}` }).variant === 'new';
      now[i] = on ? 1 : 0;
      if (on && previous[i] === 0) moved++;
      if (!on && previous[i] === 1) left++;
      const b = buckets[i] ?? 0;
      if (b >= p && b < q) exact++;
    }
    const fraction = moved / KEYS;
    const deviation = Math.abs(fraction - (q - p) / 100);
    worst = Math.max(worst, deviation);
    if (moved !== exact) allExact = false;
    if (left > 0) anyLeft = true;
    rows.push({
      metric: `ramp ${p}% → ${q}%: keys moved (flagd-core) / exact [p,q) set / bound (q−p)%`,
      value: `${moved} / ${exact} / ${((q - p) / 100 * KEYS).toFixed(0)} (${(fraction * 100).toFixed(3)} %, ${left} left)`,
      target: 'moved = exact, 0 left',
      met: moved === exact && left === 0,
    });
    previous = now;
  }
  rows.push({ metric: 'worst |moved fraction − (q−p)| over the ramp', value: `${(worst * 100).toFixed(3)} points`, target: 'hashing noise (< 0.2 points at 1M keys)', met: worst < 0.002 });
  rows.push({ metric: 'every step moved exactly the keys in between, none left', value: allExact && !anyLeft ? 'yes' : 'no', target: 'yes', met: allExact && !anyLeft });
  console.log(table(rows));
}

await main();
