/**
 * Sources of published flag documents for {@link ManyfoldFlagProvider}:
 * - {@link configMapSource}: watches the ConfigMap through the API server (get, then a
 *   watch from its resourceVersion, re-established with backoff); a change reaches the
 *   provider within the watch latency, well under a second on a healthy cluster.
 * - {@link fileSource}: polls a file, e.g. the ConfigMap mounted into the pod. The
 *   kubelet refreshes mounted ConfigMaps only on its sync period (about a minute), so
 *   prefer the watch where kill-switch latency matters.
 *
 * The operator publishes ConfigMap `manyfold-flags` per namespace: key `flags.json`
 * for the namespace, `cell-<cell>.json` for each Cell (see the FeatureFlag docs), and
 * annotation `manyfold.dev/flags-version` with the document version.
 *
 * Limitations: the ConfigMap source needs `get` and `watch` on that ConfigMap; a
 * deleted ConfigMap leaves the last document serving.
 */
import { readFile } from 'node:fs/promises';
import type { KubeClient } from '../../kube/client.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { watchEvents } from '../../kube/watch.ts';
import { BackoffPolicy } from '../retry.ts';
import type { FlagDocumentSource } from './provider.ts';

/** Name of the ConfigMap the operator publishes in each namespace. */
export const FLAGS_CONFIGMAP = 'manyfold-flags';
/** Data key of the namespace-wide document. */
export const NAMESPACE_DOCUMENT_KEY = 'flags.json';
/** Annotation holding the published document version. */
export const FLAGS_VERSION_ANNOTATION = 'manyfold.dev/flags-version';
/** Data key of the document for Cell `cell`. */
export const cellDocumentKey = (cell: string) => `cell-${cell}.json`;

interface ConfigMapLike extends KubeObject {
  readonly data?: Readonly<Record<string, string>>;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** Options of {@link configMapSource}. */
export interface ConfigMapSourceOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** Default {@link FLAGS_CONFIGMAP}. */
  readonly name?: string;
  /** Default {@link NAMESPACE_DOCUMENT_KEY}; `cellDocumentKey(cell)` for a Cell's workloads. */
  readonly key?: string;
}

/** A source that watches the published ConfigMap through the API server. */
export function configMapSource(options: ConfigMapSourceOptions): FlagDocumentSource {
  const name = options.name ?? FLAGS_CONFIGMAP;
  const key = options.key ?? NAMESPACE_DOCUMENT_KEY;
  const backoff = new BackoffPolicy({ initialDelayMs: 200, multiplier: 2, maxDelayMs: 10_000, jitter: 'equal' });
  return {
    subscribe(listener, signal) {
      let last = '';
      const deliver = (cm: ConfigMapLike) => {
        const json = cm.data?.[key];
        if (json === undefined || json === last) return;
        last = json;
        const version = Number(cm.metadata.annotations?.[FLAGS_VERSION_ANNOTATION]);
        listener.document(json, Number.isFinite(version) ? version : undefined);
      };
      const run = async () => {
        let attempt = 1;
        while (!signal.aborted) {
          try {
            const cm = await options.client.getOrUndefined<ConfigMapLike>(Resources.ConfigMap, name, options.namespace);
            if (cm) deliver(cm);
            const events = watchEvents<ConfigMapLike>(options.client, Resources.ConfigMap, {
              namespace: options.namespace,
              fieldSelector: `metadata.name=${name}`,
              resourceVersion: cm?.metadata.resourceVersion,
              timeoutSeconds: 300,
              signal,
            });
            for await (const event of events) {
              attempt = 1;
              if (event.type === 'ADDED' || event.type === 'MODIFIED') deliver(event.object);
            }
          } catch (error) {
            if (signal.aborted) return;
            listener.error(error instanceof Error ? error : new Error(String(error)));
            attempt += 1;
            await sleep(backoff.delayForAttempt(attempt), signal);
          }
        }
      };
      void run();
    },
  };
}

/** Options of {@link fileSource}. */
export interface FileSourceOptions {
  readonly path: string;
  /** Poll period, ms. Default 1000. */
  readonly pollIntervalMs?: number;
}

/** A source that polls a file (a mounted ConfigMap key, say). */
export function fileSource(options: FileSourceOptions): FlagDocumentSource {
  return {
    subscribe(listener, signal) {
      let last = '';
      const run = async () => {
        while (!signal.aborted) {
          try {
            const json = await readFile(options.path, 'utf8');
            if (json !== last) {
              last = json;
              listener.document(json, undefined);
            }
          } catch (error) {
            listener.error(error instanceof Error ? error : new Error(String(error)));
          }
          await sleep(options.pollIntervalMs ?? 1000, signal);
        }
      };
      void run();
    },
  };
}
