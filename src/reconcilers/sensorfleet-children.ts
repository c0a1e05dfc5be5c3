/**
 * The objects a SensorFleet owns, pure: the agent's ServiceAccount, Role and
 * RoleBinding, the ConfigMap with the config document, and the DaemonSet of
 * `manyfold agent`; plus {@link isApplied}, which tells the shell whether an observed
 * child already holds every field the operator sets (so a heartbeat-driven reconcile
 * does not re-apply five objects on every heartbeat).
 *
 * Config changes reach the agents by live reload, not by a rollout: the ConfigMap is
 * mounted as a directory (never `subPath`, which would freeze it) and the agent reloads
 * when the file changes, keeping its spool and in-flight batches. A rollout of a
 * thousand edge nodes at a tenth of the fleet at a time would take far longer and
 * restart every sensor. The config hash is therefore annotated on the ConfigMap and on
 * the DaemonSet object, not on its pod template; only changes that need new pods
 * (image, spool path, selector, tolerations, host mounts) roll the DaemonSet.
 *
 * Limitations: stream sources on character devices need device access that an
 * unprivileged pod does not have (Unix sockets work); the agent's resources are fixed
 * (see {@link AgentResources}); the init container assumes the image has `node` on
 * its PATH, as the Manyfold image does.
 */
import { API_VERSION } from '../crds/common.ts';
import type { SensorFleetSpec } from '../crds/sensorfleet.ts';
import { childKey, type DesiredChild as SharedDesiredChild } from './decision.ts';
import {
  ConfigDir,
  ConfigHashAnnotation,
  ConfigKey,
  FleetLabel,
  MetricsPort,
  SpoolDir,
  agentName,
  needsHostMount,
  parentDir,
  shortHash,
} from './sensorfleet-agent.ts';

/** The image the operator runs when `spec.image` is omitted and it was not told its own. */
export const DefaultAgentImage = 'ghcr.io/manyfold-dev/manyfold:0.1.0';
/** UID and GID the agent runs as (distroless `nonroot`). */
export const AgentUid = 65532;
/** Requests and limits of the agent container: small, for edge devices. */
export const AgentResources = {
  requests: { cpu: '50m', memory: '96Mi' },
  limits: { cpu: '500m', memory: '256Mi' },
} as const;
/** Most agent pods down at once during a rollout. */
export const MaxUnavailable = '10%';

/** The kinds of a fleet's children. */
export type FleetChildKind = 'ServiceAccount' | 'Role' | 'RoleBinding' | 'ConfigMap' | 'DaemonSet';

/** A child object to server-side apply. */
export type DesiredChild = SharedDesiredChild<FleetChildKind>;

/** What the children are built from. */
export interface ChildrenInput {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly spec: SensorFleetSpec;
  /** Rendered config document and its hash. */
  readonly config: { readonly text: string; readonly hash: string };
  /** Image when `spec.image` is omitted (the operator's own). */
  readonly defaultImage: string;
}

function labels(fleet: string): Record<string, string> {
  return {
    [FleetLabel]: fleet,
    'app.kubernetes.io/name': 'manyfold-agent',
    'app.kubernetes.io/instance': fleet,
    'app.kubernetes.io/component': 'sensor-agent',
    'app.kubernetes.io/managed-by': 'manyfold',
  };
}

function metadata(input: ChildrenInput, extra: { annotations?: Record<string, string> } = {}): Record<string, unknown> {
  return {
    name: agentName(input.name),
    namespace: input.namespace,
    labels: labels(input.name),
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
    ownerReferences: [{ apiVersion: API_VERSION, kind: 'SensorFleet', name: input.name, uid: input.uid, controller: true, blockOwnerDeletion: true }],
  };
}

