import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManyfoldResources } from '../../src/crds/index.ts';
import { evaluateHealth, loadHealthChecks, type HealthStatus } from '../../test/support/argocd-health.ts';

type Condition = { type: string; status: string; reason?: string; message?: string };

function object(kind: string, options: { generation?: number; observedGeneration?: number; conditions?: Condition[] } = {}) {
  return {
    apiVersion: 'manyfold.dev/v1alpha1',
    kind,
    metadata: { name: 'x', namespace: 'default', generation: options.generation ?? 2 },
    ...(options.observedGeneration === undefined ? {} : { status: { observedGeneration: options.observedGeneration, conditions: options.conditions ?? [] } }),
  };
}

let checks: Map<string, string>;
beforeAll(async () => {
  checks = await loadHealthChecks();
});

describe('deploy/argocd/health-checks.yaml', () => {
  it('has a check for every Manyfold kind', () => {
    expect([...checks.keys()].sort()).toEqual(Object.keys(ManyfoldResources).sort());
  });

  describe.each(Object.keys(ManyfoldResources))('%s', (kind) => {
    const health = (options: Parameters<typeof object>[1]) => evaluateHealth(checks.get(kind) ?? '', object(kind, options));

    it('is Progressing until the operator has observed the current generation', () => {
      expect(health({})).toEqual({ status: 'Progressing', message: 'Waiting for the operator to observe this resource' });
      expect(health({ observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'AllResourcesReady' }] })).toEqual({ status: 'Progressing', message: 'Waiting for the operator to observe generation 2' });
    });

    it('is Healthy when Ready=True, and carries its reason and message', () => {
      expect(health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'AllResourcesReady', message: '2 resource(s) ready' }] })).toEqual({ status: 'Healthy', message: 'AllResourcesReady: 2 resource(s) ready' });
    });

    it('is Degraded for an invalid spec or template, or a Degraded=True condition', () => {
      expect(health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.ttlSeconds: must be at least 2' }] }).status).toBe('Degraded');
      expect(health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidTemplate' }] }).status).toBe('Degraded');
      expect(health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'AllResourcesReady' }, { type: 'Degraded', status: 'True', reason: 'ResourceFailed', message: 'web: ProgressDeadlineExceeded' }] })).toEqual({ status: 'Degraded', message: 'ResourceFailed: web: ProgressDeadlineExceeded' });
    });

    it('is Suspended while a kill switch holds it', () => {
      const halted = health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'AllResourcesReady' }, { type: 'Progressing', status: 'False', reason: 'KillSwitchEngaged', message: 'kill switch engaged (namespace)' }] });
      expect(halted).toEqual({ status: 'Suspended', message: 'KillSwitchEngaged: kill switch engaged (namespace)' });
    });

    it('is Progressing while Ready is False for another reason, or missing', () => {
      expect(health({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', reason: 'EtcdUnavailable', message: 'connect ECONNREFUSED' }] })).toEqual({ status: 'Progressing', message: 'EtcdUnavailable: connect ECONNREFUSED' });
      expect(health({ observedGeneration: 2, conditions: [] })).toEqual({ status: 'Progressing', message: 'No Ready condition yet' });
    });
  });

  it('never fails on any condition list, and its verdict follows the documented precedence', () => {
    const script = checks.get('Cell') ?? '';
    const condition = fc.record(
      {
        type: fc.constantFrom('Ready', 'Degraded', 'Progressing', 'Enforcing', 'AcceptingPlacements'),
        status: fc.constantFrom('True', 'False', 'Unknown'),
        reason: fc.constantFrom('AllResourcesReady', 'InvalidSpec', 'InvalidTemplate', 'KillSwitchEngaged', 'ResourcesNotReady', 'a "quoted" \\ reason\n'),
        message: fc.string(),
      },
      { requiredKeys: ['type', 'status'] },
    );
    fc.assert(
      fc.property(fc.array(condition, { maxLength: 6 }), (conditions) => {
        const { status } = evaluateHealth(script, object('Cell', { observedGeneration: 2, conditions }));
        const ready = conditions.filter((c) => c.type === 'Ready').at(-1);
        const expected: HealthStatus = conditions.some((c) => c.type === 'Degraded' && c.status === 'True') || (ready !== undefined && ready.status !== 'True' && (ready.reason === 'InvalidSpec' || ready.reason === 'InvalidTemplate'))
          ? 'Degraded'
          : conditions.some((c) => c.status === 'False' && c.reason === 'KillSwitchEngaged')
            ? 'Suspended'
            : ready?.status === 'True'
              ? 'Healthy'
              : 'Progressing';
        expect(status).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });

  describe('Rollout phases', () => {
    const rollout = (phase: string, conditions: Condition[] = [{ type: 'Ready', status: 'True', reason: phase, message: 'm' }]) => ({
      ...object('Rollout', { observedGeneration: 2, conditions }),
      status: { observedGeneration: 2, phase, message: `at ${phase}`, conditions },
    });
    it('Paused (pause step, inconclusive analysis, kill switch) is Suspended', () => {
      expect(evaluateHealth(checks.get('Rollout') ?? '', rollout('Paused'))).toEqual({ status: 'Suspended', message: 'Paused: at Paused' });
    });
    it('Aborted and Degraded are Degraded, whatever Ready says', () => {
      expect(evaluateHealth(checks.get('Rollout') ?? '', rollout('Aborted', [{ type: 'Ready', status: 'False', reason: 'Aborted', message: 'query returned 7' }])).status).toBe('Degraded');
      expect(evaluateHealth(checks.get('Rollout') ?? '', rollout('Degraded', [{ type: 'Ready', status: 'False', reason: 'FlagNotFound', message: 'x' }])).status).toBe('Degraded');
    });
    it('Progressing is Healthy while Ready=True; Completed is Healthy', () => {
      expect(evaluateHealth(checks.get('Rollout') ?? '', rollout('Progressing')).status).toBe('Healthy');
      expect(evaluateHealth(checks.get('Rollout') ?? '', rollout('Completed')).status).toBe('Healthy');
    });
    it('a FeatureFlag held by a kill switch is Suspended; refused targeting is Degraded', () => {
      const flag = (conditions: Condition[]) => evaluateHealth(checks.get('FeatureFlag') ?? '', object('FeatureFlag', { observedGeneration: 2, conditions }));
      expect(flag([{ type: 'Ready', status: 'True', reason: 'Published' }, { type: 'Progressing', status: 'False', reason: 'KillSwitchEngaged', message: 'm' }]).status).toBe('Suspended');
      expect(flag([{ type: 'Ready', status: 'False', reason: 'InvalidTargeting' }, { type: 'Degraded', status: 'True', reason: 'InvalidTargeting', message: 'spec.targeting.if[0]' }]).status).toBe('Degraded');
    });
  });

  describe('ShardMap', () => {
    const health = (conditions: Condition[]) => evaluateHealth(checks.get('ShardMap') ?? '', object('ShardMap', { observedGeneration: 2, conditions }));
    const ready: Condition = { type: 'Ready', status: 'True', reason: 'Published', message: 'routing version 7' };

    it('is Progressing while rebalancing, Healthy once balanced', () => {
      expect(health([ready, { type: 'Rebalancing', status: 'True', reason: 'MovesInFlight', message: '3 moves in flight, 40 to go' }])).toEqual({ status: 'Progressing', message: 'MovesInFlight: 3 moves in flight, 40 to go' });
      expect(health([ready, { type: 'Rebalancing', status: 'False', reason: 'Balanced', message: 'every replica placed' }])).toEqual({ status: 'Healthy', message: 'Published: routing version 7' });
    });

    it('is Suspended under the kill switch even with moves in flight, Degraded with too few members', () => {
      expect(
        health([ready, { type: 'Rebalancing', status: 'True', reason: 'KillSwitchEngaged', message: 'frozen' }, { type: 'Enforcing', status: 'False', reason: 'KillSwitchEngaged', message: 'kill switch engaged (resource)' }]).status,
      ).toBe('Suspended');
      expect(health([{ type: 'Ready', status: 'False', reason: 'InsufficientMembers', message: 'replicas 3 need 3 Cells; the selector picks 2' }])).toEqual({
        status: 'Degraded',
        message: 'InsufficientMembers: replicas 3 need 3 Cells; the selector picks 2',
      });
    });

    it('is Degraded, naming spec.shards, when a change of the shard count is refused; Degraded=False does not count', () => {
      const refused = 'spec.shards: changed from 256 to 512 after routing version 7 was published with 256 shards; set spec.shards back to 256';
      expect(
        health([
          { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: refused },
          { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: refused },
          { type: 'Rebalancing', status: 'True', reason: 'InvalidSpec', message: '0 moves in flight, 12 to go' },
        ]),
      ).toEqual({ status: 'Degraded', message: `InvalidSpec: ${refused}` });
      expect(health([ready, { type: 'Degraded', status: 'False', reason: 'SpecValid', message: 'the spec is valid' }, { type: 'Rebalancing', status: 'False', reason: 'Balanced', message: 'ok' }]).status).toBe('Healthy');
    });
  });

  describe('RatePolicy, with the conditions its controller writes', () => {
    const health = (conditions: Condition[]) => evaluateHealth(checks.get('RatePolicy') ?? '', object('RatePolicy', { observedGeneration: 2, conditions }));
    const converged: Condition = { type: 'Converging', status: 'False', reason: 'Converged', message: 'every Ready replica holds its share' };

    it('is Healthy with shares published, also while a transition waits for acknowledgements', () => {
      expect(health([{ type: 'Ready', status: 'True', reason: 'SharesPublished', message: 'version 3 for 4 Ready replica(s)' }, converged])).toEqual({ status: 'Healthy', message: 'SharesPublished: version 3 for 4 Ready replica(s)' });
      expect(health([{ type: 'Ready', status: 'True', reason: 'SharesPublished', message: 'v' }, { type: 'Converging', status: 'True', reason: 'WaitingForAcks', message: 'waiting for 2 replica(s)' }]).status).toBe('Healthy');
    });

    it('is Progressing while no pod is Ready, Degraded for an invalid spec, Suspended under the kill switch', () => {
      expect(health([{ type: 'Ready', status: 'False', reason: 'NoReplicas', message: 'the selector matches 0 pod(s), none Ready: no shares published' }]).status).toBe('Progressing');
      expect(health([{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.limits[0].requestsPerSecond: must be > 0' }, { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: 'x' }]).status).toBe('Degraded');
      expect(health([{ type: 'Ready', status: 'True', reason: 'SharesPublished', message: 'v' }, { type: 'Converging', status: 'False', reason: 'KillSwitchEngaged', message: 'kill switch engaged (resource): shares stay as published at version 3' }])).toEqual({
        status: 'Suspended',
        message: 'KillSwitchEngaged: kill switch engaged (resource): shares stay as published at version 3',
      });
    });
  });
});
