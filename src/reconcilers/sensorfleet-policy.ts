/**
 * What a SensorFleet may put on a node, decided by the administrator, not the tenant,
 * pure: {@link SensorFleetPolicy} (set with `manyfold operator` flags, see
 * src/cli/tenancy-flags.ts) and {@link checkFleetPolicy}, which names every field of a
 * fleet that reaches beyond it.
 *
 * The node footprint a namespace user gets through a SensorFleet:
 * - images: `spec.image` must be one the administrator allows; the operator's own image
 *   (the default when `spec.image` is omitted) always is;
 * - spool: each fleet's spool is `<spoolRoot>/<namespace>/<fleet>` on the node, and the
 *   agent container mounts only that directory (a `subPath` of the spool root, which the
 *   kubelet creates), so fleets cannot read or tamper with each other's spools;
 *   `spec.spool.path`, when given, must be the spool root itself;
 * - sensor paths (`file` and `stream` sources outside /sys and /proc) must lie under one
 *   of `sensorRoots`, mounted read-only; file sinks under one of `sinkRoots` (writable);
 *   both default to none, and `{namespace}` in a root stands for the fleet's namespace;
 * - tolerations: only of the taint keys in `allowedTolerationKeys`; a toleration without
 *   a key (which tolerates every taint) never.
 *
 * Refusals become `Ready=False` reason `NotPermitted` naming the field; nothing is applied.
 *
 * Limitations: images are compared as written (`repo:tag` and `repo@digest` are
 * different entries); the policy applies when a fleet is reconciled, so fleets already
 * running keep their DaemonSet until their next reconcile after a policy change.
 */
import type { SensorFleetSpec } from '../crds/sensorfleet.ts';
import { isUnder, needsHostMount, parentDir, type MeaningIssue } from './sensorfleet-agent.ts';

/** The administrator's limits on what SensorFleets put on nodes. */
export interface SensorFleetPolicy {
  /** Images `spec.image` may name, exactly as written, besides the operator's own. Default none. */
  readonly allowedImages: readonly string[];
  /**
   * Host directory holding every fleet's spool at `<spoolRoot>/<namespace>/<fleet>`.
   * It must exist on the nodes (the kubelet does not create it) and be writable by the
   * agent's group {@link AgentGid}, e.g. `install -d -o root -g 65532 -m 2770 <root>`.
   * Default `/var/lib/manyfold/spool`.
   */
  readonly spoolRoot: string;
  /** Host directories file and stream sources may read (read-only mounts); `{namespace}` substituted. Default none. */
  readonly sensorRoots: readonly string[];
  /** Host directories file sinks may write to; `{namespace}` substituted. Default none. */
  readonly sinkRoots: readonly string[];
  /** Taint keys a fleet may tolerate. Default `manyfold.dev/edge`. */
  readonly allowedTolerationKeys: readonly string[];
}

/** GID of the agent, which owns nothing but may write the spool root through its group. */
export const AgentGid = 65532;

/** Without administrator settings: the operator's image, the default spool root, no host paths, the edge taint. */
export const DefaultSensorFleetPolicy: SensorFleetPolicy = {
  allowedImages: [],
  spoolRoot: '/var/lib/manyfold/spool',
  sensorRoots: [],
  sinkRoots: [],
  allowedTolerationKeys: ['manyfold.dev/edge'],
};

/** Placeholder for the fleet's namespace in sensor and sink roots. */
export const NamespacePlaceholder = '{namespace}';

/** `<namespace>/<fleet>`: the fleet's spool directory relative to the spool root. */
export function fleetSpoolSubPath(namespace: string, fleet: string): string {
  return `${namespace}/${fleet}`;
}

function rootsFor(roots: readonly string[], namespace: string): string[] {
  return roots.map((r) => r.split(NamespacePlaceholder).join(namespace).replace(/\/+$/, '') || '/');
}

const listed = (roots: readonly string[], flag: string) => (roots.length ? `one of ${roots.join(', ')}` : `a directory the administrator allows (none is; ${flag})`);

/**
 * Every field of `fleet` outside `policy`, each named, in spec order. `defaultImage` is
 * the operator's own image, always allowed.
 */
export function checkFleetPolicy(fleet: { readonly namespace: string; readonly spec: SensorFleetSpec }, policy: SensorFleetPolicy, defaultImage: string): MeaningIssue[] {
  const { spec, namespace } = fleet;
  const issues: MeaningIssue[] = [];
  if (spec.image !== undefined && spec.image !== defaultImage && !policy.allowedImages.includes(spec.image)) {
    issues.push({
      field: 'spec.image',
      message: `${spec.image} is not an image the administrator allows (the operator's own, ${defaultImage}, or --sensorfleet-allowed-images)`,
    });
  }
  (spec.tolerations ?? []).forEach((t, i) => {
    if (t.key === undefined || t.key === '') {
      issues.push({ field: `spec.tolerations[${i}]`, message: 'a toleration without a key tolerates every taint, which the administrator does not allow' });
    } else if (!policy.allowedTolerationKeys.includes(t.key)) {
      issues.push({
        field: `spec.tolerations[${i}].key`,
        message: `${t.key} is not a taint the administrator lets fleets tolerate (${policy.allowedTolerationKeys.join(', ') || 'none'}; --sensorfleet-allowed-toleration-keys)`,
      });
    }
  });
  const sensorRoots = rootsFor(policy.sensorRoots, namespace);
  spec.sensors.forEach((sensor, i) => {
    const source = sensor.source;
    if ((source.type === 'file' || source.type === 'stream') && needsHostMount(source.path) && !sensorRoots.some((r) => isUnder(source.path, r))) {
      issues.push({ field: `spec.sensors[${i}].source.path`, message: `${source.path} must lie under ${listed(sensorRoots, '--sensorfleet-sensor-roots')}` });
    }
  });
  if (spec.sink.type === 'file') {
    const sinkRoots = rootsFor(policy.sinkRoots, namespace);
    const dir = parentDir(spec.sink.path);
    if (!sinkRoots.some((r) => isUnder(dir, r))) issues.push({ field: 'spec.sink.path', message: `${spec.sink.path} must lie under ${listed(sinkRoots, '--sensorfleet-sink-roots')}` });
  }
  if (spec.spool.path !== undefined && spec.spool.path.replace(/\/+$/, '') !== policy.spoolRoot.replace(/\/+$/, '')) {
    issues.push({
      field: 'spec.spool.path',
      message: `must be omitted (or be the administrator's spool root ${policy.spoolRoot}): each fleet's spool is <spool root>/${fleetSpoolSubPath(namespace, '<fleet>')}`,
    });
  }
  return issues;
}
