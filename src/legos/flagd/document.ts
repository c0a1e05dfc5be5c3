/**
 * flagd's flag-definition document, built purely from FeatureFlag specs: the JSON that
 * flagd and the OpenFeature in-process providers read (`flags.<key>.state`, `variants`,
 * `defaultVariant`, `targeting`). One document holds every flag of a namespace (or of
 * one Cell of it, when a Rollout rolls in waves).
 *
 * What a flag becomes:
 * - `state: DISABLED` is published as declared: flagd (≥ the disabled-flag ADR of 2026)
 *   and `@openfeature/flagd-core` 4 then evaluate it successfully with reason DISABLED
 *   and the application's code default; targeting is not evaluated.
 * - A kill switch publishes the safe variant as the default with no targeting (served
 *   to everyone, reason STATIC), whatever the state and any rollout.
 * - A ramp (a Rollout in progress) replaces the targeting with flagd `fractional`
 *   over `[[variant, w], [defaultVariant, 100 − w]]`, bucketed by flagKey + targetingKey:
 *   raising w moves exactly the keys in between (see fractional.ts).
 * - Otherwise the declared targeting is published after validation (targeting.ts).
 *
 * Guarantees: the builder is pure and deterministic; {@link serializeDocument} sorts
 * keys, so an unchanged input gives byte-identical output and a publisher can compare
 * bytes to decide whether to write. A flag whose targeting flagd would refuse is never
 * published: the previous good definition is kept (when given) and the problems name
 * the path.
 *
 * `@openfeature/flagd-core` (with semver, JSON-logic and its schema validators) is loaded
 * on the first validation, synchronously, so an operator without FeatureFlags never
 * holds it (~2 MiB of heap; bench/README.md, issue 15).
 *
 * Limitations: while a ramp is active the flag's own targeting is not applied (the ramp
 * splits between the rolled variant and the default variant); `$evaluators` are not
 * published. {@link distributionOf} knows shares only for flags without targeting or
 * with a top-level `fractional` without a custom bucketing key.
 */
import type { MemoryStorage as FlagdStorage } from '@openfeature/flagd-core';
import { createRequire } from 'node:module';
import type { FeatureFlagSpec } from '../../crds/featureflag.ts';
import { validateTargeting, type TargetingProblem } from './targeting.ts';

/** `$schema` of published documents. */
export const FLAGD_SCHEMA_URL = 'https://flagd.dev/schema/v0/flags.json';

/** Scalar metadata flagd allows on flags and flag sets. */
export type FlagdMetadata = Readonly<Record<string, string | number | boolean>>;

/** One flag in flagd's format. */
export interface FlagdFlag {
  readonly state: 'ENABLED' | 'DISABLED';
  readonly variants: Readonly<Record<string, unknown>>;
  readonly defaultVariant: string | null;
  readonly targeting?: Readonly<Record<string, unknown>>;
  readonly metadata?: FlagdMetadata;
}

/** A flagd flag-definition document. */
export interface FlagdDocument {
  readonly $schema: string;
  readonly flags: Readonly<Record<string, FlagdFlag>>;
  readonly metadata?: FlagdMetadata;
}

/** A ramp of one variant, from a Rollout. */
export interface Ramp {
  /** Variant being rolled out. */
  readonly variant: string;
  /** Percent of targeting keys served the variant, 0–100. */
  readonly weight: number;
  /** Name of the Rollout, published as flag metadata. */
  readonly rollout: string;
}

/** What one flag's definition is built from. */
export interface FlagSource {
  readonly key: string;
  readonly spec: FeatureFlagSpec;
  /** A kill switch holds this flag (any scope). */
  readonly killSwitch: boolean;
  readonly ramp?: Ramp | undefined;
  /** The definition published before, kept when the new one is refused. */
  readonly previous?: FlagdFlag | undefined;
}

/** The outcome for one flag. */
export type FlagDefinition =
  | { readonly ok: true; readonly flag: FlagdFlag }
  | { readonly ok: false; readonly problems: readonly TargetingProblem[]; readonly kept: FlagdFlag | undefined };

/** The fractional rule of a ramp at `weight` percent. */
export function rampTargeting(ramp: Ramp, baseline: string): Record<string, unknown> {
  const weight = Math.max(0, Math.min(100, Math.round(ramp.weight)));
  return { fractional: [[ramp.variant, weight], [baseline, 100 - weight]] };
}

