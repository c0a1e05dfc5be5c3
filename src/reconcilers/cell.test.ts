import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CellSpec } from '../crds/cell.ts';
import { jsonEqual } from '../legos/conditions.ts';
import { CellLabel, cellStatus, childKey, childName, childReadiness, planCell, type ApplyOutcome, type CellObservation, type ObservedChild } from './cell.ts';

const owner = { apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell' };
const kinds = ['Deployment', 'Service', 'ConfigMap'] as const;
const apiVersions: Record<string, string> = { Deployment: 'apps/v1', Service: 'v1', ConfigMap: 'v1' };

const resourcesArb = fc
  .uniqueArray(fc.record({ kind: fc.constantFrom(...kinds), name: fc.constantFrom('web', 'api', 'cfg', 'db') }), { selector: (r) => `${r.kind}/${r.name}`, maxLength: 6 })
  .map((rs) => rs.map((r) => ({ apiVersion: apiVersions[r.kind] ?? 'v1', kind: r.kind, metadata: { name: r.name } })));

const observationArb = fc
  .record({
    resources: resourcesArb,
    state: fc.constantFrom('Active', 'Cordoned', 'Draining'),
    placements: fc.nat({ max: 5 }),
    generation: fc.integer({ min: 1, max: 5 }),
    killSwitch: fc.boolean(),
    extra: fc.array(fc.record({ kind: fc.constantFrom(...kinds), name: fc.constantFrom('old', 'web', 'gone') }), { maxLength: 3 }),
    readiness: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    childGenerations: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 10, maxLength: 10 }),
  })
  .map(({ resources, state, placements, generation, killSwitch, extra, readiness, childGenerations }): CellObservation => {
    const spec = { zone: 'zone-a', capacity: 100, state, template: { resources } } as unknown as CellSpec;
    const existing = [...resources.map((r) => ({ kind: r.kind, name: r.metadata.name })), ...extra];
    const seen = new Set<string>();
    const children: ObservedChild[] = [];
    existing.forEach((r, i) => {
      const name = childName('c', r.name);
      if (seen.has(childKey(r.kind, name))) return;
      seen.add(childKey(r.kind, name));
      children.push({ apiVersion: apiVersions[r.kind] ?? 'v1', kind: r.kind, name, ready: readiness[i % 10] ?? true, templateGeneration: childGenerations[i % 10] });
    });
    return {
      name: 'c',
      namespace: 'ns',
      uid: 'uid-1',
      generation,
      spec: { ok: true, value: spec },
      status: undefined,
      children,
      placements,
      killSwitch: killSwitch ? { engaged: true, scope: 'resource' } : { engaged: false },
    };
  });

const allOk = (obs: CellObservation) => {
  const plan = planCell(obs, owner);
  return { plan, outcomes: new Map<string, ApplyOutcome>(plan.apply.map((d) => [d.key, { ok: true }])) };
};

describe('planCell', () => {
  it('applies every template resource as <cell>-<name>, labelled and owned, and prunes only what left the template', () => {
    fc.assert(
      fc.property(observationArb, (obs) => {
        const plan = planCell(obs, owner);
        if (obs.killSwitch.engaged) {
          expect(plan.apply).toEqual([]);
          expect(plan.delete).toEqual([]);
          return;
        }
        const spec = obs.spec.ok ? obs.spec.value : undefined;
        expect(plan.apply.map((d) => d.object.metadata['name'])).toEqual(spec?.template.resources.map((r) => `c-${r.metadata.name}`));
        for (const d of plan.apply) {
          expect((d.object.metadata['labels'] as Record<string, string>)[CellLabel]).toBe('c');
          expect(d.object.metadata['namespace']).toBe('ns');
          expect((d.object.metadata['ownerReferences'] as { uid: string; controller: boolean }[])[0]).toMatchObject({ uid: 'uid-1', controller: true });
        }
        const wanted = new Set(plan.apply.map((d) => d.key));
        expect(plan.delete.every((c) => !wanted.has(childKey(c.kind, c.name)))).toBe(true);
        expect(obs.children.filter((c) => !wanted.has(childKey(c.kind, c.name)))).toEqual(plan.delete);
      }),
    );
  });
});

