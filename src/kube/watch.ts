/**
 * One watch request as an async stream of events.
 *
 * `watchEvents` opens `GET <collection>?watch=true` and yields each event as it
 * arrives, ending when the server closes the stream (its `timeoutSeconds` elapsed),
 * the caller's signal aborts, or the connection fails (thrown as `KubeApiError`). An
 * `ERROR` event (410 Gone, typically) is thrown as a `KubeApiError` too, so callers
 * handle "resourceVersion too old" in one place. Reconnecting, relisting and
 * watchdogs are the informer's job, not this function's.
 */
import type { KubeClient } from './client.ts';
import { parseApiError, transportError } from './errors.ts';
import { resourcePath, type ResourceType } from './resources.ts';
import type { KubeObject } from './types.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  readonly type: WatchEventType;
  readonly object: T;
}

export interface WatchOptions {
  readonly namespace?: string | undefined;
  readonly resourceVersion?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  /** Server-side timeout; the server ends the watch cleanly after it. */
  readonly timeoutSeconds?: number | undefined;
  readonly allowWatchBookmarks?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Largest single event line accepted (16 MiB); a longer line fails the watch. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

export async function* watchEvents<T extends KubeObject = KubeObject>(
  client: KubeClient,
  type: ResourceType,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent<T>, void, undefined> {
  const path = resourcePath(type, { namespace: options.namespace });
  const response = await client.stream({
    method: 'GET',
    path,
    query: {
      watch: true,
      resourceVersion: options.resourceVersion,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      timeoutSeconds: options.timeoutSeconds,
      allowWatchBookmarks: options.allowWatchBookmarks,
    },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const reader = response.chunks()[Symbol.asyncIterator]();
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for (;;) {
      let chunk: IteratorResult<Uint8Array>;
      try {
        chunk = await reader.next();
      } catch (error) {
        if (options.signal?.aborted) return;
        throw transportError(`WATCH ${path}`, error);
      }
      if (chunk.done === true) return;
      pending += decoder.decode(chunk.value, { stream: true });
      if (pending.length > MAX_LINE_BYTES) throw new Error(`WATCH ${path}: event larger than ${MAX_LINE_BYTES} bytes`);
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        if (line === '') continue;
        const event = JSON.parse(line) as { type: string; object: unknown };
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number };
          throw parseApiError(status.code ?? 500, JSON.stringify(event.object), `WATCH ${path}`);
        }
        yield { type: event.type as WatchEventType, object: event.object as T };
      }
    }
  } finally {
    response.cancel();
  }
}

