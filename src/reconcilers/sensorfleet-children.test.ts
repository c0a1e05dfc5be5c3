import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withSensorFleetDefaults, type SensorFleetSpecInput } from '../crds/sensorfleet.ts';
import { ConfigHashAnnotation, FleetLabel } from './sensorfleet-agent.ts';
import { AgentGid, AgentUid, desiredChildren, desiredDaemonSet, hostMounts, isApplied, type ChildrenInput } from './sensorfleet-children.ts';

const input = (spec: SensorFleetSpecInput, extra: Partial<ChildrenInput> = {}): ChildrenInput => ({
  name: 'edge',
  namespace: 'sensors',
  uid: 'uid-1',
  spec: withSensorFleetDefaults(spec),
  config: { text: '{}\n', hash: 'abc123' },
  defaultImage: 'ghcr.io/manyfold-dev/manyfold:0.1.0',
  spoolRoot: '/var/lib/manyfold/spool',
  ...extra,
});

const spec: SensorFleetSpecInput = {
  nodeSelector: { 'manyfold.dev/edge': 'true' },
  tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
  sensors: [
    { name: 'temp', source: { type: 'file', path: '/sys/class/thermal/thermal_zone0/temp' } },
    { name: 'door', source: { type: 'file', path: '/var/lib/door/state' } },
    { name: 'gps', source: { type: 'stream', path: '/run/gps.sock' } },
  ],
  sink: { type: 'http', url: 'http://collector:8080/ingest' },
};

type Pod = {
  serviceAccountName: string;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  initContainers?: unknown[];
  securityContext: Record<string, unknown>;
  containers: { name: string; image: string; args: string[]; env: { name: string; valueFrom: { fieldRef: { fieldPath: string } } }[]; securityContext: Record<string, unknown>; resources: { requests: object; limits: object }; volumeMounts: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[] }[];
  volumes: { name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string } }[];
};
const podOf = (ds: ReturnType<typeof desiredDaemonSet>) => (ds.object['spec'] as { template: { spec: Pod } }).template.spec;

