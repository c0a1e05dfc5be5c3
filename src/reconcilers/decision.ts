/**
 * The one contract of every pure decider in this folder, and the types they share.
 *
 * A decider is a function `reconcileX(observation, now) → XDecision` where the
 * decision extends {@link Decision}: the children to server-side apply, the objects to
 * delete, the status to write, the events to record once the writes succeeded, when
 * to look again, and one line saying why. It does no I/O, reads no clock (`now` is wall
 * ms, passed in) and draws no random numbers, so the same observation always gives the
 * same decision; the I/O shell (`XController`, src/controllers) gathers the
 * observation, carries the decision out, and feeds the outcome of the applies back in
 * as part of the next observation (see {@link ApplyOutcome}).
 *
 * Kind-specific parts (a revoke to make, a finalizer to remove) ride along as extra
 * fields of the decision; they never replace the common ones.
 *
 * Limitations: a decider cannot ask for a read; everything it needs must be in the
 * observation, so the shell reads a little more than a decision may use.
 */
import type { ConditionInput } from '../legos/conditions.ts';
import type { KillSwitchState } from './kill-switch.ts';

/** A Kubernetes event to record (after the writes it reports on succeeded). */
export interface PlannedEvent {
  readonly type: 'Normal' | 'Warning';
  /** PascalCase, e.g. `PhaseReady`. */
  readonly reason: string;
  /** One human-readable line (the API server keeps at most 1 kB). */
  readonly note: string;
}

/** The body of a child object to server-side apply. */
export type ChildObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> };

/** A child object to server-side apply, with the key its apply outcome is reported under. */
export interface DesiredChild<Kind extends string = string> {
  /** `Kind/name`, unique among one object's children (see {@link childKey}). */
  readonly key: string;
  readonly kind: Kind;
  /** Object name in the cluster. */
  readonly name: string;
  readonly object: ChildObject;
}

/** `Kind/name`: the key of a child in apply outcomes. */
export const childKey = (kind: string, name: string): string => `${kind}/${name}`;

/** How applying one desired child went (filled in by the shell, fed back to the decider). */
export type ApplyOutcome = { readonly ok: true } | { readonly ok: false; readonly message: string; readonly invalid: boolean };

/** A spec as the decider sees it: parsed at the boundary, or why it is invalid (field named). */
export type SpecResult<Spec> = { readonly ok: true; readonly value: Spec } | { readonly ok: false; readonly message: string };

/** What every observation of a primary object starts with (the shell's `observeObject` fills it). */
export interface ObjectObservation<Spec, Status> {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  /** The parsed spec, or why it is invalid (field named). */
  readonly spec: SpecResult<Spec>;
  /** The freshest known status (the shell's read-your-writes). */
  readonly status: Status | undefined;
  /** Kill switch engaged on the object, its namespace, or globally (with where). */
  readonly killSwitch: KillSwitchState;
}

/** The common shape of every decision. `Delete` is what the shell needs to delete one object. */
export interface Decision<Status, Delete = never> {
  /** Children to server-side apply, in order (empty under the kill switch). */
  readonly apply: readonly DesiredChild[];
  /** Objects to delete (children that left the template, heartbeats of departed nodes). */
  readonly delete: readonly Delete[];
  /** The whole status to apply (the writer skips it when unchanged); undefined leaves it alone. */
  readonly status: Status | undefined;
  /** Events to record after the writes succeeded. */
  readonly events: readonly PlannedEvent[];
  /** Look again after this many ms (undefined: only when something changes). */
  readonly requeueAfterMs: number | undefined;
  /** Why, in one line (for logs). */
  readonly reason: string;
}

/**
 * The conditions of a spec that cannot be acted on: `Ready=False`, `Progressing=False`
 * and `Degraded=True`, reason `InvalidSpec`, with the parser's message (field named).
 *
 * @param progressing what the `Progressing` message says happens meanwhile
 */
export function invalidSpecConditions(message: string, progressing: string): ConditionInput[] {
  return [
    { type: 'Ready', status: 'False', reason: 'InvalidSpec', message },
    { type: 'Progressing', status: 'False', reason: 'InvalidSpec', message: progressing },
    { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message },
  ];
}

/** The event that reports an invalid spec. */
export const invalidSpecEvent = (message: string): PlannedEvent => ({ type: 'Warning', reason: 'InvalidSpec', note: message });
