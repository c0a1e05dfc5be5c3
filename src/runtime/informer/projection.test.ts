import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../kube/types.ts';
import { childReadiness } from '../../reconcilers/cell.ts';
import { Summary } from './projection.ts';
import { StringTable } from './strings.ts';

const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

function deployment(overrides: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'shop-web',
      namespace: 'a',
      uid: 'u1',
      resourceVersion: '7',
      generation: 3,
      labels: { 'manyfold.dev/cell': 'shop' },
      annotations: { 'manyfold.dev/template-generation': '2', [lastApplied]: '{"big":"x"}' },
      ownerReferences: [{ apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', name: 'shop', uid: 'c1', controller: true }],
      managedFields: [{ manager: 'x' }],
    },
    spec: { replicas: 2, paused: false, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    status: { observedGeneration: 3, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Available', status: 'True' }] },
    ...overrides,
  };
}

describe('Summary projection', () => {
  it('keeps every value when it shares strings through a table', () => {
    const table = new StringTable();
    const a = Summary.project(deployment(), table);
    const b = Summary.project(JSON.parse(JSON.stringify(deployment())) as KubeObject, table);
    expect(a).toEqual(Summary.project(deployment()));
    expect(b).toEqual(a);
    expect(table.size).toBeGreaterThan(0);
  });

  it('drops the pod template, managedFields and the last-applied annotation, keeps what readiness and ownership read', () => {
    const input = deployment();
    const out = Summary.project(input);
    expect(out.spec).toEqual({ replicas: 2, paused: false, selector: { matchLabels: { app: 'web' } } });
    expect(out.metadata.managedFields).toBeUndefined();
    expect(out.metadata.annotations).toEqual({ 'manyfold.dev/template-generation': '2' });
    expect(out.metadata.ownerReferences).toEqual(input.metadata.ownerReferences);
    expect(out.metadata.labels).toEqual(input.metadata.labels);
    expect(out.status).toEqual(input.status);
    expect(out.apiVersion).toBe('apps/v1');
    expect(out.kind).toBe('Deployment');
  });

  it('leaves its input unchanged', () => {
    const input = deployment();
    const copy = structuredClone(input);
    Summary.project(input);
    expect(input).toEqual(copy);
  });

  it('drops ConfigMap data and keeps only the conditions of EndpointSlice endpoints', () => {
    const cm = Summary.project({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' }, binaryData: { x: 'eQ==' }, immutable: true });
    expect(cm).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, immutable: true });
    const slice = Summary.project({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's' },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'p' } }, { addresses: ['10.0.0.2'] }],
      ports: [{ port: 80 }],
    });
    expect(slice).toEqual({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ conditions: { ready: true } }, { conditions: undefined }] });
  });

  it('keeps annotations untouched (same object) when there is nothing bulky to drop', () => {
    const input = deployment();
    const annotations = { 'manyfold.dev/template-generation': '2' };
    const out = Summary.project({ ...input, metadata: { ...input.metadata, annotations } });
    expect(out.metadata.annotations).toBe(annotations);
  });

  it('never changes a child readiness verdict (Deployment, StatefulSet, Service, ConfigMap)', () => {
    const count = fc.option(fc.nat({ max: 5 }), { nil: undefined });
    const child = fc.record({
      kind: fc.constantFrom('Deployment', 'StatefulSet', 'Service', 'ConfigMap'),
      generation: fc.nat({ max: 4 }),
      spec: fc.record(
        {
          replicas: count,
          type: fc.constantFrom('ClusterIP', 'ExternalName', 'NodePort'),
          selector: fc.option(fc.constant({ app: 'web' }), { nil: undefined }),
          template: fc.constant({ spec: { containers: [{ name: 'web' }] } }),
          ports: fc.constant([{ port: 80 }]),
        },
        { requiredKeys: [] },
      ),
      status: fc.record(
        {
          observedGeneration: count,
          replicas: count,
          updatedReplicas: count,
          readyReplicas: count,
          availableReplicas: count,
          conditions: fc.array(
            fc.record({ type: fc.constantFrom('Progressing', 'ReplicaFailure', 'Available'), status: fc.constantFrom('True', 'False'), reason: fc.constantFrom('ProgressDeadlineExceeded', 'NewReplicaSetAvailable'), message: fc.string({ maxLength: 8 }) }),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: [] },
      ),
      readyEndpoints: count,
    });
    fc.assert(
      fc.property(child, ({ kind, generation, spec, status, readyEndpoints }) => {
        const object: KubeObject = { apiVersion: 'v1', kind, metadata: { name: 'x', generation }, spec, status };
        const projected = Summary.project(object);
        expect(projected.spec).not.toHaveProperty('template');
        // Sharing strings changes no value a reader sees, and does not touch the input.
        const input = structuredClone(object);
        expect(Summary.project(object, new StringTable({ capacity: 3 }))).toEqual(projected);
        expect(object).toEqual(input);
        expect(childReadiness(projected, { readyEndpoints })).toEqual(childReadiness(object, { readyEndpoints }));
      }),
    );
  });
});
