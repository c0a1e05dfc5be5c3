/**
 * Kubernetes-style conditions, pure: set one, keep `lastTransitionTime` unless the
 * status flips, stamp `observedGeneration`, and compare whole condition lists so a
 * status that did not really change is never written (no self-triggered loops).
 */

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A condition as a decider states it: no timestamps, no generation. */
export interface ConditionInput {
  readonly type: string;
  readonly status: ConditionStatus;
  /** PascalCase reason a person can act on (`InvalidSpec`, `EtcdUnavailable`, ...). */
  readonly reason: string;
  readonly message: string;
}

/**
 * Returns `existing` with `input` set: the transition time moves to `now` only when the
 * status value changes (or the condition is new); reason, message and generation
 * always follow the input. Conditions keep their order; new ones are appended.
 */
export function setCondition(
  existing: readonly Condition[] | undefined,
  input: ConditionInput,
  at: { readonly now: string; readonly generation?: number | undefined },
): Condition[] {
  const list = [...(existing ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : at.now,
    ...(at.generation === undefined ? {} : { observedGeneration: at.generation }),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** Sets several conditions at once (see {@link setCondition}). */
export function setConditions(
  existing: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  at: { readonly now: string; readonly generation?: number | undefined },
): Condition[] {
  return inputs.reduce<Condition[]>((list, input) => setCondition(list, input, at), [...(existing ?? [])]);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Deep equality for JSON values (objects compared key by key regardless of order).
 * Used to skip status writes that change nothing.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}
