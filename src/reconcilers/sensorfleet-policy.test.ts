import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withSensorFleetDefaults, type SensorFleetSpecInput } from '../crds/sensorfleet.ts';
import { desiredDaemonSet } from './sensorfleet-children.ts';
import { DefaultSensorFleetPolicy, checkFleetPolicy, type SensorFleetPolicy } from './sensorfleet-policy.ts';

const own = 'ghcr.io/manyfold-dev/manyfold:0.1.0';
const base: SensorFleetSpecInput = { sensors: [{ name: 't', source: { type: 'simulated' } }], sink: { type: 'stdout' } };
const check = (extra: Partial<SensorFleetSpecInput>, policy: SensorFleetPolicy = DefaultSensorFleetPolicy, namespace = 'team-a') =>
  checkFleetPolicy({ namespace, spec: withSensorFleetDefaults({ ...base, ...extra }) }, policy, own);
const fields = (issues: { field: string }[]) => issues.map((i) => i.field);

describe('checkFleetPolicy (what a namespace user may put on nodes)', () => {
  it("allows a fleet that stays within the defaults: the operator's image, /sys and /proc, the edge taint", () => {
    expect(check({ image: own, tolerations: [{ key: 'manyfold.dev/edge', operator: 'Exists', effect: 'NoSchedule' }], sensors: [{ name: 't', source: { type: 'file', path: '/sys/class/thermal/thermal_zone0/temp' } }] })).toEqual([]);
  });

  it('refuses images, tolerations, host paths and spool paths beyond the policy, naming each field', () => {
    const issues = check({
      image: 'docker.io/library/busybox:latest',
      tolerations: [{ operator: 'Exists' }, { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      sensors: [{ name: 'shadow', source: { type: 'file', path: '/etc/shadow' } }, { name: 'other', source: { type: 'stream', path: '/var/lib/manyfold/spool/team-b/fleet/x' } }],
      sink: { type: 'file', path: '/root/.ssh/authorized_keys' },
      spool: { path: '/var/lib/manyfold/spool/team-b' },
    });
    expect(fields(issues)).toEqual(['spec.image', 'spec.tolerations[0]', 'spec.tolerations[1].key', 'spec.sensors[0].source.path', 'spec.sensors[1].source.path', 'spec.sink.path', 'spec.spool.path']);
    expect(issues[0]?.message).toContain('--sensorfleet-allowed-images');
    expect(issues[1]?.message).toContain('every taint');
  });

  it('allows what the administrator allows, with {namespace} confining roots per namespace', () => {
    const policy: SensorFleetPolicy = {
      allowedImages: ['registry.example/agent:2'],
      spoolRoot: '/data/spool',
      sensorRoots: ['/dev/serial', '/srv/sensors/{namespace}'],
      sinkRoots: ['/srv/out/{namespace}'],
      allowedTolerationKeys: ['edge'],
    };
    const ok = { image: 'registry.example/agent:2', tolerations: [{ key: 'edge', operator: 'Exists' as const }], sensors: [{ name: 'a', source: { type: 'file' as const, path: '/srv/sensors/team-a/door' } }], sink: { type: 'file' as const, path: '/srv/out/team-a/x.jsonl' }, spool: { path: '/data/spool/' } };
    expect(check(ok, policy)).toEqual([]);
    expect(fields(check(ok, policy, 'team-b'))).toEqual(['spec.sensors[0].source.path', 'spec.sink.path']);
  });

  it('gives every fleet its own spool directory under the root, and never two fleets the same one', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/)),
        fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/)),
        ([ns1, f1], [ns2, f2]) => {
          const spool = (namespace: string, name: string) => {
            const ds = desiredDaemonSet({ name, namespace, uid: 'u', spec: withSensorFleetDefaults(base), config: { text: '', hash: '' }, defaultImage: own, spoolRoot: '/data/spool' });
            const pod = (ds.object['spec'] as { template: { spec: { containers: { volumeMounts: { name: string; subPath?: string }[] }[]; volumes: { name: string; hostPath?: { path: string } }[] } } }).template.spec;
            const mount = pod.containers[0]?.volumeMounts.find((m) => m.name === 'spool');
            return `${pod.volumes.find((v) => v.name === 'spool')?.hostPath?.path ?? ''}/${mount?.subPath ?? ''}`;
          };
          const a = spool(ns1, f1);
          const b = spool(ns2, f2);
          expect(a).toBe(`/data/spool/${ns1}/${f1}`);
          // Neither directory contains the other unless they are the same fleet.
          if (ns1 !== ns2 || f1 !== f2) expect(a.startsWith(`${b}/`) || b.startsWith(`${a}/`) || a === b).toBe(false);
        },
      ),
    );
  });
});
