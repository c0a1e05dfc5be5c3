/**
 * The SensorFleet side of the contract with `manyfold agent`
 * (notes/sensorfleet-contract.md), pure: the names, labels and annotations both sides
 * use, the config document the operator publishes and its hash, and the checks of a
 * spec that is valid in shape but not in meaning.
 *
 * Everything here is deterministic and free of I/O (hashing aside, which is pure).
 *
 * Limitations: the meaning checks cover what the operator can know without the
 * cluster (label syntax, paths, image syntax); whether an image exists or a node path
 * is present shows up later, in the pods and the agents' health.
 */
import { createHash } from 'node:crypto';
import type { SensorFleetSpec } from '../crds/sensorfleet.ts';

/** Label on every child of a fleet and on its heartbeat Leases: the fleet's name. */
export const FleetLabel = 'manyfold.dev/sensorfleet';
/** Label on a heartbeat Lease: the node (or its hash when not a valid label value). */
export const NodeLabel = 'manyfold.dev/node';
/** Annotations of a heartbeat Lease (all strings). */
export const HeartbeatAnnotations = {
  nodeName: 'manyfold.dev/node-name',
  health: 'manyfold.dev/health',
  healthMessage: 'manyfold.dev/health-message',
  backlogRecords: 'manyfold.dev/backlog-records',
  backlogBytes: 'manyfold.dev/backlog-bytes',
  lastSampleTime: 'manyfold.dev/last-sample-time',
  agentVersion: 'manyfold.dev/agent-version',
} as const;
/** Annotation on the ConfigMap and DaemonSet: hash of the published config document. */
export const ConfigHashAnnotation = 'manyfold.dev/config-hash';

/** Key of the config document in the ConfigMap. */
export const ConfigKey = 'config.json';
/** Where the agent container sees its config directory (the `--config` file is inside). */
export const ConfigDir = '/etc/manyfold/agent';
/** Where the agent container sees the spool hostPath (`--spool-dir`). */
export const SpoolDir = '/var/lib/manyfold/spool';
/** Port of the agent's `/metrics` and `/healthz`. */
export const MetricsPort = 9464;
/** Longest Lease name the API server takes. */
const MAX_NAME = 253;

/** `<fleet>-agent`: the ConfigMap, DaemonSet, ServiceAccount, Role and RoleBinding. */
export function agentName(fleet: string): string {
  return `${fleet}-agent`;
}

/** First 12 hex characters of the SHA-256 of `text`. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/**
 * Name of the heartbeat Lease of `node` in `fleet`: `<fleet>-<node>`, or when longer
 * than 253 characters, its first 240 characters, `-`, and the short hash of the whole.
 */
export function heartbeatLeaseName(fleet: string, node: string): string {
  const full = `${fleet}-${node}`;
  return full.length <= MAX_NAME ? full : `${full.slice(0, 240)}-${shortHash(full)}`;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `value` may be a label value (at most 63 characters, alphanumeric ends). */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** Whether `key` is a qualified label key (`[prefix/]name`). */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return false;
  return prefix === undefined || (prefix.length > 0 && prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix));
}

/** The `manyfold.dev/node` label value for `node`: the name, or its short hash. */
export function nodeLabelValue(node: string): string {
  return isLabelValue(node) ? node : shortHash(node);
}

/** Heartbeat interval the agents use: max(1, floor(staleAfterSeconds / 3)) seconds. */
export function heartbeatIntervalSeconds(staleAfterSeconds: number): number {
  return Math.max(1, Math.floor(staleAfterSeconds / 3));
}

/** The identity of a fleet as the config document names it. */
export interface FleetIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number;
}

/** The config document (`config.json`), exactly as the contract lays it out. */
export interface AgentConfig {
  readonly version: 1;
  readonly fleet: FleetIdentity;
  readonly sensors: SensorFleetSpec['sensors'];
  readonly spool: { readonly maxBytes: number; readonly maxAgeSeconds: number; readonly overflow: SensorFleetSpec['spool']['overflow'] };
  readonly sink: SensorFleetSpec['sink'];
  readonly staleAfterSeconds: number;
  readonly heartbeatIntervalSeconds: number;
}

/** The config document of a fleet. The spool's host path is not in it: it is a volume. */
export function agentConfig(fleet: FleetIdentity, spec: SensorFleetSpec): AgentConfig {
  return {
    version: 1,
    fleet: { namespace: fleet.namespace, name: fleet.name, uid: fleet.uid, generation: fleet.generation },
    sensors: spec.sensors,
    spool: { maxBytes: spec.spool.maxBytes, maxAgeSeconds: spec.spool.maxAgeSeconds, overflow: spec.spool.overflow },
    sink: spec.sink,
    staleAfterSeconds: spec.staleAfterSeconds,
    heartbeatIntervalSeconds: heartbeatIntervalSeconds(spec.staleAfterSeconds),
  };
}

