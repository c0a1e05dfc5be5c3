import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseRatePolicySpec } from '../crds/ratepolicy.ts';
import { ENFORCER_LABEL, sharesConfigMapName } from '../legos/ratelimit/document.ts';
import { labelSelectorMatches } from './label-selector.ts';

describe('examples/rate-policy.yaml', () => {
  it('holds a namespace-less RatePolicy valid in shape, the pods it selects and the Role they need', async () => {
    const text = await readFile(new URL('../../examples/rate-policy.yaml', import.meta.url), 'utf8');
    type Doc = { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown>; rules?: { resourceNames?: string[] }[] };
    const docs = parseAllDocuments(text).map((d) => d.toJSON() as Doc);
    expect(docs.map((d) => d.kind)).toEqual(['RatePolicy', 'Deployment', 'ServiceAccount', 'Role', 'RoleBinding']);
    expect(docs.every((d) => d.metadata.namespace === undefined)).toBe(true);
    const parsed = parseRatePolicySpec(docs[0]?.spec);
    if (!parsed.ok) throw new Error(parsed.message);
    const podLabels = ((docs[1]?.spec?.['template'] as { metadata: { labels: Record<string, string> } }).metadata.labels);
    expect(labelSelectorMatches(parsed.value.selector, podLabels)).toBe(true);
    expect(podLabels).toHaveProperty([ENFORCER_LABEL]); // the operator sees only pods with it
    expect(docs[3]?.rules?.[0]?.resourceNames).toEqual([sharesConfigMapName(docs[0]?.metadata.name ?? '')]);
  });
});
