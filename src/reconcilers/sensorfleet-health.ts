/**
 * Fleet health from heartbeats, pure: classifies each node's heartbeat Lease as
 * reporting, stale or erroring against the controller's clock, finds the Leases of
 * nodes that left, sums the backlog and finds the newest sample.
 *
 * Rules (notes/sensorfleet-contract.md):
 * - reporting: `renewTime` within `staleAfterSeconds` of now and health not `error`
 *   (nor `stale`);
 * - stale: the Lease exists but `renewTime` is older than that (or missing), or the
 *   agent itself says `stale`;
 * - erroring: fresh, health `error` (neither reporting nor stale; it degrades the fleet);
 * - a Lease whose node has no Node object is removed at once; a Lease whose node no
 *   longer matches the node selector is removed once it, too, is older than
 *   `staleAfterSeconds` (its agent pod is gone by then). Until then it is "leaving" and
 *   not counted. Using the Lease's own age as the grace period keeps this memoryless.
 *
 * Only nodes matching the selector count. When two Leases name the same node, the one
 * renewed last wins.
 *
 * Limitations: health compares wall clocks of the agents and the controller, so clock
 * skew between them larger than `staleAfterSeconds` misclassifies nodes.
 */
import { FleetLabel, HeartbeatAnnotations, NodeLabel } from './sensorfleet-agent.ts';

/** A node as the decider needs it. */
export interface ObservedNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The parts of a heartbeat Lease the decider reads. */
export interface HeartbeatLease {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly holderIdentity?: string | undefined;
  /** `spec.renewTime` (MicroTime, RFC 3339). */
  readonly renewTime?: string | undefined;
}

/** Why a heartbeat Lease is removed. */
export type RemovalReason = 'NodeGone' | 'NodeNotSelected';

export interface FleetHealth {
  /** Nodes matching the selector, sorted. */
  readonly selected: readonly string[];
  readonly reporting: readonly string[];
  readonly stale: readonly string[];
  readonly erroring: readonly { readonly node: string; readonly message: string }[];
  /** Selected nodes without any heartbeat Lease. */
  readonly silent: readonly string[];
  /** Leases of nodes that no longer match, inside their grace period. */
  readonly leaving: readonly string[];
  readonly remove: readonly { readonly lease: string; readonly node: string; readonly reason: RemovalReason }[];
  /** Backlog of the reporting nodes. */
  readonly backlogRecords: number;
  /** Newest `last-sample-time` of any Lease (ms since the epoch). */
  readonly lastSampleMs: number | undefined;
  /** Earliest wall time (ms) at which a Lease changes state without a new event. */
  readonly nextChangeMs: number | undefined;
}

/** Whether `node`'s labels satisfy a nodeSelector (every entry equal; empty selects all). */
export function matchesSelector(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** The node a Lease is about: the `node-name` annotation, else the holder, else the label. */
export function heartbeatNode(lease: HeartbeatLease): string {
  return lease.annotations?.[HeartbeatAnnotations.nodeName] || lease.holderIdentity || lease.labels?.[NodeLabel] || '';
}

/** Whether a Lease is a heartbeat of `fleet`. */
export function isHeartbeatOf(lease: HeartbeatLease, fleet: string): boolean {
  return lease.labels?.[FleetLabel] === fleet;
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function parseCount(value: string | undefined): number {
  return value !== undefined && /^[0-9]{1,15}$/.test(value) ? Number(value) : 0;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Classifies the heartbeats of one fleet. `now` is wall ms. */
export function fleetHealth(input: {
  readonly heartbeats: readonly HeartbeatLease[];
  readonly nodes: readonly ObservedNode[];
  readonly nodeSelector: Readonly<Record<string, string>> | undefined;
  readonly staleAfterSeconds: number;
  readonly now: number;
}): FleetHealth {
  const staleMs = input.staleAfterSeconds * 1000;
  const nodes = new Map(input.nodes.map((n) => [n.name, n]));
  const selected = input.nodes.filter((n) => matchesSelector(n.labels, input.nodeSelector)).map((n) => n.name).sort(byName);
  const selectedSet = new Set(selected);
  // Newest Lease per node.
  const newest = new Map<string, { lease: HeartbeatLease; renewMs: number | undefined }>();
  let lastSampleMs: number | undefined;
  for (const lease of input.heartbeats) {
    const node = heartbeatNode(lease);
    const renewMs = parseTime(lease.renewTime);
    const sample = parseTime(lease.annotations?.[HeartbeatAnnotations.lastSampleTime]);
    if (sample !== undefined && (lastSampleMs === undefined || sample > lastSampleMs)) lastSampleMs = sample;
    const seen = newest.get(node);
    if (!seen || (renewMs ?? -Infinity) > (seen.renewMs ?? -Infinity)) newest.set(node, { lease, renewMs });
  }
  const reporting: string[] = [];
  const stale: string[] = [];
  const erroring: { node: string; message: string }[] = [];
  const leaving: string[] = [];
  const remove: { lease: string; node: string; reason: RemovalReason }[] = [];
  let backlogRecords = 0;
  let nextChangeMs: number | undefined;
  const later = (at: number) => {
    if (at > input.now && (nextChangeMs === undefined || at < nextChangeMs)) nextChangeMs = at;
  };
  for (const lease of input.heartbeats) {
    const node = heartbeatNode(lease);
    if (!nodes.has(node)) remove.push({ lease: lease.name, node, reason: 'NodeGone' });
  }
  for (const [node, { lease, renewMs }] of newest) {
    if (!nodes.has(node)) continue;
    const fresh = renewMs !== undefined && input.now - renewMs <= staleMs;
    if (!selectedSet.has(node)) {
      if (fresh) {
        leaving.push(node);
        later(renewMs + staleMs + 1);
      } else {
        remove.push({ lease: lease.name, node, reason: 'NodeNotSelected' });
      }
      continue;
    }
    const health = lease.annotations?.[HeartbeatAnnotations.health];
    if (fresh) later(renewMs + staleMs + 1);
    if (!fresh || health === 'stale') stale.push(node);
    else if (health === 'error') erroring.push({ node, message: lease.annotations?.[HeartbeatAnnotations.healthMessage] ?? 'no message' });
    else {
      reporting.push(node);
      backlogRecords += parseCount(lease.annotations?.[HeartbeatAnnotations.backlogRecords]);
    }
  }
  const withLease = new Set(newest.keys());
  return {
    selected,
    reporting: reporting.sort(byName),
    stale: stale.sort(byName),
    erroring: erroring.sort((a, b) => byName(a.node, b.node)),
    silent: selected.filter((n) => !withLease.has(n)),
    leaving: leaving.sort(byName),
    remove: remove.sort((a, b) => byName(a.lease, b.lease)),
    backlogRecords,
    lastSampleMs,
    nextChangeMs,
  };
}
