/**
 * The administrator's tenancy settings of `manyfold operator`: what a namespace user
 * may reach through FencedLeases and SensorFleets. They are operator flags (in
 * deploy/manifests/deployment.yaml's args), not the ConfigMap `manyfold-config`: the
 * limits are part of the operator's installation, take effect with a restart (a rollout
 * of the Deployment, which GitOps tracks), and cannot be loosened by whoever may edit
 * ConfigMaps in the operator's namespace while it runs.
 *
 * Limitations: list flags take comma-separated values (a path or image containing a
 * comma cannot be listed); a change applies to each object at its next reconcile.
 */
import type { FencedLeasePolicy } from '../reconcilers/fencedlease-target.ts';
import { DefaultFencedLeasePolicy } from '../reconcilers/fencedlease-target.ts';
import type { SensorFleetPolicy } from '../reconcilers/sensorfleet-policy.ts';
import { DefaultSensorFleetPolicy } from '../reconcilers/sensorfleet-policy.ts';

/** Help text of the tenancy flags (part of `manyfold operator --help`). */
export const tenancyUsage = `Tenancy (what a namespace user may reach through Manyfold resources; {namespace} = the object's):
  --fencedlease-key-prefixes P[,P]       etcd key directories FencedLeases may use
                                         (default /manyfold/fencedleases/{namespace}/)
  --fencedlease-allowed-endpoints URL[,URL]
                                         etcd endpoints spec.etcd may name besides --etcd-endpoints
                                         (default none); credentials are never sent over http://
  --sensorfleet-allowed-images IMG[,IMG] agent images spec.image may name besides the operator's own
                                         (default none)
  --sensorfleet-spool-root DIR           node directory holding each fleet's spool at
                                         DIR/<namespace>/<fleet>; must exist on the nodes, writable
                                         by group 65532 (default /var/lib/manyfold/spool)
  --sensorfleet-sensor-roots DIR[,DIR]   node directories file/stream sensors may read (default none;
                                         /sys and /proc need no mount)
  --sensorfleet-sink-roots DIR[,DIR]     node directories file sinks may write (default none)
  --sensorfleet-allowed-toleration-keys KEY[,KEY]
                                         taint keys fleets may tolerate (default manyfold.dev/edge)`;

/** The `parseArgs` options of the tenancy flags. */
export const tenancyFlagOptions = {
  'fencedlease-key-prefixes': { type: 'string' },
  'fencedlease-allowed-endpoints': { type: 'string' },
  'sensorfleet-allowed-images': { type: 'string' },
  'sensorfleet-spool-root': { type: 'string' },
  'sensorfleet-sensor-roots': { type: 'string' },
  'sensorfleet-sink-roots': { type: 'string' },
  'sensorfleet-allowed-toleration-keys': { type: 'string' },
} as const;

/** The administrator's tenancy policy for every kind. */
export interface TenancyPolicy {
  readonly fencedLease: FencedLeasePolicy;
  readonly sensorFleet: SensorFleetPolicy;
}

/** The defaults: own-namespace lease keys, the default etcd, the operator's image, no host paths. */
export const DefaultTenancyPolicy: TenancyPolicy = { fencedLease: DefaultFencedLeasePolicy, sensorFleet: DefaultSensorFleetPolicy };

const list = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean));

function absoluteDirs(flag: string, values: readonly string[], options: { trailingSlash: boolean }): string[] {
  return values.map((v) => {
    if (!v.startsWith('/') || v.split('/').some((s) => s === '.' || s === '..')) throw new Error(`--${flag}: '${v}' must be an absolute path without . or .. segments`);
    if (v.replace(/\/+$/, '') === '') throw new Error(`--${flag}: '/' would allow every path`);
    return options.trailingSlash ? (v.endsWith('/') ? v : `${v}/`) : v.replace(/\/+$/, '');
  });
}

/** Parses the tenancy flags (values from `parseArgs`); throws naming the flag on a bad value. */
export function parseTenancyFlags(values: Partial<Record<keyof typeof tenancyFlagOptions, string | undefined>>): TenancyPolicy {
  const prefixes = list(values['fencedlease-key-prefixes']);
  const endpoints = list(values['fencedlease-allowed-endpoints']);
  for (const e of endpoints ?? []) {
    if (!/^https?:\/\/[^/]+:\d+\/?$/.test(e)) throw new Error(`--fencedlease-allowed-endpoints: '${e}' must be http(s)://host:port`);
  }
  const spoolRoot = values['sensorfleet-spool-root'];
  const tolerations = list(values['sensorfleet-allowed-toleration-keys']);
  return {
    fencedLease: {
      keyPrefixes: prefixes ? absoluteDirs('fencedlease-key-prefixes', prefixes, { trailingSlash: true }) : DefaultFencedLeasePolicy.keyPrefixes,
      allowedEndpoints: endpoints ?? DefaultFencedLeasePolicy.allowedEndpoints,
    },
    sensorFleet: {
      allowedImages: list(values['sensorfleet-allowed-images']) ?? DefaultSensorFleetPolicy.allowedImages,
      spoolRoot: spoolRoot === undefined ? DefaultSensorFleetPolicy.spoolRoot : (absoluteDirs('sensorfleet-spool-root', [spoolRoot], { trailingSlash: false })[0] ?? DefaultSensorFleetPolicy.spoolRoot),
      sensorRoots: absoluteDirs('sensorfleet-sensor-roots', list(values['sensorfleet-sensor-roots']) ?? [], { trailingSlash: false }),
      sinkRoots: absoluteDirs('sensorfleet-sink-roots', list(values['sensorfleet-sink-roots']) ?? [], { trailingSlash: false }),
      allowedTolerationKeys: tolerations ?? DefaultSensorFleetPolicy.allowedTolerationKeys,
    },
  };
}
