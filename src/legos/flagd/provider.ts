/**
 * An OpenFeature provider for Node (`@openfeature/server-sdk`) that evaluates the flag
 * documents the operator publishes, in process, with `@openfeature/flagd-core`.
 *
 * Why flagd-core rather than an evaluator of our own: it is flagd's own TypeScript
 * evaluator (JSONLogic engine, `fractional`, `sem_ver`, string operators, DISABLED and
 * code-default semantics, flagd's JSON schemas), maintained with flagd's cross-language
 * test bed, so every rule the operator publishes evaluates as flagd would without a
 * second JSONLogic implementation to keep in step. The operator keeps its own
 * MurmurHash3/`fractional` (fractional.ts) for what it must compute without evaluating
 * (distribution, ramp membership, benchmarks); the conformance test checks that both,
 * and flagd's Python evaluator, pick the same keys.
 *
 * Guarantees: a document is swapped in atomically (an evaluation sees the old or the new
 * one); a document flagd-core refuses is ignored and the last good one keeps serving
 * (an `Error` event is emitted); every accepted change emits `ConfigurationChanged`
 * with the keys that changed. `initialize` resolves once the first document arrived.
 *
 * Limitations: targeting keys outside ASCII bucket as flagd-core 4 hashes them (UTF-16
 * code units), which differs from flagd's Go and Python evaluators; see fractional.ts.
 */
import { FlagdCore } from '@openfeature/flagd-core';
import {
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type JsonValue,
  type Logger,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';

/** Where documents come from: a ConfigMap watch or a mounted file (sources.ts). */
export interface FlagDocumentSource {
  /**
   * Delivers the current document, then every change, until `signal` aborts. `version`
   * is the publisher's monotone version when the source knows it.
   */
  subscribe(listener: { document(json: string, version: number | undefined): void; error(error: Error): void }, signal: AbortSignal): void;
}

/** Options of {@link ManyfoldFlagProvider}. */
export interface ManyfoldFlagProviderOptions {
  readonly source: FlagDocumentSource;
  /** How long `initialize` waits for the first document, ms. Default 30 000. */
  readonly initialTimeoutMs?: number;
}

/** The provider. Register with `OpenFeature.setProviderAndWait(new ManyfoldFlagProvider({ source }))`. */
export class ManyfoldFlagProvider implements Provider {
  readonly metadata = { name: 'manyfold-flagd-in-process' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  #core = new FlagdCore();
  #loaded = false;
  #version: number | undefined;
  readonly #abort = new AbortController();
  readonly #options: ManyfoldFlagProviderOptions;
  readonly #waiters: (() => void)[] = [];

  constructor(options: ManyfoldFlagProviderOptions) {
    this.#options = options;
  }

  /** Version of the document being served (`undefined` before the first or when unknown). */
  get version(): number | undefined {
    return this.#version;
  }

  /** Applies a document (JSON text); returns the changed flag keys, or throws when flagd-core refuses it. */
  load(json: string, version?: number): string[] {
    const next = new FlagdCore();
    const changed = next.setConfigurations(json);
    const previous = this.#core;
    this.#core = next;
    this.#version = version;
    const wasLoaded = this.#loaded;
    this.#loaded = true;
    for (const waiter of this.#waiters.splice(0)) waiter();
    if (wasLoaded) {
      const keys = new Set(changed);
      for (const [key] of previous.getFlags()) if (!next.getFlag(key)) keys.add(key);
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...keys] });
    }
    return changed;
  }

  async initialize(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      if (this.#loaded) return resolve();
      const timer = setTimeout(() => reject(new Error(`no flag document within ${this.#options.initialTimeoutMs ?? 30_000} ms`)), this.#options.initialTimeoutMs ?? 30_000);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#options.source.subscribe(
      {
        document: (json, version) => {
          try {
            this.load(json, version);
          } catch (error) {
            this.events.emit(ProviderEvents.Error, { message: `flag document refused: ${error instanceof Error ? error.message : String(error)}` });
          }
        },
        error: (error) => this.events.emit(ProviderEvents.Stale, { message: error.message }),
      },
      this.#abort.signal,
    );
    await ready;
  }

  async onClose(): Promise<void> {
    this.#abort.abort();
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext, logger: Logger): Promise<ResolutionDetails<boolean>> {
    return this.#core.resolveBooleanEvaluation(flagKey, defaultValue, context, logger);
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext, logger: Logger): Promise<ResolutionDetails<string>> {
    return this.#core.resolveStringEvaluation(flagKey, defaultValue, context, logger);
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext, logger: Logger): Promise<ResolutionDetails<number>> {
    return this.#core.resolveNumberEvaluation(flagKey, defaultValue, context, logger);
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext, logger: Logger): Promise<ResolutionDetails<T>> {
    return this.#core.resolveObjectEvaluation(flagKey, defaultValue, context, logger);
  }

  /** Synchronous string evaluation, for hot paths and benchmarks that skip the SDK's hooks. */
  evaluateString(flagKey: string, defaultValue: string, context: EvaluationContext): ResolutionDetails<string> {
    return this.#core.resolveStringEvaluation(flagKey, defaultValue, context);
  }
}
