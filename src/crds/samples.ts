/**
 * Valid and invalid sample specs for every kind: documentation by example, and the
 * one table both validators are held to. The unit tests parse every sample with the
 * zod schemas; test/integration/crds.test.ts creates every sample on a real API server
 * with the generated CRDs. An invalid sample names the field both must report.
 */
import type { CellSpecInput } from './cell.ts';
import type { FeatureFlagSpecInput } from './featureflag.ts';
import type { FencedLeaseSpecInput } from './fencedlease.ts';
import type { RatePolicySpecInput } from './ratepolicy.ts';
import type { RolloutSpecInput } from './rollout.ts';
import type { SensorFleetSpecInput } from './sensorfleet.ts';
import type { ShardMapSpecInput } from './shardmap.ts';

/** A spec that must be rejected, and the field the rejection must name. */
export interface InvalidSample {
  readonly kind: string;
  /** What is wrong, for test names. */
  readonly what: string;
  readonly spec: unknown;
  /** Field path in API-server notation, e.g. `spec.capacity`. */
  readonly field: string;
  /** Text the API server's message must also contain (e.g. the allowed values). */
  readonly mentions?: string;
  /**
   * `code` when only the controller's parse can catch it (CEL cannot see the fields):
   * the API server admits the spec and the operator reports Ready=False / InvalidSpec.
   */
  readonly checkedBy?: 'code';
}

/** A spec that must be accepted. */
export interface ValidSample {
  readonly kind: string;
  readonly what: string;
  readonly spec: unknown;
}

const deployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'registry.k8s.io/pause:3.10' }] } },
  },
});
const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { key: 'value' } });

const cell = { zone: 'zone-a', template: { resources: [deployment('web'), configMap('web-config')] } } satisfies CellSpecInput;

const lease = { ttlSeconds: 15, etcd: { endpoints: ['http://127.0.0.1:2379'] }, key: '/locks/payments' } satisfies FencedLeaseSpecInput;

const fleet = {
  nodeSelector: { 'manyfold.dev/edge': 'true' },
  tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
  sensors: [
    {
      name: 'cpu-temp',
      source: { type: 'file', path: '/sys/class/thermal/thermal_zone0/temp' },
      intervalMs: 1000,
      filters: [{ type: 'threshold', threshold: 0.5 }, { type: 'change' }],
    },
    { name: 'demo', source: { type: 'simulated', waveform: 'sine', amplitude: 5 } },
    { name: 'gps', source: { type: 'stream', path: '/dev/ttyUSB0' }, intervalMs: 100 },
  ],
  spool: { maxBytes: 1024 * 1024, overflow: 'dropOldest' },
  sink: { type: 'http', url: 'http://collector.telemetry:8080/ingest', batchSize: 50 },
  staleAfterSeconds: 30,
} satisfies SensorFleetSpecInput;

const shardMap = {
  shards: 64,
  replicas: 3,
  failureTolerance: 1,
  quorum: 2,
  cellSelector: { matchLabels: { tier: 'storage' } },
  placement: { maxLoadFactor: 1.25, spreadBy: 'zone' },
  migration: { maxInFlight: '10%' },
} satisfies ShardMapSpecInput;

const flag = {
  variants: { on: true, off: false, blue: { color: '#00f' } },
  defaultVariant: 'off',
  safeVariant: 'off',
  targeting: { if: [{ '===': [{ var: 'tier' }, 'beta'] }, 'on', 'off'] },
} satisfies FeatureFlagSpecInput;

const rollout = {
  flagRef: { name: 'new-checkout' },
  variant: 'on',
  steps: [{ setWeight: 10 }, { pause: { duration: '5m' } }, { analysis: { maxUnhealthyCells: 0 } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }],
  cellSelector: { matchLabels: { wave: '1' } },
} satisfies RolloutSpecInput;