/** The document's text: stable key order (as built), two-space indent, final newline. */
export function renderAgentConfig(config: AgentConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Hash of the rendered document (16 hex characters); equal texts, equal hashes. */
export function configHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** One problem with a spec that is valid in shape but not in meaning. */
export interface MeaningIssue {
  readonly field: string;
  readonly message: string;
}

/** Host directories the agent must never mount (read-write or over the container's own). */
const SYSTEM_DIRS = ['/proc', '/sys', '/dev', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/boot', '/run', '/var/run'];
/** Paths inside the agent container that its own volumes occupy. */
const RESERVED_IN_CONTAINER = [ConfigDir, SpoolDir, '/tmp'];
/** Host paths visible in every container without a mount (read-only sysfs and procfs). */
const VISIBLE_WITHOUT_MOUNT = ['/sys', '/proc'];

/** Whether `path` is `dir` or below it. */
export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function hasDotSegments(path: string): boolean {
  return path.split('/').some((s) => s === '.' || s === '..');
}

/** The parent directory of an absolute file path (`/` for a top-level file). */
export function parentDir(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  return slash <= 0 ? '/' : trimmed.slice(0, slash);
}

/** Whether a source path must be mounted from the host (it is not under /sys or /proc). */
export function needsHostMount(path: string): boolean {
  return !VISIBLE_WITHOUT_MOUNT.some((dir) => isUnder(path, dir));
}

const IMAGE_REF =
  /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** Whether `image` reads as a container image reference (`[registry/]repo[:tag][@sha256:…]`). */
export function isImageReference(image: string): boolean {
  return IMAGE_REF.test(image);
}

/**
 * What the CRD schema cannot reject but the fleet cannot run with, each naming the
 * field: a fleet name too long to be a label value, node selector labels the API
 * server would refuse, tolerations it would refuse, an image that is not a reference,
 * host paths that are relative in disguise (`..`), system directories, or that collide
 * with the agent container's own mounts.
 */
export function checkFleetMeaning(fleet: { readonly name: string; readonly spec: SensorFleetSpec }): MeaningIssue[] {
  const issues: MeaningIssue[] = [];
  const { spec } = fleet;
  if (!isLabelValue(fleet.name)) {
    issues.push({ field: 'metadata.name', message: `must be at most 63 characters: it is the value of the label ${FleetLabel} on the agents and their heartbeats` });
  }
  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
    if (!isLabelKey(key)) issues.push({ field: `spec.nodeSelector[${JSON.stringify(key)}]`, message: 'the key is not a valid label key' });
    else if (!isLabelValue(value)) issues.push({ field: `spec.nodeSelector[${JSON.stringify(key)}]`, message: `"${value}" is not a valid label value` });
  }
  (spec.tolerations ?? []).forEach((t, i) => {
    const at = `spec.tolerations[${i}]`;
    if (t.key !== undefined && t.key !== '' && !isLabelKey(t.key)) issues.push({ field: `${at}.key`, message: 'is not a valid taint key' });
    if ((t.key === undefined || t.key === '') && t.operator !== 'Exists') issues.push({ field: `${at}.operator`, message: 'must be Exists when key is empty' });
    if (t.operator === 'Exists' && t.value !== undefined && t.value !== '') issues.push({ field: `${at}.value`, message: 'must be empty when operator is Exists' });
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') issues.push({ field: `${at}.tolerationSeconds`, message: 'applies only to effect NoExecute' });
  });
  if (spec.image !== undefined && !isImageReference(spec.image)) {
    issues.push({ field: 'spec.image', message: `"${spec.image}" is not a container image reference ([registry/]repository[:tag][@sha256:digest])` });
  }
  const hostDir = (field: string, path: string, what: string) => {
    if (hasDotSegments(path)) issues.push({ field, message: 'must not contain . or .. segments' });
    else if (path === '/' || SYSTEM_DIRS.some((dir) => isUnder(path, dir))) issues.push({ field, message: `${what} must not be / or under ${SYSTEM_DIRS.join(', ')}` });
  };
  if (spec.spool.path !== undefined) hostDir('spec.spool.path', spec.spool.path, 'the spool directory (a writable hostPath)');
  spec.sensors.forEach((sensor, i) => {
    const source = sensor.source;
    if (source.type !== 'file' && source.type !== 'stream') return;
    const field = `spec.sensors[${i}].source.path`;
    if (hasDotSegments(source.path)) issues.push({ field, message: 'must not contain . or .. segments' });
    else if (needsHostMount(source.path) && RESERVED_IN_CONTAINER.some((dir) => isUnder(source.path, dir))) {
      issues.push({ field, message: `collides with the agent's own mounts (${RESERVED_IN_CONTAINER.join(', ')})` });
    }
  });
  if (spec.sink.type === 'file') {
    const dir = parentDir(spec.sink.path);
    hostDir('spec.sink.path', spec.sink.path, "the sink file's directory (a writable hostPath)");
    if (!hasDotSegments(spec.sink.path) && dir === '/') issues.push({ field: 'spec.sink.path', message: "the sink file's directory (a writable hostPath) must not be /" });
    else if (RESERVED_IN_CONTAINER.some((r) => isUnder(dir, r) || isUnder(r, dir))) {
      issues.push({ field: 'spec.sink.path', message: `its directory collides with the agent's own mounts (${RESERVED_IN_CONTAINER.join(', ')})` });
    }
  }
  return issues;
}
