/**
 * Every write a controller makes, fenced and explicit about content types.
 *
 * A `FencedWriter` belongs to one leadership term: it stamps that term's epoch on each
 * write (annotation `manyfold.dev/epoch` on objects, `status.epoch` on status) so the
 * fencing policy can reject it once a newer leader has published its epoch. A rejected
 * write throws {@link FencedError} and calls `onFenced`, which ends the term.
 *
 * - `apply`: server-side apply of a child with the operator's single field manager
 *   (`force`, as controllers do), so the operator owns exactly the fields it sets and a
 *   human's `kubectl scale` on fields it does not set is left alone;
 * - `applyStatus`: server-side apply to the `/status` subresource, skipped when the
 *   status would not change (so a status write never triggers another reconcile);
 *   `statusOf` reads this writer's own status writes back while the cache has not
 *   delivered them yet (a child's event often wakes the next reconcile before the
 *   informer has delivered the status write; without this, that reconcile would compute
 *   from the older status and write the same status again, and a FencedLease revoke
 *   nonce recorded in status could act twice). This is the operator's one status memory;
 * - `patchMetadata`: finalizers and annotations of a primary object, with a
 *   resourceVersion precondition;
 * - `delete`: stamp the epoch, then delete with uid and resourceVersion preconditions,
 *   so a delete is fenced too.
 */
import { BoundedMap } from '../legos/bounded-map.ts';
import { SystemClock, type Clock } from '../legos/clock.ts';
import { jsonEqual } from '../legos/conditions.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject, OwnerReference } from '../kube/types.ts';
import { EpochAnnotation, FencedError, isFencingRejection, stampEpoch } from './leader/fence.ts';
import type { TrackedMemory } from './metrics.ts';

export const FieldManager = 'manyfold-operator';

/** Status writes remembered for read-your-writes (oldest forgotten first; forgetting costs at most a repeated write). */
const MAX_REMEMBERED_STATUSES = 1024;
/**
 * How long a status write is trusted over a cached version that is neither the one it
 * was written over nor the one it produced (someone else's change in between, or after),
 * ms: longer than any cache lag, short enough that a status someone else wrote wins soon.
 */
const TRUST_OWN_WRITE_MS = 30_000;

/** A status this writer wrote: over which cached version, which version it produced, when. */
interface WrittenStatus {
  readonly over: string;
  readonly wrote: string | undefined;
  readonly atMs: number;
  readonly status: Record<string, unknown>;
}

export class FencedWriter {
  readonly epoch: number;
  readonly client: KubeClient;
  private readonly onFenced: (error: FencedError) => void;
  /** Writes made through this writer (for metrics and tests). */
  writes = 0;
  /** By uid: the status last written, and the resourceVersion the object had in the cache then. */
  private readonly written = new BoundedMap<string, WrittenStatus>({ max: MAX_REMEMBERED_STATUSES });
  private readonly clock: Pick<Clock, 'monotonic'>;

  constructor(options: { client: KubeClient; epoch: number; onFenced?: (error: FencedError) => void; /** @default SystemClock */ clock?: Pick<Clock, 'monotonic'> }) {
    this.client = options.client;
    this.clock = options.clock ?? SystemClock;
    this.epoch = options.epoch;
    this.onFenced = options.onFenced ?? (() => undefined);
  }

  /** The status memory (read-your-writes), as a bounded memory (for metrics). */
  get memory(): TrackedMemory {
    return this.written;
  }

  private async fenced<T>(work: () => Promise<T>): Promise<T> {
    try {
      this.writes++;
      return await work();
    } catch (error) {
      if (isFencingRejection(error)) {
        const fenced = new FencedError(this.epoch, `write fenced off: ${(error as Error).message}`, error);
        this.onFenced(fenced);
        throw fenced;
      }
      throw error;
    }
  }

  /** Server-side applies `object` (stamped with the epoch); returns what the server stored. */
  async apply<T extends KubeObject = KubeObject>(object: KubeObject, options: { signal?: AbortSignal; dryRun?: boolean } = {}): Promise<T> {
    return this.fenced(() => this.client.apply<T>(stampEpoch(object, this.epoch), { fieldManager: FieldManager, force: true, ...options }));
  }

