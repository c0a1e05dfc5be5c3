import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/types.ts';
import { labelsChanged } from './sensorfleet.ts';

const node = (labels?: Record<string, string>, status = 'a'): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', ...(labels ? { labels } : {}) }, status });

describe('the SensorFleet Node watch', () => {
  it('maps a Node update only when its labels changed, not its status heartbeats', () => {
    expect(labelsChanged(node({ a: '1' }, 'x'), node({ a: '1' }, 'y'))).toBe(false);
    expect(labelsChanged(node(undefined), node({}))).toBe(false);
    expect(labelsChanged(node({ a: '1' }), node({ a: '2' }))).toBe(true);
    expect(labelsChanged(node({ a: '1' }), node({ a: '1', b: '1' }))).toBe(true);
    expect(labelsChanged(node({ a: '1', b: '1' }), node({ a: '1' }))).toBe(true);
    expect(labelsChanged(node({ a: '1' }), node({ b: '1' }))).toBe(true);
  });
});
