/**
 * The heartbeat Lease, exactly as the SensorFleet contract specifies it, as pure
 * functions: its name, its node label, and the object to create or to write over the
 * one read from the API server.
 *
 * - name `<fleet>-<node>`; above 253 characters, the first 240, `-`, and 12 hex
 *   characters of the sha256 of the full name;
 * - labels `manyfold.dev/sensorfleet: <fleet>`, `manyfold.dev/node: <node>` (a node name
 *   that is not a valid label value becomes the 12-hex sha256 prefix, and the annotation
 *   `manyfold.dev/node-name` carries the real name);
 * - `spec.holderIdentity: <node>`, `leaseDurationSeconds: <staleAfterSeconds>`,
 *   `renewTime` now (MicroTime), `acquireTime` at creation (kept afterwards);
 * - annotations `manyfold.dev/health`, `health-message` (≤ 256 chars),
 *   `backlog-records`, `backlog-bytes` (decimal), `last-sample-time` (RFC 3339, absent
 *   when no sample was accepted), `agent-version`.
 *
 * Writing over an existing Lease keeps its resourceVersion (optimistic concurrency),
 * acquireTime and any labels or annotations other writers added.
 */
import { createHash } from 'node:crypto';
import { microTime, rfc3339 } from '../legos/clock.ts';
import type { HealthState } from '../legos/sensor/index.ts';
import type { KubeObject } from '../kube/types.ts';
import { MAX_HEALTH_MESSAGE } from './health.ts';

export const LABEL_FLEET = 'manyfold.dev/sensorfleet';
export const LABEL_NODE = 'manyfold.dev/node';
export const ANNOTATION_NODE_NAME = 'manyfold.dev/node-name';
export const ANNOTATION_HEALTH = 'manyfold.dev/health';
export const ANNOTATION_HEALTH_MESSAGE = 'manyfold.dev/health-message';
export const ANNOTATION_BACKLOG_RECORDS = 'manyfold.dev/backlog-records';
export const ANNOTATION_BACKLOG_BYTES = 'manyfold.dev/backlog-bytes';
export const ANNOTATION_LAST_SAMPLE = 'manyfold.dev/last-sample-time';
export const ANNOTATION_VERSION = 'manyfold.dev/agent-version';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function sha256Prefix(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The Lease name of a node in a fleet (see the module header). */
export function heartbeatLeaseName(fleet: string, node: string): string {
  const full = `${fleet}-${node}`;
  return full.length <= 253 ? full : `${full.slice(0, 240)}-${sha256Prefix(full)}`;
}

/** The `manyfold.dev/node` label value, and whether it had to be hashed. */
export function nodeLabelValue(node: string): { readonly value: string; readonly hashed: boolean } {
  return node.length <= 63 && LABEL_VALUE.test(node) ? { value: node, hashed: false } : { value: sha256Prefix(node), hashed: true };
}

/** What one heartbeat reports. */
export interface HeartbeatReport {
  readonly namespace: string;
  readonly fleet: string;
  readonly node: string;
  readonly staleAfterSeconds: number;
  readonly health: HealthState;
  readonly message: string;
  readonly backlogRecords: number;
  readonly backlogBytes: number;
  /** Wall ms of the newest accepted sample, if any. */
  readonly lastSampleTimeMs: number | undefined;
  readonly agentVersion: string;
}

/** A Lease object as the API returns it (the fields the heartbeat touches). */
export interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    [key: string]: unknown;
  };
}

/**
 * The Lease to write at wall time `nowMs`: a new one when `existing` is undefined, else
 * `existing` updated (its resourceVersion kept for the conditional update).
 */
export function desiredLease(existing: LeaseObject | undefined, report: HeartbeatReport, nowMs: number): LeaseObject {
  const nodeLabel = nodeLabelValue(report.node);
  const annotations: Record<string, string> = { ...(existing?.metadata?.annotations ?? {}) };
  annotations[ANNOTATION_HEALTH] = report.health;
  annotations[ANNOTATION_HEALTH_MESSAGE] = report.message.length <= MAX_HEALTH_MESSAGE ? report.message : `${report.message.slice(0, MAX_HEALTH_MESSAGE - 1)}…`;
  annotations[ANNOTATION_BACKLOG_RECORDS] = String(Math.max(0, Math.trunc(report.backlogRecords)));
  annotations[ANNOTATION_BACKLOG_BYTES] = String(Math.max(0, Math.trunc(report.backlogBytes)));
  annotations[ANNOTATION_VERSION] = report.agentVersion;
  if (report.lastSampleTimeMs === undefined) delete annotations[ANNOTATION_LAST_SAMPLE];
  else annotations[ANNOTATION_LAST_SAMPLE] = rfc3339(report.lastSampleTimeMs);
  if (nodeLabel.hashed) annotations[ANNOTATION_NODE_NAME] = report.node;
  else delete annotations[ANNOTATION_NODE_NAME];
  const now = microTime(nowMs);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: heartbeatLeaseName(report.fleet, report.node),
      namespace: report.namespace,
      labels: { ...(existing?.metadata?.labels ?? {}), [LABEL_FLEET]: report.fleet, [LABEL_NODE]: nodeLabel.value },
      annotations,
    },
    spec: {
      ...(existing?.spec ?? {}),
      holderIdentity: report.node,
      leaseDurationSeconds: report.staleAfterSeconds,
      acquireTime: existing?.spec?.acquireTime ?? now,
      renewTime: now,
    },
  };
}

/**
 * Estimated bytes of the unacknowledged records: records × the average record size
 * (header included), capped by the bytes the spool holds; 0 without a backlog. The
 * spool reports its file bytes, which include acknowledged records not yet freed (it
 * frees whole segments), so those alone would overstate the backlog.
 */
export function estimateBacklogBytes(backlogRecords: number, spoolBytes: number, averageRecordBytes: number | undefined): number {
  if (backlogRecords <= 0) return 0;
  if (averageRecordBytes === undefined) return spoolBytes;
  return Math.min(spoolBytes, Math.ceil(backlogRecords * averageRecordBytes));
}