const perTenant = { name: 'per-tenant', key: 'header:x-tenant', requestsPerSecond: 100, burst: 200 };
const ratePolicy = {
  selector: { matchLabels: { app: 'api' } },
  limits: [
    perTenant,
    { name: 'global', key: 'all', requestsPerSecond: 5000, scope: 'PerReplica' },
  ],
} satisfies RatePolicySpecInput;

const [cpuSensor, demoSensor] = fleet.sensors;
const fleetWith = (change: Record<string, unknown>) => ({ ...fleet, ...change });
const firstSensor = (change: Record<string, unknown>) => fleetWith({ sensors: [{ ...cpuSensor, ...change }] });
const cellResources = (...resources: unknown[]) => ({ ...cell, template: { resources } });

export const validSamples: readonly ValidSample[] = [
  { kind: 'Cell', what: 'a cell with a Deployment and a ConfigMap', spec: cell },
  { kind: 'Cell', what: 'a minimal cell (defaults in code)', spec: { zone: 'z1' } },
  { kind: 'Cell', what: 'a draining cell with capacity 0', spec: { zone: 'z1', capacity: 0, state: 'Draining' } },
  { kind: 'FencedLease', what: 'a lease on an explicit etcd', spec: lease },
  { kind: 'FencedLease', what: 'a lease on the operator default etcd', spec: { ttlSeconds: 2, allowedHolders: ['a', 'b'] } },
  {
    kind: 'FencedLease',
    what: 'a lease with TLS and auth',
    spec: { ttlSeconds: 3600, etcd: { endpoints: ['https://etcd-0.etcd:2379'], tls: { secretName: 'etcd-client' }, auth: { secretName: 'etcd-user' } } },
  },
  { kind: 'SensorFleet', what: 'a fleet with file, simulated and stream sensors', spec: fleet },
  {
    kind: 'SensorFleet',
    what: 'a fleet with a command sensor and a stdout sink',
    spec: { sensors: [{ name: 'uptime', source: { type: 'command', command: ['/bin/cat'], args: ['/proc/uptime'] } }], sink: { type: 'stdout' } },
  },
  { kind: 'ShardMap', what: 'a shard map', spec: shardMap },
  { kind: 'ShardMap', what: 'a minimal shard map with an integer maxInFlight', spec: { shards: 8, replicas: 1, migration: { maxInFlight: 2 } } },
  {
    kind: 'ShardMap',
    what: 'acknowledged hand-offs with a timeout',
    spec: { shards: 4096, replicas: 5, failureTolerance: 2, migration: { maxInFlight: 16, handoff: 'Acknowledged', handoffTimeoutSeconds: 60 } },
  },
  { kind: 'FeatureFlag', what: 'a flag with targeting', spec: flag },
  { kind: 'Rollout', what: 'a rollout', spec: rollout },
  {
    kind: 'Rollout',
    what: 'a rollout in waves by label with Prometheus analysis',
    spec: {
      ...rollout,
      steps: [{ setWeight: 20 }, { analysis: { prometheus: { address: 'http://127.0.0.1:9090', query: 'sum(rate(errors[1m]))', maxValue: 1, interval: '10s', count: 3, failureLimit: 1 } } }, { setWeight: 100 }],
      waves: { label: 'manyfold.dev/wave', order: ['canary', 'main'], bakeTime: '10m' },
    },
  },
  { kind: 'RatePolicy', what: 'a rate policy', spec: ratePolicy },
  {
    kind: 'RatePolicy',
    what: 'a Demand-mode policy with a floor, a fallback and protocol timings',
    spec: {
      selector: { matchLabels: { app: 'api' } },
      limits: [{ ...perTenant, shareMode: 'Demand', floorPercent: 20, fallbackRequestsPerSecond: 5 }],
      leaseSeconds: 30,
      refreshIntervalMilliseconds: 2000,
      maxClockSkewMilliseconds: 250,
    },
  },
];