describe('the agent DaemonSet', () => {
  const ds = desiredDaemonSet(input(spec));
  const pod = podOf(ds);
  const agent = pod.containers[0];

  it('runs `manyfold agent` with the contract flags and downward-API identity', () => {
    expect(agent?.image).toBe('ghcr.io/manyfold-dev/manyfold:0.1.0');
    expect(agent?.args).toEqual(['agent', '--config', '/etc/manyfold/agent/config.json', '--spool-dir', '/var/lib/manyfold/spool', '--metrics-bind-address', ':9464']);
    expect(Object.fromEntries((agent?.env ?? []).map((e) => [e.name, e.valueFrom.fieldRef.fieldPath]))).toEqual({ NODE_NAME: 'spec.nodeName', POD_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    expect(pod.serviceAccountName).toBe('edge-agent');
    expect(desiredDaemonSet(input({ ...spec, image: 'example.com/agent:2' })).object).toMatchObject({ spec: { template: { spec: { containers: [{ image: 'example.com/agent:2' }] } } } });
  });

  it('is locked down and has no root container at all: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp, limits', () => {
    expect(agent?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: AgentUid, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: AgentUid, runAsGroup: AgentGid, fsGroup: AgentGid, seccompProfile: { type: 'RuntimeDefault' } });
    expect(agent?.resources.requests).toBeDefined();
    expect(agent?.resources.limits).toEqual({ cpu: '500m', memory: '256Mi' });
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers).toHaveLength(1);
  });

  it('selects and tolerates as the spec says, and is owned by the fleet', () => {
    expect(pod.nodeSelector).toEqual({ 'manyfold.dev/edge': 'true' });
    expect(pod.tolerations).toEqual(spec.tolerations);
    expect(ds.object.metadata).toMatchObject({ name: 'edge-agent', namespace: 'sensors', labels: { [FleetLabel]: 'edge' }, annotations: { [ConfigHashAnnotation]: 'abc123' } });
    expect(ds.object.metadata['ownerReferences']).toEqual([{ apiVersion: 'manyfold.dev/v1alpha1', kind: 'SensorFleet', name: 'edge', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(ds.object['spec']).toMatchObject({ selector: { matchLabels: { [FleetLabel]: 'edge' } } });
  });

  it("mounts the config directory read-only (no subPath, so it reloads), only this fleet's spool directory, and host sensor files read-only", () => {
    const mounts = new Map((agent?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    expect(mounts.get('/etc/manyfold/agent')).toMatchObject({ readOnly: true });
    expect([...mounts.values()].filter((m) => m.subPath !== undefined)).toEqual([{ name: 'spool', mountPath: '/var/lib/manyfold/spool', subPath: 'sensors/edge' }]);
    expect(pod.volumes.find((v) => v.name === 'config')?.configMap?.name).toBe('edge-agent');
    // The root must exist (the kubelet creates only the fleet's subPath in it, with the root's mode).
    expect(pod.volumes.find((v) => v.name === 'spool')?.hostPath).toEqual({ path: '/var/lib/manyfold/spool', type: 'Directory' });
    expect(podOf(desiredDaemonSet(input(spec, { spoolRoot: '/data/spool' }))).volumes.find((v) => v.name === 'spool')?.hostPath?.path).toBe('/data/spool');
    expect(mounts.get('/var/lib/door/state')).toMatchObject({ readOnly: true });
    expect(mounts.get('/run/gps.sock')).toMatchObject({ readOnly: true });
    expect(mounts.has('/sys/class/thermal/thermal_zone0/temp')).toBe(false);
  });

  it("does not put the config hash on the pod template: config changes reload live, they do not roll pods", () => {
    const a = desiredDaemonSet(input(spec, { config: { text: 'a', hash: 'h1' } }));
    const b = desiredDaemonSet(input(spec, { config: { text: 'b', hash: 'h2' } }));
    expect((a.object['spec'] as { template: unknown }).template).toEqual((b.object['spec'] as { template: unknown }).template);
    expect(a.object.metadata['annotations']).not.toEqual(b.object.metadata['annotations']);
  });

  it('mounts a file sink directory read-write', () => {
    expect(hostMounts(withSensorFleetDefaults({ ...spec, sink: { type: 'file', path: '/var/log/sensors/out.jsonl' } }))).toContainEqual(
      expect.objectContaining({ path: '/var/log/sensors', readOnly: false, type: 'DirectoryOrCreate' }),
    );
  });

  it('grants the agents exactly get/create/update/patch on Leases', () => {
    const role = desiredChildren(input(spec)).find((c) => c.kind === 'Role');
    expect(role?.object['rules']).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] }]);
    expect(desiredChildren(input(spec)).map((c) => c.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'DaemonSet']);
  });
});

const jsonArb = fc.jsonValue({ maxDepth: 3 });

/** `observed` with extra keys added everywhere (as server defaults would). */
function withDefaults(value: unknown, extra: string): unknown {
  if (Array.isArray(value)) return value.map((v) => withDefaults(v, extra));
  if (value !== null && typeof value === 'object') {
    return { ...Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDefaults(v, extra)])), [`default-${extra}`]: extra };
  }
  return value;
}

describe('isApplied', () => {
  it('holds for an object and for it with server defaults added', () => {
    fc.assert(
      fc.property(jsonArb, fc.string(), (value, extra) => {
        expect(isApplied(value, value)).toBe(true);
        expect(isApplied(value, withDefaults(value, extra))).toBe(true);
      }),
    );
  });

  it('fails when a field the operator sets differs or is missing', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.integer(), fc.string()), { minKeys: 1 }), (desired) => {
        const key = Object.keys(desired)[0] as string;
        expect(isApplied(desired, { ...desired, [key]: `${String(desired[key])}!` })).toBe(false);
        const { [key]: _gone, ...missing } = desired;
        expect(isApplied(desired, missing)).toBe(false);
      }),
    );
  });

  it('matches empty collections against absent ones, and arrays only at the same length', () => {
    expect(isApplied({ a: [], b: {} }, {})).toBe(true);
    expect(isApplied({ a: [1] }, { a: [1, 2] })).toBe(false);
    expect(isApplied(desiredDaemonSet(input(spec)).object, undefined)).toBe(false);
  });
});
