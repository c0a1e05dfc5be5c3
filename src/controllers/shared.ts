/**
 * Pieces several controllers share: the operator's own config object and the watches
 * that wake a controller when a kill switch on a Namespace or on that config flips.
 */
import type { Watch } from '../runtime/controller.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';

/**
 * The operator's own config: ConfigMap `manyfold-config` in the operator's namespace.
 * The annotation `manyfold.dev/kill-switch: "true"` on it halts every controller.
 */
export const OperatorConfigMap = 'manyfold-config';

/** Selector of the informer that watches the operator's config. */
export function operatorConfigSelector(operatorNamespace: string) {
  return { namespace: operatorNamespace, fieldSelector: `metadata.name=${OperatorConfigMap}` };
}

/**
 * Watches that requeue every object of `type` in a Namespace whose annotations change,
 * and every object of `type` when the operator's config changes.
 */
export function killSwitchWatches(type: ResourceType, operatorNamespace: string): Watch[] {
  const keysIn = (objects: readonly { metadata: { namespace?: string; name?: string } }[]) =>
    objects.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`);
  return [
    { type: Resources.Namespace, map: (ns, cache) => keysIn(cache.list(type, { namespace: ns.metadata.name ?? '' })) },
    { type: Resources.ConfigMap, selector: operatorConfigSelector(operatorNamespace), map: (_config, cache) => keysIn(cache.list(type)) },
  ];
}
