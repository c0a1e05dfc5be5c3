/**
 * Kubernetes Events (`events.k8s.io/v1`) about Manyfold's resources, deduplicated and
 * rate-limited like client-go's event correlator:
 * - the same (object, type, reason, note) within 10 minutes updates the existing
 *   Event's `series` (count, lastObservedTime) instead of creating a new one;
 * - each object may emit at most `burst` Events, refilled at one per `refillMs`
 *   (default 25 and 5 minutes, as client-go's spam filter); the rest are dropped and
 *   counted.
 * Recording never throws and never blocks a reconcile: failures are logged. Events carry
 * the leader's fencing epoch like every other write, so a deposed leader's are refused.
 *
 * Limitations: the dedupe cache is per process and bounded (4,096 entries, oldest
 * evicted), so a restart or a flood of distinct events can create a new Event where an
 * update would have done.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../legos/clock.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { microTime, SystemClock } from '../legos/clock.ts';
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import { EpochAnnotation } from './leader/fence.ts';
import type { KubeObject } from '../kube/types.ts';
import { silentLogger, type Logger } from './log.ts';
import type { TrackedMemory } from './metrics.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Records that `action` happened to `regarding` (`reason` in PascalCase). */
  event(regarding: KubeObject, type: EventType, reason: string, note: string, action?: string): void;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstAt: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_ENTRIES = 4096;
const DEDUPE_WINDOW_MS = 10 * 60_000;

export class KubeEventRecorder implements EventRecorder {
  /** Events dropped by the rate limit. */
  dropped = 0;
  private readonly seen = new BoundedMap<string, Seen>({ max: MAX_ENTRIES });
  private readonly buckets = new BoundedMap<string, Bucket>({ max: MAX_ENTRIES });
  private readonly client: KubeClient;
  private readonly controller: string;
  private readonly instance: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly burst: number;
  private readonly refillMs: number;
  private pending: Promise<void> = Promise.resolve();
  private readonly epoch: () => number;

  constructor(options: {
    client: KubeClient;
    controller: string;
    instance: string;
    /** The current fencing epoch, stamped on every Event so a deposed leader's are refused. */
    epoch?: () => number;
    clock?: Clock;
    log?: Logger;
    burst?: number;
    refillMs?: number;
  }) {
    this.epoch = options.epoch ?? (() => 0);
    this.client = options.client;
    this.controller = options.controller;
    this.instance = options.instance;
    this.clock = options.clock ?? SystemClock;
    this.log = options.log ?? silentLogger;
    this.burst = options.burst ?? 25;
    this.refillMs = options.refillMs ?? 5 * 60_000;
  }

  /** The dedupe cache and the per-object rate-limit buckets, as bounded memories (for metrics). */
  get memories(): { readonly dedupe: TrackedMemory; readonly rateLimit: TrackedMemory } {
    return { dedupe: this.seen, rateLimit: this.buckets };
  }

  event(regarding: KubeObject, type: EventType, reason: string, note: string, action = reason): void {
    const uid = regarding.metadata.uid ?? `${regarding.metadata.namespace ?? ''}/${regarding.metadata.name ?? ''}`;
    if (!this.take(uid)) {
      this.dropped++;
      return;
    }
    const work = this.write(regarding, { type, reason, note: note.slice(0, 1024), action, uid }).catch((error: unknown) => {
      this.log.debug({ event: 'event_record_failed', reason, err: error instanceof Error ? error.message : String(error) }, 'could not record event');
    });
    this.pending = this.pending.then(() => work);
  }

  /** Resolves when every event recorded so far has been written (or failed). */
  async flush(): Promise<void> {
    await this.pending;
  }

  private take(uid: string): boolean {
    const now = this.clock.monotonic();
    const bucket = this.buckets.get(uid) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    this.buckets.set(uid, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private async write(regarding: KubeObject, e: { type: EventType; reason: string; note: string; action: string; uid: string }): Promise<void> {
    const namespace = regarding.metadata.namespace ?? 'default';
    const key = `${e.uid}|${e.type}|${e.reason}|${e.note}`;
    const now = this.clock.monotonic();
    const wallNow = microTime(this.clock.now());
    const previous = this.seen.get(key);
    if (previous && now - previous.firstAt < DEDUPE_WINDOW_MS) {
      previous.count++;
      await this.client.patch(
        Resources.EventsV1,
        { name: previous.name, namespace: previous.namespace },
        { metadata: { annotations: { [EpochAnnotation]: String(this.epoch()) } }, series: { count: previous.count, lastObservedTime: wallNow } },
        { type: 'merge' },
      );
      return;
    }
    const name = `${regarding.metadata.name ?? 'object'}.${randomBytes(8).toString('hex')}`;
    await this.client.create(Resources.EventsV1, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace, annotations: { [EpochAnnotation]: String(this.epoch()) } },
      eventTime: wallNow,
      reportingController: this.controller,
      reportingInstance: this.instance.slice(0, 128),
      action: e.action,
      reason: e.reason,
      note: e.note,
      type: e.type,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata.name,
        namespace: regarding.metadata.namespace,
        uid: regarding.metadata.uid,
        resourceVersion: regarding.metadata.resourceVersion,
      },
    });
    this.seen.set(key, { name, namespace, count: 1, firstAt: now });
  }
}

/** A recorder that keeps events in memory (unit tests of controllers' pure parts). */
export class MemoryEventRecorder implements EventRecorder {
  readonly events: { regarding: string; type: EventType; reason: string; note: string }[] = [];
  event(regarding: KubeObject, type: EventType, reason: string, note: string): void {
    if (this.events.length >= 1000) this.events.shift();
    this.events.push({ regarding: `${regarding.kind}/${regarding.metadata.name ?? ''}`, type, reason, note });
  }
}
