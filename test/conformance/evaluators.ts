/**
 * Which targeting keys get a variant, per evaluator, on one published flagd document:
 * flagd's TypeScript core, flagd's Python in-process evaluator (see python.ts), our
 * provider, and our own bucketing (what a Rollout's weight means). Keys are
 * `<prefix><i>` for i in [0, count). Shared by the conformance test and the Rollout
 * integration test.
 */
import { FlagdCore } from '@openfeature/flagd-core';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inRamp } from '../../src/legos/flagd/fractional.ts';
import { ManyfoldFlagProvider } from '../../src/legos/flagd/provider.ts';

export interface Keys {
  readonly flagKey: string;
  readonly variant: string;
  readonly prefix: string;
  readonly count: number;
}

const keyAt = (k: Keys, i: number) => `${k.prefix}${i}`;

export function viaFlagdCore(document: string, k: Keys): boolean[] {
  const core = new FlagdCore();
  core.setConfigurations(document);
  return Array.from({ length: k.count }, (_, i) => core.resolveStringEvaluation(k.flagKey, '__code__', { targetingKey: keyAt(k, i) }).variant === k.variant);
}

export function viaProvider(document: string, k: Keys): boolean[] {
  const provider = new ManyfoldFlagProvider({ source: { subscribe: () => {} } });
  provider.load(document, 1);
  return Array.from({ length: k.count }, (_, i) => provider.evaluateString(k.flagKey, '__code__', { targetingKey: keyAt(k, i) }).variant === k.variant);
}

/** What a Rollout at `weight` percent means for each key. */
export const viaRollout = (weight: number, k: Keys) => Array.from({ length: k.count }, (_, i) => inRamp(k.flagKey, keyAt(k, i), weight));

export async function viaPython(python: string, document: string, k: Keys): Promise<{ readonly chosen: boolean[]; readonly reasons: Record<string, number> }> {
  const dir = await mkdtemp(join(tmpdir(), 'flagd-conformance-'));
  try {
    const path = join(dir, 'flags.json');
    await writeFile(path, document);
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(python, [join(import.meta.dirname, 'flagd_eval.py')], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) =>
        error ? reject(new Error(`flagd_eval.py failed: ${error.message}`, { cause: error })) : resolve(stdout),
      );
      child.stdin?.end(JSON.stringify({ documentPath: path, flagKey: k.flagKey, prefix: k.prefix, count: k.count }));
    });
    const parsed = JSON.parse(output) as { variants: (string | null)[]; reasons: Record<string, number> };
    return { chosen: parsed.variants.map((v) => v === k.variant), reasons: parsed.reasons };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const countOf = (xs: readonly boolean[]) => xs.reduce((n, x) => n + (x ? 1 : 0), 0);

/** 'none', or the first key where the two lists differ. */
export function firstDifference(a: readonly boolean[], b: readonly boolean[], k: Keys): string {
  const i = a.findIndex((x, j) => x !== b[j]);
  return i < 0 ? 'none' : `${keyAt(k, i)}: ${a[i]} vs ${b[i]}`;
}
