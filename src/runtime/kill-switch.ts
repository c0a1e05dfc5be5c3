/**
 * The kill switch, as the runtime wires it: where its three scopes are read from
 * (the object, its Namespace, the operator's own config) and the watches that wake a
 * controller's objects when a Namespace's or the config's annotations change. The rule
 * itself (which annotation, which scope wins) is pure: reconcilers/kill-switch.ts.
 *
 * {@link killSwitchTriggers} are the same flips as urgent triggers, for a controller
 * that acts on them ahead of its queue (the FeatureFlag publish).
 *
 * Limitations: the operator's config is watched through its own informer (one object,
 * field-selected), so a controller that uses the kill switch adds two informers to the
 * manager (Namespaces, that ConfigMap) unless another controller already did.
 */
import { killSwitchState, type KillSwitchState } from '../reconcilers/kill-switch.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Cache, Watch } from './controller.ts';
import { namespacesScope, type UrgentScope, type UrgentTrigger } from './urgent.ts';

/**
 * The operator's own config: ConfigMap `manyfold-config` in the operator's namespace.
 * The annotation `manyfold.dev/kill-switch: "true"` on it halts every controller.
 */
export const OperatorConfigMap = 'manyfold-config';

/** Selector of the informer that watches the operator's config. */
export function operatorConfigSelector(operatorNamespace: string) {
  return { namespace: operatorNamespace, fieldSelector: `metadata.name=${OperatorConfigMap}` };
}

/** `namespace/name` of a cached object (`name` alone for cluster-scoped ones). */
export function keyOfObject(object: { metadata: { namespace?: string | undefined; name?: string | undefined } }): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
}

/**
 * Watches that requeue every object of `type` in a Namespace whose annotations change,
 * and every object of `type` when the operator's config changes.
 */
export function killSwitchWatches(type: ResourceType, operatorNamespace: string): Watch[] {
  return [
    { type: Resources.Namespace, map: (ns, cache) => cache.list(type, { namespace: ns.metadata.name ?? '' }).map(keyOfObject) },
    { type: Resources.ConfigMap, selector: operatorConfigSelector(operatorNamespace), map: (_config, cache) => cache.list(type).map(keyOfObject) },
  ];
}

/** Whether the kill switch holds `object`: on the object, on its Namespace, or globally (narrowest first). */
export function killSwitchOf(cache: Cache, operatorNamespace: string, object: KubeObject): KillSwitchState {
  const namespace = object.metadata.namespace ?? '';
  const ns = cache.get(Resources.Namespace, namespace);
  const global = cache.get(Resources.ConfigMap, `${operatorNamespace}/${OperatorConfigMap}`, operatorConfigSelector(operatorNamespace));
  return killSwitchState({
    object: object.metadata.annotations,
    namespace: ns ? { name: namespace, annotations: ns.metadata.annotations } : undefined,
    global: global?.metadata.annotations,
  });
}

function engaged(object: KubeObject | undefined): boolean {
  return killSwitchState({ object: object?.metadata.annotations, namespace: undefined, global: undefined }).engaged;
}

/**
 * Urgent triggers (runtime/urgent.ts) for kill-switch flips, engaged or released: on the
 * operator's config (every namespace), on a Namespace (that namespace), and on an
 * object of one of `types` (its namespace). Adds and deletes count as flips from and to
 * released.
 */
export function killSwitchTriggers(operatorNamespace: string, types: readonly ResourceType[]): UrgentTrigger[] {
  const flip = (scope: (o: KubeObject) => UrgentScope) => (old: KubeObject | undefined, next: KubeObject | undefined) => {
    const object = next ?? old;
    return object !== undefined && engaged(old) !== engaged(next) ? scope(object) : undefined;
  };
  return [
    { type: Resources.ConfigMap, selector: operatorConfigSelector(operatorNamespace), affects: flip(() => ({ all: true })) },
    { type: Resources.Namespace, affects: flip((ns) => namespacesScope(ns.metadata.name ?? '')) },
    ...types.map((type) => ({ type, affects: flip((o: KubeObject) => namespacesScope(o.metadata.namespace ?? '')) })),
  ];
}
