import { describe, expect, it } from 'vitest';
import { ENFORCER_LABEL } from '../legos/ratelimit/document.ts';
import { enforcerPods } from './ratepolicy.ts';

describe('RatePolicy pod cache', () => {
  it('watches only labelled pods and keeps of each what the decider reads', () => {
    expect(enforcerPods.labelSelector).toBe(ENFORCER_LABEL);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api-1', namespace: 'shop', uid: 'u1', resourceVersion: '42', labels: { app: 'api', [ENFORCER_LABEL]: 'true' }, annotations: { big: 'x'.repeat(4096) }, deletionTimestamp: '2026-01-01T00:00:00Z', ownerReferences: [] },
      spec: { containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: 'secret-ish' }] }] },
      status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True', lastTransitionTime: 't' }] },
    };
    const kept = enforcerPods.projection!.project(pod);
    expect(kept).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api-1', namespace: 'shop', uid: 'u1', resourceVersion: '42', labels: { app: 'api', [ENFORCER_LABEL]: 'true' }, deletionTimestamp: '2026-01-01T00:00:00Z' },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(JSON.stringify(kept).length).toBeLessThan(JSON.stringify(pod).length / 10);
    const { deletionTimestamp: _, ...alive } = pod.metadata;
    const notReady = enforcerPods.projection!.project({ ...pod, metadata: alive, status: {} });
    expect(notReady).toMatchObject({ status: { conditions: [] } });
    expect(notReady.metadata).not.toHaveProperty('deletionTimestamp');
  });
});