  /**
   * The freshest status known for a cached `object`: the one this writer last wrote, as
   * long as the cache has not delivered it: it shows the version the write was made over,
   * or (for up to 30 s) another version whose status is not the one written, such as a
   * metadata change that landed between the read and the write. Otherwise the object's
   * own: the cache shows the version the write produced, or the written status, or
   * someone else's status after the trust period.
   */
  statusOf<S>(object: KubeObject & { status?: S }): S | undefined {
    const uid = object.metadata.uid;
    const known = uid === undefined ? undefined : this.written.get(uid);
    if (known === undefined || uid === undefined) return object.status;
    const version = object.metadata.resourceVersion;
    if (version === known.over) return known.status as S;
    const delivered = version === known.wrote || jsonEqual(object.status ?? {}, known.status);
    if (!delivered && this.clock.monotonic() - known.atMs < TRUST_OWN_WRITE_MS) return known.status as S;
    this.written.delete(uid);
    return object.status;
  }

  /**
   * Applies `status` to `object`'s status subresource unless it equals the freshest known
   * one (see {@link statusOf}; `epoch` ignored). Returns whether it wrote.
   */
  async applyStatus(object: KubeObject & { status?: unknown }, status: Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const current = (this.statusOf(object) ?? {}) as Record<string, unknown>;
    const { epoch: _ignored, ...currentWithoutEpoch } = current;
    if (jsonEqual(currentWithoutEpoch, status)) return false;
    const written = { ...status, epoch: String(this.epoch) };
    const stored = await this.fenced(() =>
      this.client.apply(
        {
          apiVersion: object.apiVersion,
          kind: object.kind,
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
          status: written,
        } as KubeObject,
        { fieldManager: FieldManager, force: true, subresource: 'status', ...options },
      ),
    );
    const { uid, resourceVersion } = object.metadata;
    if (uid !== undefined && resourceVersion !== undefined) {
      this.written.set(uid, { over: resourceVersion, wrote: (stored as KubeObject | undefined)?.metadata.resourceVersion, atMs: this.clock.monotonic(), status: written });
    }
    return true;
  }

  /**
   * Merge-patches `metadata` of an object (finalizers, annotations, labels), stamped
   * with the epoch, failing with a Conflict if the object changed since it was read.
   */
  async patchMetadata<T extends KubeObject = KubeObject>(
    type: ResourceType,
    object: KubeObject,
    metadata: { finalizers?: string[]; annotations?: Record<string, string | null>; labels?: Record<string, string | null> },
  ): Promise<T> {
    const patch = {
      metadata: {
        ...metadata,
        annotations: { ...(metadata.annotations ?? {}), [EpochAnnotation]: String(this.epoch) },
        resourceVersion: object.metadata.resourceVersion,
      },
    };
    return this.fenced(() =>
      this.client.patch<T>(type, { name: object.metadata.name ?? '', namespace: object.metadata.namespace }, patch, { type: 'merge' }),
    );
  }

  /** Adds `finalizer` when missing; returns the (possibly) updated object. */
  async ensureFinalizer<T extends KubeObject>(type: ResourceType, object: T, finalizer: string): Promise<T> {
    const finalizers = object.metadata.finalizers ?? [];
    if (finalizers.includes(finalizer)) return object;
    return this.patchMetadata<T>(type, object, { finalizers: [...finalizers, finalizer] });
  }

  /** Removes `finalizer` when present. */
  async removeFinalizer<T extends KubeObject>(type: ResourceType, object: T, finalizer: string): Promise<void> {
    const finalizers = object.metadata.finalizers ?? [];
    if (!finalizers.includes(finalizer)) return;
    try {
      await this.patchMetadata(type, object, { finalizers: finalizers.filter((f) => f !== finalizer) });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Fenced delete: stamp the epoch, then delete that exact version. NotFound is success. */
  async delete(type: ResourceType, object: KubeObject): Promise<void> {
    const ref = { name: object.metadata.name ?? '', namespace: object.metadata.namespace };
    try {
      const stamped = await this.fenced(() =>
        this.client.patch(type, ref, { metadata: { annotations: { [EpochAnnotation]: String(this.epoch) }, uid: object.metadata.uid } }, { type: 'merge' }),
      );
      await this.fenced(() =>
        this.client.delete(type, ref, {
          propagationPolicy: 'Background',
          preconditions: { ...(stamped.metadata.uid ? { uid: stamped.metadata.uid } : {}), ...(stamped.metadata.resourceVersion ? { resourceVersion: stamped.metadata.resourceVersion } : {}) },
        }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/** An owner reference to `owner` that makes it the controller (garbage collection follows it). */
export function controllerRef(owner: KubeObject): OwnerReference {
  if (!owner.metadata.uid || !owner.metadata.name) throw new Error(`${owner.kind} has no uid or name yet`);
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}
