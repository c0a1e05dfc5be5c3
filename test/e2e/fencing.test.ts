/**
 * Fencing, end to end: two `manyfold operator` processes; the leader is frozen with
 * SIGSTOP until the other takes over, then resumed. Two independent witnesses show
 * that no write the old leader sent after the new leader published its epoch landed:
 * the API server's audit log (every such request failed) and watches on every kind the
 * operator writes in the namespace (no version stamped with an older epoch was stored).
 * The old leader steps down.
 *
 * Two variants, each of which must see the old leader attempt writes after the new
 * epoch was published (or it proves nothing):
 * - a leader with normal timings, frozen while its writes are in flight: it talks to the
 *   API server through a proxy that holds what it sends, it is given work, and it is
 *   SIGSTOPped with those requests still in the proxy; they reach the API server only
 *   after the new leader published its epoch;
 * - a leader with fault injection that never notices it lost the Lease and keeps
 *   reconciling after it resumes: only fencing stops it.
 * In both, every write it attempts is rejected.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CellType } from '../../src/controllers/cell.ts';
import type { CellStatus } from '../../src/crds/cell.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { Resources, type ResourceType } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { watchEvents } from '../../src/kube/watch.ts';
import { EpochAnnotation } from '../../src/runtime/leader/fence.ts';
import { parse, stringify } from 'yaml';
import { adminClient, eventually, testNamespace } from '../support/cluster.ts';
import { startOperatorProcess, type OperatorProcess } from '../support/operator.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/** A copy of the operator's kubeconfig whose server is `127.0.0.1:<port>` (a proxy). */
async function operatorKubeconfigVia(port: number): Promise<string> {
  const config = parse(await readFile(inject('operatorKubeconfig'), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  const path = join(inject('clusterDir'), `operator-via-${port}.kubeconfig`);
  await writeFile(path, stringify(config), { mode: 0o600 });
  return path;
}

type Cell = KubeObject & { status?: CellStatus };

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number; reason?: string; message?: string };
  requestReceivedTimestamp: string;
}

/** The fencing epoch a stored version carries: status for Cells, an annotation otherwise. */
function epochOf(object: KubeObject): number | undefined {
  const fromStatus = (object as { status?: { epoch?: unknown } }).status?.epoch;
  const raw = object.kind === 'Cell' ? fromStatus : object.metadata.annotations?.[EpochAnnotation];
  return raw === undefined ? undefined : Number(raw);
}

/**
 * Watches the kinds the operator writes in `namespace` from now on and records every
 * version the API server stores, with its epoch: the state-side witness that no stale
 * write landed, whatever the audit log says about the request.
 */
async function witnessVersions(client: KubeClient, namespace: string, types: readonly ResourceType[]) {
  const stop = new AbortController();
  const versions: { kind: string; name: string; type: string; epoch: number | undefined }[] = [];
  const failures: unknown[] = [];
  // List first so each watch starts from a known version, then watch in the background.
  const lists = await Promise.all(types.map((type) => client.list(type, { namespace })));
  const watches: Promise<void>[] = types.map(async (type, i) => {
    try {
      const resourceVersion = lists[i]!.metadata?.resourceVersion;
      for await (const event of watchEvents(client, type, { namespace, resourceVersion, signal: stop.signal })) {
        if (event.type === 'ADDED' || event.type === 'MODIFIED') {
          versions.push({ kind: type.kind, name: event.object.metadata.name ?? '', type: event.type, epoch: epochOf(event.object) });
        }
      }
      // A watch that ended before we stopped it would have missed versions.
      if (!stop.signal.aborted) throw new Error(`the witness watch on ${type.kind} ended early`);
    } catch (error) {
      if (!stop.signal.aborted) failures.push(error);
    }
  });
  return {
    versions,
    async stop() {
      stop.abort();
      await Promise.all(watches);
      if (failures.length > 0) throw failures[0];
    },
  };
}

const writeVerbs = new Set(['create', 'update', 'patch', 'delete']);