describe('cellStatus', () => {
  it('is Drained exactly when draining with no placements, and Ready=True exactly when every resource is current and ready', () => {
    fc.assert(
      fc.property(observationArb, (obs) => {
        const { plan, outcomes } = allOk(obs);
        const { status } = cellStatus(obs, plan, outcomes, '2026-01-01T00:00:00Z');
        const spec = obs.spec.ok ? obs.spec.value : undefined;
        if (spec?.state === 'Draining') expect(status.phase).toBe(obs.placements === 0 ? 'Drained' : 'Draining');
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        expect(ready?.status === 'True').toBe((status.resources ?? []).every((r) => r.ready));
        for (const r of status.resources ?? []) {
          const child = obs.children.find((c) => c.kind === r.kind && c.name === r.name);
          const current = obs.killSwitch.engaged || child?.templateGeneration === obs.generation;
          expect(r.ready).toBe(Boolean(child?.ready && current));
        }
        expect(status.observedGeneration).toBe(obs.generation);
      }),
    );
  });

  it('is idempotent: recomputing from its own output changes nothing (no self-triggered writes)', () => {
    fc.assert(
      fc.property(observationArb, (obs) => {
        const { plan, outcomes } = allOk(obs);
        const first = cellStatus(obs, plan, outcomes, '2026-01-01T00:00:00Z').status;
        const second = cellStatus({ ...obs, status: first }, plan, outcomes, '2026-01-01T00:09:00Z').status;
        expect(jsonEqual(first, second)).toBe(true);
      }),
    );
  });

  it('reports InvalidTemplate with the server message and keeps the other outcomes', () => {
    fc.assert(
      fc.property(observationArb.filter((o) => !o.killSwitch.engaged && o.spec.ok && o.spec.value.template.resources.length >= 2), (obs) => {
        const { plan, outcomes } = allOk(obs);
        const broken = plan.apply[0]?.key ?? '';
        outcomes.set(broken, { ok: false, invalid: true, message: 'spec.replicas: Invalid value: -1' });
        const { status } = cellStatus(obs, plan, outcomes, 'now');
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        expect(ready).toMatchObject({ status: 'False', reason: 'InvalidTemplate' });
        expect(ready?.message).toContain('spec.replicas');
        expect(status.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('True');
        expect(status.observedTemplateGeneration).toBeUndefined();
      }),
    );
  });

  it('reports InvalidSpec naming the field', () => {
    const obs: CellObservation = {
      name: 'c', namespace: 'ns', uid: 'u', generation: 2, status: undefined, children: [], placements: 0, killSwitch: { engaged: false },
      spec: { ok: false, message: 'spec.zone: must be a DNS label' },
    };
    const { status } = cellStatus(obs, planCell(obs, owner), new Map(), 'now');
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.zone: must be a DNS label' });
  });
});

describe('childReadiness', () => {
  it('judges Deployments by observed generation and ready, updated, available replicas', () => {
    const d = (status: Record<string, unknown>, generation = 2) => childReadiness({ kind: 'Deployment', metadata: { generation }, spec: { replicas: 2 }, status });
    expect(d({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }).ready).toBe(true);
    expect(d({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }).ready).toBe(false);
    expect(d({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, readyReplicas: 3, availableReplicas: 3 }).ready).toBe(false);
    expect(d({ observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'stuck' }] })).toMatchObject({ ready: false, failed: true });
  });

  it('judges Services by ready endpoints', () => {
    expect(childReadiness({ kind: 'Service', metadata: {}, spec: { selector: { a: 'b' } } }, { readyEndpoints: 0 }).ready).toBe(false);
    expect(childReadiness({ kind: 'Service', metadata: {}, spec: { selector: { a: 'b' } } }, { readyEndpoints: 2 }).ready).toBe(true);
    expect(childReadiness({ kind: 'ConfigMap', metadata: {} }).ready).toBe(true);
  });
});

describe('cell isolation', () => {
  it('scopes Deployment, Service and PDB selectors to the cell so cells in one namespace share no pods', () => {
    const spec = {
      zone: 'zone-a',
      capacity: 100,
      state: 'Active',
      template: {
        resources: [
          { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' } } },
          { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } } } },
        ],
      },
    } as unknown as CellSpec;
    const obs: CellObservation = { name: 'c1', namespace: 'ns', uid: 'u', generation: 1, spec: { ok: true, value: spec }, status: undefined, children: [], placements: 0, killSwitch: { engaged: false } };
    const [deployment, service, pdb] = planCell(obs, owner).apply.map((d) => d.object['spec'] as Record<string, Record<string, unknown>>);
    expect(deployment?.['selector']).toEqual({ matchLabels: { app: 'web', [CellLabel]: 'c1' } });
    expect((deployment?.['template']?.['metadata'] as { labels: Record<string, string> }).labels).toEqual({ app: 'web', [CellLabel]: 'c1' });
    expect(service?.['selector']).toEqual({ app: 'web', [CellLabel]: 'c1' });
    expect(pdb?.['selector']).toEqual({ matchLabels: { app: 'web', [CellLabel]: 'c1' } });
  });
});
