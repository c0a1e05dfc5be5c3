/**
 * Projections: what an informer keeps of each object before caching it, when its
 * readers need less than the whole object (client-go's `SetTransform`).
 *
 * An operator caching 10,000 Deployments keeps 10,000 pod templates it never reads: a
 * realistic Deployment is 7-10 KB of JSON as stored (the template, and the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation repeating it), several
 * times that as JS objects in the V8 heap. {@link Summary} keeps what readiness and
 * ownership read and nothing else; bench/reconcile.ts `--rss-objects deployments`
 * measures the difference.
 *
 * Guarantees: a projection is pure and named; the manager's caches key informers by
 * projection name too (runtime/caches.ts), so readers asking for a projection get
 * that informer and readers not asking for one get whole objects. The projected object
 * is a new object: the input is not changed.
 *
 * Limitations: readers of a projected cache must not read what it drops (a field read
 * from a projection is simply absent, not an error); a relist's diff still compares
 * resourceVersions, so a change in a dropped field is an update with no visible change.
 */
import type { KubeObject } from '../../kube/types.ts';
import type { StringTable } from './strings.ts';

/** A named, pure reduction of an object before it is cached. */
export interface Projection {
  /** Part of the informer's cache key (`summary`). */
  readonly name: string;
  /** The kept part of `object`; `strings` (the informer's) shares repeated values. */
  project<T extends KubeObject>(object: T, strings?: StringTable): T;
}

/** Annotations no reader needs and that can be as large as the object itself. */
const BulkyAnnotations = ['kubectl.kubernetes.io/last-applied-configuration'];

function isScalar(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * `metadata` without `managedFields` and without {@link BulkyAnnotations}; with
 * `strings`, the namespace, timestamp, label and annotation values and owner references
 * share repeated strings.
 */
function leanMetadata(metadata: KubeObject['metadata'], strings: StringTable | undefined): KubeObject['metadata'] {
  const { managedFields: _dropped, ...rest } = metadata;
  const annotations = metadata.annotations;
  let out: KubeObject['metadata'] = rest;
  if (annotations !== undefined && BulkyAnnotations.some((a) => a in annotations)) {
    const kept: Record<string, string> = {};
    for (const [key, value] of Object.entries(annotations)) if (!BulkyAnnotations.includes(key)) kept[key] = value;
    out = { ...rest, annotations: kept };
  }
  if (strings === undefined) return out;
  const shared: Record<string, unknown> = { ...out };
  for (const field of ['namespace', 'creationTimestamp', 'deletionTimestamp'] as const) {
    const value = out[field];
    if (typeof value === 'string') shared[field] = strings.intern(value);
  }
  if (out.labels !== undefined) shared['labels'] = strings.internValues(out.labels);
  if (out.annotations !== undefined) shared['annotations'] = strings.internValues(out.annotations);
  if (Array.isArray(out.ownerReferences)) shared['ownerReferences'] = out.ownerReferences.map((r) => internScalars(r, strings));
  return shared;
}

/** A copy of `record` with its string fields interned (nested values kept as they are). */
function internScalars<T>(record: T, strings: StringTable): T {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return record;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) out[key] = typeof value === 'string' ? strings.intern(value) : value;
  return out as T;
}

/** `status` with its conditions' strings interned (type, status, reason, message, times). */
function sharedStatus(status: unknown, strings: StringTable | undefined): unknown {
  if (strings === undefined || status === null || typeof status !== 'object') return status;
  const conditions = (status as { conditions?: unknown }).conditions;
  if (!Array.isArray(conditions)) return status;
  return { ...status, conditions: conditions.map((c: unknown) => internScalars(c, strings)) };
}

/**
 * What readiness and ownership read of a child object, nothing more:
 * - `metadata`, without `managedFields` and the last-applied annotation;
 * - `spec`'s scalar fields (`replicas`, `type`, `paused`, `nodeName`, ...) and
 *   `spec.selector`; its nested objects and lists (pod templates, ports, volumes,
 *   volume claim templates, container lists) are dropped;
 * - `status`, whole (conditions, replica counts, observedGeneration);
 * - with a {@link StringTable}, repeated strings shared (strings.ts): the namespace,
 *   timestamps, label and annotation values, owner references, condition fields;
 * - EndpointSlice `endpoints` as their `conditions` only;
 * - no `data`, `binaryData` or `stringData` (ConfigMaps, Secrets).
 * Every other top-level field (`apiVersion`, `kind`, `type`, ...) is kept when scalar.
 */
export const Summary: Projection = {
  name: 'summary',
  project<T extends KubeObject>(object: T, strings?: StringTable): T {
    const out: Record<string, unknown> = { apiVersion: object.apiVersion, kind: object.kind, metadata: leanMetadata(object.metadata, strings) };
    for (const [key, value] of Object.entries(object)) {
      if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
      if (key === 'status') out[key] = sharedStatus(value, strings);
      else if (key === 'spec' && value !== null && typeof value === 'object') {
        const spec: Record<string, unknown> = {};
        for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
          if (isScalar(v) || field === 'selector') spec[field] = v;
        }
        out[key] = spec;
      } else if (key === 'endpoints' && Array.isArray(value)) {
        out[key] = value.map((e: unknown) => ({ conditions: (e as { conditions?: unknown } | null)?.conditions }));
      } else if (isScalar(value)) out[key] = value;
    }
    return out as T;
  },
};