export const invalidSamples: readonly InvalidSample[] = [
  { kind: 'Cell', what: 'an unknown state', spec: { ...cell, state: 'Paused' }, field: 'spec.state', mentions: 'Cordoned' },
  { kind: 'Cell', what: 'a negative capacity', spec: { ...cell, capacity: -1 }, field: 'spec.capacity' },
  { kind: 'Cell', what: 'a fractional capacity', spec: { ...cell, capacity: 1.5 }, field: 'spec.capacity' },
  { kind: 'Cell', what: 'no zone', spec: { capacity: 3 }, field: 'spec.zone' },
  { kind: 'Cell', what: 'a zone that is not a DNS label', spec: { ...cell, zone: 'Zone_A' }, field: 'spec.zone' },
  {
    kind: 'Cell',
    what: 'a template resource without kind',
    spec: cellResources({ apiVersion: 'v1', metadata: { name: 'x' } }),
    field: 'spec.template.resources[0].kind',
  },
  {
    kind: 'Cell',
    what: 'a template resource without metadata.name',
    spec: cellResources({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { labels: { a: 'b' } } }),
    field: 'spec.template.resources[0].metadata.name',
  },
  {
    kind: 'Cell',
    what: 'a kind outside the allowed list',
    spec: cellResources({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'x' } }),
    field: 'spec.template.resources[0].kind',
    mentions: 'ConfigMap, Deployment, PodDisruptionBudget, Service, ServiceAccount, StatefulSet',
  },
  {
    kind: 'Cell',
    what: 'a cluster-scoped kind',
    spec: cellResources(configMap('ok'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' } }),
    field: 'spec.template.resources[1].kind',
    mentions: 'Deployment',
  },
  {
    kind: 'Cell',
    what: 'an apiVersion that does not match the kind',
    spec: cellResources({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'x' } }),
    field: 'spec.template.resources[0].apiVersion',
    mentions: 'apps/v1',
  },
  {
    kind: 'Cell',
    what: 'a template resource with a namespace',
    spec: cellResources({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'other' } }),
    field: 'spec.template.resources[0].metadata.namespace',
  },
  {
    kind: 'Cell',
    what: 'two template resources with the same kind and name',
    spec: cellResources(configMap('same'), deployment('same'), configMap('same')),
    field: 'spec.template.resources',
    mentions: 'distinct',
  },
  {
    kind: 'Cell',
    what: 'more than 64 template resources',
    spec: cellResources(...Array.from({ length: 65 }, (_, i) => configMap(`c${i}`))),
    field: 'spec.template.resources',
  },
  { kind: 'FencedLease', what: 'ttlSeconds 0', spec: { ...lease, ttlSeconds: 0 }, field: 'spec.ttlSeconds' },
  { kind: 'FencedLease', what: 'ttlSeconds 1', spec: { ...lease, ttlSeconds: 1 }, field: 'spec.ttlSeconds' },
  { kind: 'FencedLease', what: 'ttlSeconds above 3600', spec: { ...lease, ttlSeconds: 3601 }, field: 'spec.ttlSeconds' },
  { kind: 'FencedLease', what: 'no ttlSeconds', spec: { key: '/x' }, field: 'spec.ttlSeconds' },
  { kind: 'FencedLease', what: 'empty etcd endpoints', spec: { ...lease, etcd: { endpoints: [] } }, field: 'spec.etcd.endpoints' },
  { kind: 'FencedLease', what: 'an etcd block without endpoints', spec: { ...lease, etcd: {} }, field: 'spec.etcd.endpoints' },
  { kind: 'FencedLease', what: 'an endpoint that is not a URL', spec: { ...lease, etcd: { endpoints: ['etcd:2379'] } }, field: 'spec.etcd.endpoints[0]' },
  {
    kind: 'SensorFleet',
    what: 'an unknown source type',
    spec: firstSensor({ source: { type: 'mqtt', path: '/x' } }),
    field: 'spec.sensors[0].source.type',
    mentions: 'simulated',
  },
  { kind: 'SensorFleet', what: 'an unknown sink type', spec: fleetWith({ sink: { type: 'kafka' } }), field: 'spec.sink.type', mentions: 'stdout' },
  { kind: 'SensorFleet', what: 'a negative interval', spec: firstSensor({ intervalMs: -5 }), field: 'spec.sensors[0].intervalMs' },
  { kind: 'SensorFleet', what: 'an interval below 10 ms', spec: firstSensor({ intervalMs: 5 }), field: 'spec.sensors[0].intervalMs' },
  {
    kind: 'SensorFleet',
    what: 'a threshold filter without a threshold',
    spec: firstSensor({ filters: [{ type: 'threshold' }] }),
    field: 'spec.sensors[0].filters[0].threshold',
  },
  {
    kind: 'SensorFleet',
    what: 'a threshold of 0',
    spec: firstSensor({ filters: [{ type: 'threshold', threshold: 0 }] }),
    field: 'spec.sensors[0].filters[0].threshold',
  },
  { kind: 'SensorFleet', what: 'a spool smaller than one record', spec: fleetWith({ spool: { maxBytes: 1024 } }), field: 'spec.spool.maxBytes' },
  {
    kind: 'SensorFleet',
    what: 'two sensors with the same name',
    spec: fleetWith({ sensors: [cpuSensor, { ...demoSensor, name: 'cpu-temp' }] }),
    field: 'spec.sensors[1]',
  },
  { kind: 'SensorFleet', what: 'a file source without a path', spec: firstSensor({ source: { type: 'file' } }), field: 'spec.sensors[0].source.path' },
  {
    kind: 'SensorFleet',
    what: 'a field of another source type',
    spec: firstSensor({ source: { type: 'file', path: '/x', url: 'http://a' } }),
    field: 'spec.sensors[0].source',
    mentions: 'url',
  },
  { kind: 'SensorFleet', what: 'an http sink without a url', spec: fleetWith({ sink: { type: 'http' } }), field: 'spec.sink.url' },
  { kind: 'SensorFleet', what: 'staleAfterSeconds 0', spec: fleetWith({ staleAfterSeconds: 0 }), field: 'spec.staleAfterSeconds' },
  { kind: 'SensorFleet', what: 'no sensors', spec: fleetWith({ sensors: [] }), field: 'spec.sensors' },
  { kind: 'ShardMap', what: 'quorum above replicas', spec: { ...shardMap, quorum: 4 }, field: 'spec.quorum' },
  { kind: 'ShardMap', what: 'failureTolerance equal to replicas', spec: { ...shardMap, failureTolerance: 3 }, field: 'spec.failureTolerance' },
  {
    kind: 'ShardMap',
    what: 'a maxInFlight that is neither a count nor a percentage',
    spec: { ...shardMap, migration: { maxInFlight: 'lots' } },
    field: 'spec.migration.maxInFlight',
  },
  { kind: 'ShardMap', what: 'zero shards', spec: { ...shardMap, shards: 0 }, field: 'spec.shards' },
  { kind: 'ShardMap', what: 'more shards than the maximum', spec: { ...shardMap, shards: 65_537 }, field: 'spec.shards' },
  {
    kind: 'ShardMap',
    what: 'a majority quorum that failureTolerance failures would break (replicas < 2f+1)',
    spec: { shards: 8, replicas: 3, failureTolerance: 2 },
    field: 'spec.replicas',
  },
  { kind: 'ShardMap', what: 'a quorum that failureTolerance failures would break', spec: { ...shardMap, replicas: 5, failureTolerance: 2, quorum: 4 }, field: 'spec.quorum' },
  { kind: 'ShardMap', what: 'maxLoadFactor below 1', spec: { ...shardMap, placement: { maxLoadFactor: 0.9 } }, field: 'spec.placement.maxLoadFactor' },
  { kind: 'ShardMap', what: 'an unknown handoff', spec: { ...shardMap, migration: { handoff: 'Eventually' } }, field: 'spec.migration.handoff' },
  {
    kind: 'FeatureFlag',
    what: 'a default variant that does not exist',
    spec: { ...flag, defaultVariant: 'green' },
    field: 'spec.defaultVariant',
    checkedBy: 'code',
  },
  { kind: 'FeatureFlag', what: 'no variants', spec: { ...flag, variants: {} }, field: 'spec.variants' },
  { kind: 'Rollout', what: 'a step with two actions', spec: { ...rollout, steps: [{ setWeight: 10, pause: {} }] }, field: 'spec.steps[0]' },
  { kind: 'Rollout', what: 'a weight above 100', spec: { ...rollout, steps: [{ setWeight: 101 }] }, field: 'spec.steps[0].setWeight' },
  {
    kind: 'Rollout',
    what: 'a pause duration in unknown units',
    spec: { ...rollout, steps: [{ pause: { duration: '5x' } }] },
    field: 'spec.steps[0].pause.duration',
  },
  {
    kind: 'Rollout',
    what: 'a pause duration of 0',
    spec: { ...rollout, steps: [{ pause: { duration: '0s' } }] },
    field: 'spec.steps[0].pause.duration',
  },
  {
    kind: 'Rollout',
    what: 'waves by label and by selectors at once',
    spec: { ...rollout, waves: { label: 'wave', selectors: [{ name: 'a', cellSelector: {} }] } },
    field: 'spec.waves',
  },
  {
    kind: 'RatePolicy',
    what: 'a rate of 0',
    spec: { ...ratePolicy, limits: [{ ...perTenant, requestsPerSecond: 0 }] },
    field: 'spec.limits[0].requestsPerSecond',
  },
  {
    kind: 'RatePolicy',
    what: 'an unknown scope',
    spec: { ...ratePolicy, limits: [{ ...perTenant, scope: 'Cluster' }] },
    field: 'spec.limits[0].scope',
  },
  {
    kind: 'RatePolicy',
    what: 'a negative rate',
    spec: { ...ratePolicy, limits: [{ ...perTenant, requestsPerSecond: -5 }] },
    field: 'spec.limits[0].requestsPerSecond',
  },
  {
    kind: 'RatePolicy',
    what: 'a burst above the maximum',
    spec: { ...ratePolicy, limits: [{ ...perTenant, burst: 2e9 }] },
    field: 'spec.limits[0].burst',
  },
  {
    kind: 'RatePolicy',
    what: 'shareMode Demand on a PerReplica limit',
    spec: { ...ratePolicy, limits: [{ ...perTenant, scope: 'PerReplica', shareMode: 'Demand' }] },
    field: 'spec.limits[0].shareMode',
    mentions: 'Global',
  },
  {
    kind: 'RatePolicy',
    what: 'a floor without shareMode Demand',
    spec: { ...ratePolicy, limits: [{ ...perTenant, floorPercent: 10 }] },
    field: 'spec.limits[0].floorPercent',
  },
  {
    kind: 'RatePolicy',
    what: 'a fallback above the rate',
    spec: { ...ratePolicy, limits: [{ ...perTenant, fallbackRequestsPerSecond: 101 }] },
    field: 'spec.limits[0].fallbackRequestsPerSecond',
  },
  {
    kind: 'RatePolicy',
    what: 'a refresh interval of a third of the lease or more',
    spec: { ...ratePolicy, leaseSeconds: 3, refreshIntervalMilliseconds: 1000 },
    field: 'spec.refreshIntervalMilliseconds',
  },
  {
    kind: 'RatePolicy',
    what: 'two limits with the same name',
    spec: { ...ratePolicy, limits: [perTenant, perTenant] },
    field: 'spec.limits[1]',
  },
];