/** Builds one flag's flagd definition (pure). */
export function defineFlag(source: FlagSource): FlagDefinition {
  const { spec } = source;
  if (source.killSwitch) {
    return { ok: true, flag: { state: 'ENABLED', variants: spec.variants, defaultVariant: spec.safeVariant, metadata: { killSwitch: true } } };
  }
  if (source.ramp) {
    const flag: FlagdFlag = {
      state: spec.state,
      variants: spec.variants,
      defaultVariant: spec.defaultVariant,
      targeting: rampTargeting(source.ramp, spec.defaultVariant),
      metadata: { rollout: source.ramp.rollout, rolloutWeight: Math.round(source.ramp.weight) },
    };
    return { ok: true, flag };
  }
  const targeting = spec.targeting;
  const flag: FlagdFlag = {
    state: spec.state,
    variants: spec.variants,
    defaultVariant: spec.defaultVariant,
    ...(targeting !== undefined && Object.keys(targeting).length > 0 ? { targeting } : {}),
  };
  const problems = flag.targeting === undefined ? [] : validateTargeting(flag.targeting, { variants: Object.keys(spec.variants), root: 'spec.targeting' });
  const refused = problems.length > 0 ? problems : flagdRefusal({ $schema: FLAGD_SCHEMA_URL, flags: { [source.key]: flag } }, source.key);
  if (refused.length > 0) return { ok: false, problems: refused, kept: source.previous };
  return { ok: true, flag };
}

/**
 * What `@openfeature/flagd-core` (flagd's TypeScript evaluator, with flagd's own JSON
 * schemas) refuses in `document`, as problems with JSON-pointer paths mapped to
 * `spec.targeting...` for `flagKey`.
 */
export function flagdRefusal(document: FlagdDocument, flagKey: string): TargetingProblem[] {
  const storage = new (flagdCore().MemoryStorage)(quietLogger);
  try {
    storage.setConfigurations(JSON.stringify(document), true);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const pointer = /"instancePath":\s*"([^"]*)"/.exec(message)?.[1] ?? '';
    const prefix = `/flags/${flagKey}/`;
    const path = pointer.startsWith(prefix) ? `spec.${pointer.slice(prefix.length).split('/').join('.')}` : 'spec';
    const detail = /"message":\s*"([^"]*)"/.exec(message)?.[1] ?? message.slice(0, 200);
    return [{ path, message: `flagd's schema refuses it: ${detail}` }];
  }
  const flag = storage.getFlag(flagKey);
  const parseError = (flag as unknown as { _targetingParseErrorMessage?: string } | undefined)?._targetingParseErrorMessage;
  return parseError === undefined ? [] : [{ path: 'spec.targeting', message: `flagd cannot compile it: ${parseError}` }];
}

/** `@openfeature/flagd-core`, loaded on first use (Node's `require` caches it). */
function flagdCore(): { readonly MemoryStorage: typeof FlagdStorage } {
  return requireModule('@openfeature/flagd-core') as { readonly MemoryStorage: typeof FlagdStorage };
}

const requireModule = createRequire(import.meta.url);

const quietLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** Percent of evaluations per variant implied by a published flag, when it is knowable. */
export function distributionOf(flag: FlagdFlag): Record<string, number> | undefined {
  if (flag.state === 'DISABLED') return {};
  if (flag.targeting === undefined) return flag.defaultVariant === null ? {} : { [flag.defaultVariant]: 100 };
  const fractional = flag.targeting['fractional'];
  if (Object.keys(flag.targeting).length !== 1 || !Array.isArray(fractional) || fractional.some((b) => !Array.isArray(b))) return undefined;
  const buckets = fractional as unknown[][];
  const weights = buckets.map((b) => (b.length >= 2 && typeof b[1] === 'number' ? Math.max(0, b[1]) : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return flag.defaultVariant === null ? {} : { [flag.defaultVariant]: 100 };
  const out: Record<string, number> = {};
  buckets.forEach((b, i) => {
    const name = String(b[0]);
    out[name] = (out[name] ?? 0) + ((weights[i] ?? 0) * 100) / total;
  });
  for (const name of Object.keys(out)) out[name] = Math.round(out[name] ?? 0);
  return out;
}

/** Assembles a document from per-flag definitions. */
export function buildDocument(flags: Readonly<Record<string, FlagdFlag>>, metadata?: FlagdMetadata): FlagdDocument {
  return { $schema: FLAGD_SCHEMA_URL, flags, ...(metadata ? { metadata } : {}) };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** Canonical JSON of a document (sorted keys, 2-space indent, trailing newline). */
export function serializeDocument(document: FlagdDocument): string {
  return `${JSON.stringify(sortKeys(document), undefined, 2)}\n`;
}
