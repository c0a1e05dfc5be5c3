/**
 * The kill switch, pure: the annotation `manyfold.dev/kill-switch: "true"` on a
 * resource, on its Namespace, or on the operator's own config (ConfigMap
 * `manyfold-config` in the operator's namespace, for everything) halts that scope.
 * It lives in metadata, so it works while Argo CD owns the spec.
 */

export const KillSwitchAnnotation = 'manyfold.dev/kill-switch';

export interface KillSwitchState {
  readonly engaged: boolean;
  /** Where it is engaged: `resource`, `namespace <name>` or `global`. */
  readonly scope?: string;
}

function on(annotations: Readonly<Record<string, string>> | undefined): boolean {
  return (annotations?.[KillSwitchAnnotation] ?? '').trim().toLowerCase() === 'true';
}

/** Whether the kill switch holds `object`, and from which scope (narrowest first). */
export function killSwitchState(input: {
  readonly object: Readonly<Record<string, string>> | undefined;
  readonly namespace: { readonly name: string; readonly annotations: Readonly<Record<string, string>> | undefined } | undefined;
  readonly global: Readonly<Record<string, string>> | undefined;
}): KillSwitchState {
  if (on(input.object)) return { engaged: true, scope: 'resource' };
  if (input.namespace && on(input.namespace.annotations)) return { engaged: true, scope: `namespace ${input.namespace.name}` };
  if (on(input.global)) return { engaged: true, scope: 'global' };
  return { engaged: false };
}
