import { describe, expect, it } from 'vitest';
import { allKinds, customResourceDefinition, GROUP, openApiSchemaOf, VERSION, type KindDefinition } from './index.ts';
import type { SchemaNode } from './openapi.ts';
import { structuralProblems } from './structural.ts';

/** The API contract of DESIGN.md: short name, spec fields and status fields per kind. */
const contract: Record<string, { short: string; spec: string[]; status: string[] }> = {
  Cell: { short: 'cell', spec: ['zone', 'capacity', 'state', 'template.resources'], status: ['phase', 'resources', 'placements'] },
  FencedLease: {
    short: 'flease',
    spec: ['ttlSeconds', 'etcd.endpoints', 'key'],
    status: ['holder', 'fencingToken', 'acquireTime', 'renewTime', 'expireTime', 'transitions'],
  },
  ShardMap: {
    short: 'smap',
    spec: ['shards', 'replicas', 'failureTolerance', 'quorum', 'cellSelector', 'placement.maxLoadFactor', 'placement.spreadBy', 'migration.maxInFlight'],
    status: ['epoch', 'routingConfigMap', 'members', 'balance.maxLoadRatio', 'migrations', 'lastRebalance.moves', 'lastRebalance.lowerBound'],
  },
  FeatureFlag: { short: 'flag', spec: ['variants', 'defaultVariant', 'safeVariant', 'state', 'targeting'], status: ['distribution', 'configMap', 'version'] },
  Rollout: {
    short: 'mro',
    spec: ['flagRef.name', 'variant', 'steps[].setWeight', 'steps[].pause', 'steps[].analysis', 'cellSelector'],
    status: ['phase', 'currentStepIndex', 'currentWeight'],
  },
  RatePolicy: {
    short: 'rpol',
    spec: ['selector', 'limits[].name', 'limits[].key', 'limits[].requestsPerSecond', 'limits[].burst', 'limits[].scope'],
    status: ['replicas', 'shares', 'version'],
  },
  SensorFleet: {
    short: 'sfleet',
    spec: ['nodeSelector', 'tolerations', 'sensors[].name', 'sensors[].source', 'sensors[].intervalMs', 'sensors[].filters', 'spool', 'sink', 'staleAfterSeconds'],
    status: ['desiredNodes', 'readyNodes', 'reportingNodes', 'staleNodes', 'backlogRecords', 'lastSampleTime'],
  },
};

/** The schema at `path` (`a.b`, `list[].field`) below `node`, or undefined. */
function at(node: SchemaNode, path: string): SchemaNode | undefined {
  let current: SchemaNode | undefined = node;
  for (const part of path.split('.')) {
    const name = part.replace(/\[\]$/, '');
    current = (current?.['properties'] as Record<string, SchemaNode> | undefined)?.[name];
    if (part.endsWith('[]')) current = current?.['items'] as SchemaNode | undefined;
  }
  return current;
}

function* walk(node: SchemaNode): Generator<SchemaNode> {
  yield node;
  for (const child of Object.values((node['properties'] ?? {}) as Record<string, SchemaNode>)) yield* walk(child);
  if (node['items'] !== undefined) yield* walk(node['items'] as SchemaNode);
  if (typeof node['additionalProperties'] === 'object') yield* walk(node['additionalProperties'] as SchemaNode);
}

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: object };
      additionalPrinterColumns: { name: string; jsonPath: string }[];
      schema: { openAPIV3Schema: SchemaNode };
    }[];
  };
}

describe.each(allKinds.map((def) => [def.kind, def] as [string, KindDefinition]))('%s', (kind, def) => {
  const crd = customResourceDefinition(def) as unknown as Crd;
  const [version] = crd.spec.versions;
  const schema = openApiSchemaOf(def);

  it('is a namespaced manyfold.dev/v1alpha1 kind in the manyfold category with the contract short name', () => {
    expect(crd.metadata.name).toBe(`${def.plural}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toEqual({
      kind,
      listKind: `${kind}List`,
      plural: def.plural,
      singular: kind.toLowerCase(),
      shortNames: [contract[kind]?.short],
      categories: ['manyfold'],
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: VERSION, served: true, storage: true, subresources: { status: {} } });
  });

  it('has printer columns for Ready and Age after its own', () => {
    const columns = version?.additionalPrinterColumns ?? [];
    expect(columns.length).toBeGreaterThanOrEqual(4);
    expect(columns.find((c) => c.name === 'Ready')?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
    expect(columns.at(-1)).toMatchObject({ name: 'Age', jsonPath: '.metadata.creationTimestamp' });
    for (const column of columns) {
      const path = column.jsonPath.replace(/\[[^\]]*\]/g, '[]').replace(/^\./, '');
      if (path.startsWith('spec.') || path.startsWith('status.')) expect(at(schema, path), column.jsonPath).toBeDefined();
    }
  });

  it('has a structural schema with descriptions on every field', () => {
    expect(structuralProblems(schema)).toEqual([]);
  });

  it('writes no defaults into the schema (defaults live in code)', () => {
    for (const node of walk(schema)) expect(node).not.toHaveProperty('default');
  });

  it('has the spec and status fields of the API contract', () => {
    for (const field of contract[kind]?.spec ?? []) expect(at(schema, `spec.${field}`), `spec.${field}`).toBeDefined();
    for (const field of contract[kind]?.status ?? []) expect(at(schema, `status.${field}`), `status.${field}`).toBeDefined();
  });

  it('has observedGeneration, epoch and Kubernetes conditions in its status', () => {
    expect(at(schema, 'status.observedGeneration')?.['type']).toBe('integer');
    expect(at(schema, 'status.epoch')?.['type']).toBe('string');
    const conditions = at(schema, 'status.conditions');
    expect(conditions).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(Object.keys((at(schema, 'status.conditions[]')?.['properties'] ?? {})).sort()).toEqual(
      ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type'].sort(),
    );
  });

  it('bounds every list so CEL cost estimates stay finite', () => {
    for (const node of walk(schema)) if (node['type'] === 'array') expect(node['maxItems'], JSON.stringify(node['description'])).toBeTypeOf('number');
  });
});

describe('all kinds', () => {
  it('are the seven kinds of the contract, with distinct plurals and short names', () => {
    expect(allKinds.map((k) => k.kind).sort()).toEqual(Object.keys(contract).sort());
    expect(new Set(allKinds.map((k) => k.plural)).size).toBe(allKinds.length);
    expect(new Set(allKinds.flatMap((k) => k.shortNames)).size).toBe(allKinds.length);
  });
});
