import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseSensorFleetSpec } from '../crds/sensorfleet.ts';
import { checkFleetMeaning } from './sensorfleet-agent.ts';

describe('examples/sensor-fleet.yaml', () => {
  it('holds a namespace-less SensorFleet that is valid in shape and meaning, with its collector', async () => {
    const text = await readFile(new URL('../../examples/sensor-fleet.yaml', import.meta.url), 'utf8');
    const docs = parseAllDocuments(text).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string }; spec: unknown });
    expect(docs.map((d) => d.kind)).toEqual(['SensorFleet', 'Deployment', 'Service']);
    expect(docs.every((d) => d.metadata.namespace === undefined)).toBe(true);
    const fleet = docs[0];
    const parsed = parseSensorFleetSpec(fleet?.spec);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(checkFleetMeaning({ name: fleet?.metadata.name ?? '', spec: parsed.value })).toEqual([]);
    expect(parsed.value.sensors.map((s) => s.source.type).sort()).toEqual(['file', 'simulated']);
    expect(parsed.value.sensors.some((s) => s.filters.some((f) => f.type === 'threshold'))).toBe(true);
    expect(parsed.value.sink).toMatchObject({ type: 'http', url: 'http://sensor-collector:8080/ingest' });
    expect(docs[2]?.metadata.name).toBe('sensor-collector');
  });
});