/** Mounts of host paths the sensors and the sink need (deduplicated by path, sorted). */
export function hostMounts(spec: SensorFleetSpec): { name: string; path: string; readOnly: boolean; type?: string }[] {
  const mounts = new Map<string, { name: string; path: string; readOnly: boolean; type?: string }>();
  for (const sensor of spec.sensors) {
    const source = sensor.source;
    if ((source.type === 'file' || source.type === 'stream') && needsHostMount(source.path) && !mounts.has(source.path)) {
      mounts.set(source.path, { name: `host-${shortHash(source.path)}`, path: source.path, readOnly: true });
    }
  }
  if (spec.sink.type === 'file') {
    const dir = parentDir(spec.sink.path);
    mounts.set(dir, { name: `sink-${shortHash(dir)}`, path: dir, readOnly: false, type: 'DirectoryOrCreate' });
  }
  return [...mounts.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Makes the fleet's spool directory on the host owned by the agent's UID. fsGroup does
 * not apply to hostPath volumes (the kubelet creates them root-owned, mode 0755), so
 * without this a non-root agent could not write its spool.
 */
const prepareSpool = [
  "const fs=require('node:fs'),p=require('node:path');",
  'const [d,u,g]=process.argv.slice(1);const uid=Number(u),gid=Number(g);',
  'fs.mkdirSync(d,{recursive:true,mode:0o750});',
  'if(fs.statSync(d).uid!==uid){fs.chownSync(d,uid,gid);for(const f of fs.readdirSync(d))fs.chownSync(p.join(d,f),uid,gid);}',
].join('');

/** The DaemonSet running `manyfold agent` on the selected nodes. */
export function desiredDaemonSet(input: ChildrenInput): DesiredChild {
  const { spec } = input;
  const name = agentName(input.name);
  const image = spec.image ?? input.defaultImage;
  const selector = { [FleetLabel]: input.name, 'app.kubernetes.io/component': 'sensor-agent' };
  const mounts = hostMounts(spec);
  const fleetSpool = `${SpoolDir}/${input.namespace}_${input.name}`;
  const container = {
    name: 'agent',
    image,
    imagePullPolicy: 'IfNotPresent',
    args: ['agent', '--config', `${ConfigDir}/${ConfigKey}`, '--spool-dir', SpoolDir, '--metrics-bind-address', `:${MetricsPort}`],
    env: [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    ports: [{ name: 'metrics', containerPort: MetricsPort, protocol: 'TCP' }],
    // Readiness only: a liveness probe would restart agents during a sink outage,
    // exactly when their spool matters most.
    readinessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 3 },
    resources: AgentResources,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: AgentUid,
      runAsGroup: AgentUid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'config', mountPath: ConfigDir, readOnly: true },
      { name: 'spool', mountPath: SpoolDir },
      { name: 'tmp', mountPath: '/tmp' },
      ...mounts.map((m) => ({ name: m.name, mountPath: m.path, readOnly: m.readOnly })),
    ],
  };
  // The one root step, kept as small as it can be: chown of this fleet's spool
  // directory with only CAP_CHOWN. The pod needs a privileged-level namespace for its
  // hostPath volume anyway, so this widens nothing Pod Security admits.
  const init = {
    name: 'spool-permissions',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', '-e', prepareSpool, fleetSpool, String(AgentUid), String(AgentUid)],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['CHOWN'] },
    },
    volumeMounts: [{ name: 'spool', mountPath: SpoolDir }],
  };
  const podSpec = {
    serviceAccountName: name,
    automountServiceAccountToken: true,
    ...(spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0 ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec.tolerations && spec.tolerations.length > 0 ? { tolerations: spec.tolerations } : {}),
    terminationGracePeriodSeconds: 30,
    // fsGroup makes the projected ServiceAccount token readable by the agent (the init
    // container runs as another UID, so the kubelet cannot give the token to one user);
    // it does not reach the hostPath spool, which the init container chowns instead.
    securityContext: {
      runAsUser: AgentUid,
      runAsGroup: AgentUid,
      fsGroup: AgentUid,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    },
    initContainers: [init],
    containers: [container],
    volumes: [
      { name: 'config', configMap: { name, items: [{ key: ConfigKey, path: ConfigKey }], defaultMode: 0o444 } },
      { name: 'spool', hostPath: { path: spec.spool.path, type: 'DirectoryOrCreate' } },
      { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
      ...mounts.map((m) => ({ name: m.name, hostPath: { path: m.path, ...(m.type ? { type: m.type } : {}) } })),
    ],
  };
  return {
    key: childKey('DaemonSet', name),
    kind: 'DaemonSet',
    name,
    object: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: metadata(input, { annotations: { [ConfigHashAnnotation]: input.config.hash } }),
      spec: {
        selector: { matchLabels: selector },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: MaxUnavailable } },
        revisionHistoryLimit: 5,
        template: { metadata: { labels: labels(input.name) }, spec: podSpec },
      },
    },
  };
}

/** The ConfigMap holding `config.json`. */
export function desiredConfigMap(input: ChildrenInput): DesiredChild {
  return {
    key: childKey('ConfigMap', agentName(input.name)),
    kind: 'ConfigMap',
    name: agentName(input.name),
    object: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(input, { annotations: { [ConfigHashAnnotation]: input.config.hash } }),
      data: { [ConfigKey]: input.config.text },
    },
  };
}

/** The agents' identity: ServiceAccount, a Role on Leases (heartbeats only), its binding. */
export function desiredRbac(input: ChildrenInput): DesiredChild[] {
  const name = agentName(input.name);
  return [
    { key: childKey('ServiceAccount', name), kind: 'ServiceAccount', name, object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(input) } },
    {
      key: childKey('Role', name),
      kind: 'Role',
      name,
      object: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: metadata(input),
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] }],
      },
    },
    {
      key: childKey('RoleBinding', name),
      kind: 'RoleBinding',
      name,
      object: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: metadata(input),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: input.namespace }],
      },
    },
  ];
}

/** Every child, in the order to apply them (identity first, the DaemonSet last). */
export function desiredChildren(input: ChildrenInput): DesiredChild[] {
  return [...desiredRbac(input), desiredConfigMap(input), desiredDaemonSet(input)];
}

/**
 * Whether `observed` already holds every field of `desired` with the same value:
 * objects key by key (extra observed keys, such as server defaults, are fine), arrays
 * element by element with the same length, scalars equal. An empty desired object or
 * array also matches an absent one (the API server drops empty collections).
 */
export function isApplied(desired: unknown, observed: unknown): boolean {
  if (Array.isArray(desired)) {
    if (observed === undefined || observed === null) return desired.length === 0;
    return Array.isArray(observed) && observed.length === desired.length && desired.every((d, i) => isApplied(d, observed[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    const entries = Object.entries(desired).filter(([, v]) => v !== undefined);
    if (observed === undefined || observed === null) return entries.length === 0;
    if (typeof observed !== 'object' || Array.isArray(observed)) return false;
    const o = observed as Record<string, unknown>;
    return entries.every(([k, v]) => isApplied(v, o[k]));
  }
  return desired === observed;
}