async function auditEvents(): Promise<AuditEvent[]> {
  const text = await readFile(join(inject('clusterDir'), 'logs', 'audit.log'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete');
}

describe.runIf(inject('clusterKind') === 'local')('fencing of a deposed leader', () => {
  let admin: KubeClient;
  let ns: { name: string; dispose: () => Promise<void> };
  const processes: OperatorProcess[] = [];

  beforeAll(async () => {
    admin = await adminClient();
    ns = await testNamespace(admin, 'fencing');
  });
  afterAll(async () => {
    for (const p of processes) await p.stop();
    await ns.dispose();
    await admin.close();
  });

  const cell = (name: string, value: string): KubeObject => ({
    apiVersion: 'manyfold.dev/v1alpha1',
    kind: 'Cell',
    metadata: { name, namespace: ns.name },
    spec: { zone: 'zone-a', template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { value } }] } },
  });

  async function scenario(options: { prefix: string; faulty: boolean; inFlight: boolean }) {
    let proxy: TcpProxy | undefined;
    if (options.inFlight) {
      const server = new URL(admin.server);
      proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port) });
    }
    const aArgs = proxy ? ['--kubeconfig', await operatorKubeconfigVia(proxy.port)] : [];
    const a = startOperatorProcess(aArgs, options.faulty ? { MANYFOLD_FAULT_INJECTION: 'ignore-lease-loss' } : {});
    processes.push(a);
    const aStart = await a.waitForLog((l) => l['event'] === 'operator_starting');
    const aElected = await a.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    const b = startOperatorProcess();
    processes.push(b);
    const bStart = await b.waitForLog((l) => l['event'] === 'operator_starting');
    await b.waitForLog((l) => l['event'] === 'election_started');
    const names = [0, 1, 2].map((i) => `${options.prefix}-${i}`);
    for (const name of names) await admin.apply(cell(name, 'v1'), { fieldManager: 'test-user' });
    await eventually('cells Ready under the first leader', async () => {
      const cells = await Promise.all(names.map((n) => admin.get<Cell>(CellType, n, ns.name)));
      return cells.every((c) => c.status?.phase === 'Ready' && Number(c.status.epoch) === aElected['epoch']);
    });

    if (proxy) {
      // Work for the leader; what it sends about it stays in the proxy. Within its renew
      // deadline (2 s; its renewals are held too) it still leads and writes.
      proxy.hold();
      for (const name of names) await admin.apply(cell(name, 'v2'), { fieldManager: 'test-user' });
      await new Promise((r) => setTimeout(r, 800));
    }
    process.kill(a.pid, 'SIGSTOP');
    const bElected = await b.waitForLog((l) => l['event'] === 'leader_elected', 30_000);
    expect(bElected['epoch']).toBeGreaterThan(aElected['epoch'] as number);
    await b.waitForLog((l) => l['event'] === 'fencing_enforced' && l['epoch'] === bElected['epoch']);
    // Work the frozen leader will see as soon as it resumes.
    for (const name of names) await admin.apply(cell(name, 'v2'), { fieldManager: 'test-user' });
    await eventually('the new leader reconciled the change', async () => {
      const cells = await Promise.all(names.map((n) => admin.get<Cell>(CellType, n, ns.name)));
      return cells.every((c) => c.status?.observedGeneration === 2 && Number(c.status.epoch) === bElected['epoch']);
    });

    const witness = await witnessVersions(admin, ns.name, [CellType, Resources.ConfigMap, Resources.EventsV1]);
    // The old leader's writes in flight reach the API server now, after the new epoch.
    const released = proxy?.release();
    if (proxy) expect(released, 'bytes the frozen leader had sent').toBeGreaterThan(0);
    process.kill(a.pid, 'SIGCONT');
    const lost = await a.waitForLog((l) => l['event'] === 'leader_lost', 30_000);
    if (options.faulty) await a.waitForLog((l) => l['event'] === 'write_fenced', 30_000);
    // Let anything the old leader still sends reach the audit log and the watches.
    await new Promise((r) => setTimeout(r, 2000));
    // The witness itself works: a change now is stored, stamped with the new epoch.
    await admin.apply(cell(names[0]!, 'v3'), { fieldManager: 'test-user' });
    await eventually('the witness saw the new leader apply v3', async () =>
      witness.versions.some((v) => v.kind === 'ConfigMap' && v.name === `${names[0]!}-cfg` && v.epoch === bElected['epoch']),
    );
    await witness.stop();
    const staleVersions = witness.versions.filter((v) => v.epoch !== undefined && v.epoch < (bElected['epoch'] as number));
    expect(staleVersions, 'versions stored with an older epoch after the old leader resumed').toEqual([]);

    const aAgent = String(aStart['identity']);
    const bAgent = String(bStart['identity']);
    const events = await auditEvents();
    const publish = events.find(
      (e) =>
        e.userAgent?.includes(bAgent) && e.objectRef?.resource === 'configmaps' && e.objectRef.name === 'manyfold-fencing' && !e.requestURI.includes('dryRun') && (e.responseStatus?.code ?? 0) < 300,
    );
    expect(publish, 'the new leader published its epoch').toBeDefined();
    const cutoff = publish?.requestReceivedTimestamp ?? '';
    const staleWrites = events.filter(
      (e) => e.userAgent?.includes(aAgent) && writeVerbs.has(e.verb) && e.objectRef?.resource !== 'leases' && e.requestReceivedTimestamp > cutoff,
    );
    const landed = staleWrites.filter((e) => (e.responseStatus?.code ?? 0) < 400);
    const rejected = staleWrites.filter((e) => e.responseStatus?.code === 403);
    expect(landed, `stale writes that landed: ${JSON.stringify(landed.slice(0, 3))}`).toEqual([]);
    // Every stale write failed; most by the fencing policy (403). A write whose
    // resourceVersion precondition was stale may fail with 409 first, and a request the
    // old leader abandoned itself as it stepped down (it aborts in-flight reconciles)
    // shows as 504 "context canceled". None of them landed: the watches saw no version
    // with the old epoch.
    expect(staleWrites.every((e) => (e.responseStatus?.code ?? 0) >= 400)).toBe(true);
    const otherFailures = staleWrites.filter(
      (e) => e.responseStatus?.code !== 403 && e.responseStatus?.code !== 409 && !(e.responseStatus?.code === 504 && /context canceled/.test(e.responseStatus.message ?? '')),
    );
    expect(otherFailures, `stale writes that failed other than 403/409/abandoned: ${JSON.stringify(otherFailures.slice(0, 5))}`).toEqual([]);
    if (options.faulty) expect(rejected.length).toBeGreaterThan(0);
    const newLeaderWrites = events.filter((e) => e.userAgent?.includes(bAgent) && writeVerbs.has(e.verb) && (e.responseStatus?.code ?? 0) < 300 && e.requestReceivedTimestamp > cutoff);
    expect(newLeaderWrites.length).toBeGreaterThan(0);
    // Final state is the new leader's.
    const cells = await Promise.all(names.map((n) => admin.get<Cell>(CellType, n, ns.name)));
    expect(cells.every((c) => Number(c.status?.epoch) === bElected['epoch'])).toBe(true);
    console.info(`[fencing ${options.prefix}] stale writes attempted after epoch ${String(bElected['epoch'])} was published: ${staleWrites.length}, rejected (403): ${rejected.length}, other failures: ${staleWrites.length - rejected.length - landed.length} (codes ${JSON.stringify(staleWrites.map((e) => e.responseStatus?.code))}), landed: ${landed.length}; old leader: ${String(lost['reason'])}`);
    await a.stop();
    await b.stop();
    await proxy?.close();
    const abandoned = staleWrites.filter((e) => e.responseStatus?.code === 504 && /context canceled/.test(e.responseStatus.message ?? '')).length;
    const conflicts = staleWrites.filter((e) => e.responseStatus?.code === 409).length;
    return { attempted: staleWrites.length, rejected: rejected.length, abandoned, conflicts, reason: String(lost['reason']) };
  }

  it('a leader with normal timings frozen while its writes are in flight steps down, and none of them lands', async () => {
    const result = await scenario({ prefix: 'calm', faulty: false, inFlight: true });
    // The held writes reach the API server after the new epoch was published (required:
    // the variant must not pass with nothing attempted), and none lands (checked in the
    // scenario: every one failed, no stored version carries the old epoch). Whether one
    // is refused by the fencing policy (403), by a stale precondition (409) or abandoned
    // by the old leader as it steps down (504 "context canceled") is a race between the released bytes and the
    // leader's own renewal check; both are outcomes of a correct leader. The faulty
    // variant below, which never steps down, requires the 403s.
    expect(result.attempted, 'writes the old leader attempted after the new epoch was published').toBeGreaterThan(0);
    expect(result.rejected + result.conflicts + result.abandoned, 'attempts refused (403, 409) or abandoned by the stepping-down leader').toBe(result.attempted);
    expect(result.reason).toMatch(/renewal|held by|fenced/);
  });

  it('a leader that never notices it was deposed is stopped by fencing: every write rejected', async () => {
    const result = await scenario({ prefix: 'faulty', faulty: true, inFlight: false });
    expect(result.attempted).toBeGreaterThan(0);
    expect(result.rejected).toBeGreaterThan(0);
    expect(result.reason).toContain('fenced');
  });
});
