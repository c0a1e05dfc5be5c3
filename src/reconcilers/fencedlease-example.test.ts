import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { leaseKey, parseFencedLeaseSpec } from '../crds/fencedlease.ts';
import { resolveLeaseTarget } from './fencedlease-target.ts';

describe('examples/fenced-lease.yaml', () => {
  it('holds a namespace-less FencedLease, usable on the operator default etcd, whose comment acquires the same key and TTL', async () => {
    const text = await readFile(new URL('../../examples/fenced-lease.yaml', import.meta.url), 'utf8');
    const docs = parseAllDocuments(text).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string }; spec: unknown });
    expect(docs.map((d) => d.kind)).toEqual(['FencedLease']);
    const lease = docs[0];
    expect(lease?.metadata.namespace).toBeUndefined();
    const parsed = parseFencedLeaseSpec(lease?.spec);
    if (!parsed.ok) throw new Error(parsed.message);
    const target = resolveLeaseTarget({ namespace: 'payments', name: lease?.metadata.name ?? '', spec: parsed.value, defaultEndpoints: ['http://127.0.0.1:2379'] });
    if (!target.ok) throw new Error(target.message);
    expect(target.value.endpointsFrom).toBe('operator');
    // The TypeScript in the comment must acquire what the object declares.
    expect(text).toContain(`leases.acquire('${lease?.metadata.name ?? ''}'`);
    expect(text).toContain(`key: '${leaseKey(parsed.value, { namespace: 'payments', name: lease?.metadata.name ?? '' })}'`);
    expect(text).toContain(`ttlSeconds: ${parsed.value.ttlSeconds},`);
    expect(parsed.value.allowedHolders).toContain('payments-0');
  });
});
