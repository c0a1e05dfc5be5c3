/**
 * The informer's cache: objects by `namespace/name` key, frozen, with indexes.
 *
 * One writer (the informer), many readers (reconcilers). Objects handed out are
 * deep-frozen, so a reconciler that wants to change one must copy it first
 * (`structuredClone`); accidental mutation throws in strict mode instead of silently
 * corrupting the cache.
 *
 * `replace(list)` (a relist) diffs against what is cached and reports only real
 * changes: an object whose `resourceVersion` did not change is not an update.
 */
import type { KubeObject } from '../../kube/types.ts';

/** Maps an object to the index values it is filed under (may be empty). */
export type IndexFunc<T extends KubeObject> = (object: T) => readonly string[];

export type Delta<T extends KubeObject> =
  | { readonly type: 'add'; readonly object: T }
  | { readonly type: 'update'; readonly old: T; readonly object: T }
  | { readonly type: 'delete'; readonly object: T };

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function keyOf(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

/** Splits a key made by {@link keyOf}. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * Freezes `value` and everything under it (an already frozen object is taken as frozen
 * throughout). Allocates nothing itself: no `Object.values` array per object, which for
 * a list of 10,000 Deployments was ~20 MiB of garbage in one synchronous burst.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
    } else {
      const record = value as Record<string, unknown>;
      for (const key in record) if (Object.hasOwn(record, key)) deepFreeze(record[key]);
    }
  }
  return value;
}

/** Built-in indexes every store keeps. */
export const byNamespace: IndexFunc<KubeObject> = (o) => (o.metadata.namespace ? [o.metadata.namespace] : []);
export const byOwnerUid: IndexFunc<KubeObject> = (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid);
export const byLabel: IndexFunc<KubeObject> = (o) => Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);

/** The `label` index over only these label keys (`key=value` entries for them alone). */
export function byLabelKeys(keys: readonly string[]): IndexFunc<KubeObject> {
  return (o) => {
    const labels = o.metadata.labels ?? {};
    return keys.filter((k) => labels[k] !== undefined).map((k) => `${k}=${labels[k] ?? ''}`);
  };
}

/**
 * The label keys a selector requires to exist (`key`, `key=v`, `key==v`, `key in (..)`
 * terms), or undefined when it has none or a term this does not read: the keys worth
 * indexing, since a reader narrowing an informer by label narrows by its selector's key.
 */
export function selectedLabelKeys(selector: string | undefined): string[] | undefined {
  if (selector === undefined || selector.trim() === '') return undefined;
  const keys: string[] = [];
  // Split on commas outside parentheses (set-based terms list values with commas).
  for (const term of selector.split(/,(?![^(]*\))/).map((t) => t.trim())) {
    const match = /^([A-Za-z0-9][-A-Za-z0-9_./]*)\s*(?:(?:==?|\s+in\s+\().*)?$/.exec(term);
    if (!match?.[1] || /!=|\snotin\s/.test(term)) return undefined;
    keys.push(match[1]);
  }
  return keys;
}

export class Store<T extends KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly indexers: ReadonlyMap<string, IndexFunc<T>>;
  private readonly indexes = new Map<string, Map<string, Set<string>>>();

  /**
   * `indexers`: extra indexes by name. `labelKeys`: index only these label keys in the
   * `label` index (every label of every object otherwise: with 10,000 Deployments of six
   * labels each, 60,000 index entries, most of them never read).
   */
  constructor(indexers: Readonly<Record<string, IndexFunc<T>>> = {}, options: { labelKeys?: readonly string[] | undefined } = {}) {
    this.indexers = new Map<string, IndexFunc<T>>([
      ['namespace', byNamespace],
      ['owner', byOwnerUid],
      ['label', options.labelKeys ? byLabelKeys(options.labelKeys) : byLabel],
      ...Object.entries(indexers),
    ]);
    for (const name of this.indexers.keys()) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  /** Objects filed under `value` in index `index` (`namespace`, `owner`, `label` or a custom one). */
  byIndex(index: string, value: string): T[] {
    const idx = this.indexes.get(index);
    if (!idx) throw new Error(`no index named '${index}' (have: ${[...this.indexers.keys()].join(', ')})`);
    const out: T[] = [];
    for (const key of idx.get(value) ?? []) {
      const item = this.items.get(key);
      if (item) out.push(item);
    }
    return out;
  }

  /** Adds or replaces one object; returns the delta (undefined when nothing changed). */
  upsert(object: T): Delta<T> | undefined {
    const frozen = deepFreeze(object);
    const key = keyOf(frozen);
    const old = this.items.get(key);
    if (old && old.metadata.resourceVersion === frozen.metadata.resourceVersion) return undefined;
    if (old) this.unindex(key, old);
    this.items.set(key, frozen);
    this.index(key, frozen);
    return old ? { type: 'update', old, object: frozen } : { type: 'add', object: frozen };
  }

  /** Removes one object; returns the delta (undefined when it was not cached). */
  remove(object: KubeObject): Delta<T> | undefined {
    const key = keyOf(object);
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return { type: 'delete', object: old };
  }

  /** Replaces the whole content with a fresh list; returns the deltas (adds, real updates, deletes). */
  replace(objects: readonly T[]): Delta<T>[] {
    const deltas: Delta<T>[] = [];
    const seen = new Set<string>();
    for (const object of objects) {
      seen.add(keyOf(object));
      const delta = this.upsert(object);
      if (delta) deltas.push(delta);
    }
    for (const [key, old] of [...this.items]) {
      if (!seen.has(key)) {
        const delta = this.remove(old);
        if (delta) deltas.push(delta);
      }
    }
    return deltas;
  }

  private index(key: string, object: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indexes.get(name) as Map<string, Set<string>>;
      for (const value of fn(object)) {
        let set = idx.get(value);
        if (!set) idx.set(value, (set = new Set()));
        set.add(key);
      }
    }
  }

  private unindex(key: string, object: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indexes.get(name) as Map<string, Set<string>>;
      for (const value of fn(object)) {
        const set = idx.get(value);
        if (!set) continue;
        set.delete(key);
        if (set.size === 0) idx.delete(value);
      }
    }
  }
}
