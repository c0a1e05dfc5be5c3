/**
 * FencedLeaseController: the I/O shell around the pure FencedLease deciders
 * (reconcilers/fencedlease*.ts).
 *
 * Each reconcile: resolve where the lease lives (spec + `--etcd-endpoints`), make sure
 * the clean-up finalizer is on, read the credentials Secrets, take the etcd client for
 * that configuration, read the holder once and register a watch on the lease (so the
 * next holder change enqueues the object: status follows etcd by watching, not
 * polling), ask the decider, write the whole status once (fenced), record events, and
 * only then make the revoke the decider asked for, aimed at the holder's fencing token.
 *
 * etcd unreachable: `Ready=False` reason `EtcdUnavailable`, noticed within the registry's
 * health probe interval (5 s; see fencedlease-backends.ts) and retried every 1..30 s by
 * `requeueAfter` (the decider's schedule) rather than by throwing: the runtime's
 * per-key backoff grows towards 16 minutes, too slow for a status that mirrors a lease.
 * A revoke that fails is thrown after the event, so the runtime backs it off.
 *
 * Kill switch: the annotation on the FencedLease, its Namespace or the operator's config
 * (`manyfold-config` in the operator's namespace) holds every revoke back (the decider
 * says how); flipping it on a Namespace or on the config requeues the leases it covers.
 *
 * Deletion: the finalizer `manyfold.dev/fencedlease-cleanup` stays until the holder is
 * revoked and every key of the lease deleted (`deleteAll`); when etcd stays unreachable
 * it is removed anyway after `cleanupGraceMs` (default 10 minutes) with a Warning event.
 *
 * Limitations: changing `spec.etcd` or `spec.key` moves the mirror to the new place and
 * leaves the old keys alone (they expire with their holders' leases). Secrets are read
 * per reconcile, not watched. The `lease_fencing_token` gauge is a float: tokens above
 * 2^53 lose precision there (never in status).
 */
import { Gauge, type Registry } from 'prom-client';
import { parseFencedLeaseSpec, type FencedLeaseStatus } from '../crds/fencedlease.ts';
import { ManyfoldResources } from '../crds/index.ts';
import { LeaseAccessError, LeaseConfigError, LeaseError, LeaseUnavailableError, type LeaseClient, type LeaseClientOptions } from '../legos/lease/index.ts';
import { planCleanup, type CleanupOutcome } from '../reconcilers/fencedlease-cleanup.ts';
import { resolveLeaseTarget, type LeaseTarget, type TargetResult } from '../reconcilers/fencedlease-target.ts';
import { CleanupFinalizer, planFencedLease, revokeEvent, type EtcdView, type RevokeAction, type RevokeOutcome } from '../reconcilers/fencedlease.ts';
import type { ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { killSwitchState } from '../reconcilers/kill-switch.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Logger } from '../runtime/log.ts';
import type { ReconcileResult } from '../runtime/queue/index.ts';
import { LeaseBackends } from './fencedlease-backends.ts';
import { readBackendConfig } from './fencedlease-credentials.ts';
import { OperatorConfigMap, killSwitchWatches, operatorConfigSelector } from './shared.ts';

export const FencedLeaseType: ResourceType = ManyfoldResources.FencedLease;

type FencedLeaseObject = KubeObject & { spec?: unknown; status?: FencedLeaseStatus };

export interface FencedLeaseControllerOptions {
  /** The operator's default etcd (`--etcd-endpoints`), for FencedLeases without `spec.etcd`; may be empty. */
  readonly defaultEndpoints: readonly string[];
  /** Namespace the operator runs in: its config there carries the global kill switch. */
  readonly operatorNamespace: string;
  /** Concurrent reconciles. Default 8. */
  readonly concurrency?: number | undefined;
  /** How long a deletion retries an unreachable etcd before removing the finalizer anyway, ms. Default 600000. */
  readonly cleanupGraceMs?: number | undefined;
  /** Refresh of renew/expire times while held, ms (0 disables). Default clamp(TTL, 30 s, 5 min). */
  readonly refreshMs?: number | undefined;
  /** Most FencedLeases observed at once. Default 10000. */
  readonly maxLeases?: number | undefined;
  /** Health probe interval of each etcd client, ms (0 disables). Default 5000. */
  readonly probeIntervalMs?: number | undefined;
  /** Options merged into every etcd client (e.g. `requestTimeoutMs`, default 5000). */
  readonly clientDefaults?: Partial<LeaseClientOptions> | undefined;
  /** Builds etcd clients (tests). Default `createLeaseClient`. */
  readonly createClient?: ((options: LeaseClientOptions) => LeaseClient) | undefined;
  readonly log?: Logger | undefined;
  /** Registers `lease_fencing_token`, `fencedlease_etcd_clients` and `fencedlease_watches` here. */
  readonly registry?: Registry | undefined;
}

interface Deps {
  readonly options: FencedLeaseControllerOptions;
  readonly backends: LeaseBackends;
  readonly token: Gauge<'namespace' | 'name'> | undefined;
}

function targetOf(object: FencedLeaseObject, options: FencedLeaseControllerOptions): { target: TargetResult; spec: ReturnType<typeof parseFencedLeaseSpec> } {
  const spec = parseFencedLeaseSpec(object.spec ?? {});
  if (!spec.ok) return { spec, target: { ok: false, field: spec.issues[0]?.field ?? 'spec', message: spec.message } };
  const target = resolveLeaseTarget({ namespace: object.metadata.namespace ?? '', name: object.metadata.name ?? '', spec: spec.value, defaultEndpoints: options.defaultEndpoints });
  return { spec, target };
}

/** The client for `target`, or why there is none (credentials, or options the client refuses). */
async function clientFor(ctx: ReconcileContext, deps: Deps, target: LeaseTarget): Promise<{ ok: true; client: LeaseClient } | { ok: false; etcd: EtcdView }> {
  const credentials = await readBackendConfig(ctx.client, ctx.namespace ?? '', target);
  if (!credentials.ok) return { ok: false, etcd: { state: 'credentials', error: credentials.message } };
  try {
    return { ok: true, client: deps.backends.client(ctx.key, credentials.config) };
  } catch (error) {
    if (error instanceof LeaseConfigError) return { ok: false, etcd: { state: 'invalid', message: `spec.etcd.${error.field}: ${error.message}` } };
    throw error;
  }
}

/** Reads the lease once and keeps a watch on it. */
async function look(ctx: ReconcileContext, deps: Deps, target: TargetResult): Promise<{ etcd: EtcdView; client: LeaseClient | undefined }> {
  if (!target.ok) {
    await deps.backends.forget(ctx.key);
    return { etcd: { state: 'invalid', message: target.message }, client: undefined };
  }
  const { name, dir } = target.value;
  const got = await clientFor(ctx, deps, target.value);
  if (!got.ok) return { etcd: got.etcd, client: undefined };
  try {
    const observation = await deps.backends.inspect(ctx.key, name, dir);
    deps.backends.watch(ctx.key, name, dir);
    return { etcd: { state: 'observed', holder: observation.holder }, client: got.client };
  } catch (error) {
    if (error instanceof LeaseAccessError) return { etcd: { state: 'denied', error: error.message }, client: got.client };
    if (!(error instanceof LeaseUnavailableError)) throw error;
    // The watch retries on its own and enqueues the key once it sees etcd again.
    deps.backends.watch(ctx.key, name, dir);
    return { etcd: { state: 'unreachable', error: error.message }, client: got.client };
  }
}

async function revoke(client: LeaseClient, target: LeaseTarget, action: RevokeAction): Promise<RevokeOutcome> {
  try {
    const revoked = await client.revoke(target.name, { key: target.dir, fencingToken: action.fencingToken });
    return revoked ? { kind: 'revoked' } : { kind: 'gone' };
  } catch (error) {
    if (error instanceof LeaseError) return { kind: 'failed', error: error.message };
    throw error;
  }
}

function forgetToken(deps: Deps, ctx: ReconcileContext): void {
  deps.token?.remove({ namespace: ctx.namespace ?? '', name: ctx.name });
}

async function cleanUp(ctx: ReconcileContext, deps: Deps, target: LeaseTarget): Promise<CleanupOutcome> {
  const got = await clientFor(ctx, deps, target);
  // Secrets may be gone already (a namespace being deleted): use the client this object last used.
  const client = got.ok ? got.client : deps.backends.lastClient(ctx.key);
  if (!client) {
    const error = got.ok ? 'no etcd client' : got.etcd.state === 'credentials' ? got.etcd.error : 'unusable etcd options';
    return { kind: 'failed', reason: 'CredentialsUnavailable', error };
  }
  try {
    const revoked = await client.revoke(target.name, { key: target.dir });
    const deleted = await client.deleteAll(target.name, { key: target.dir });
    return { kind: 'done', revoked: revoked ? { identity: revoked.identity, fencingToken: revoked.fencingToken } : undefined, deleted };
  } catch (error) {
    if (error instanceof LeaseAccessError) return { kind: 'failed', reason: 'EtcdAccessDenied', error: error.message };
    if (error instanceof LeaseUnavailableError) return { kind: 'failed', reason: 'EtcdUnavailable', error: error.message };
    throw error;
  }
}

async function finalize(ctx: ReconcileContext, deps: Deps, object: FencedLeaseObject, target: TargetResult): Promise<ReconcileResult | void> {
  const uid = object.metadata.uid ?? '';
  if (!(object.metadata.finalizers ?? []).includes(CleanupFinalizer) || deps.backends.wasFinalized(uid)) {
    await deps.backends.forget(ctx.key);
    forgetToken(deps, ctx);
    return;
  }
  const outcome: CleanupOutcome = target.ok ? await cleanUp(ctx, deps, target.value) : { kind: 'skipped', message: target.message };
  const previous = deps.backends.writtenStatus(ctx.key, uid) ?? object.status;
  const plan = planCleanup({
    generation: object.metadata.generation ?? 0,
    status: previous,
    dir: target.ok ? target.value.dir : undefined,
    outcome,
    now: ctx.clock.now(),
    graceMs: deps.options.cleanupGraceMs,
  });
  if (plan.status) {
    await ctx.writer.applyStatus({ ...object, status: previous }, plan.status, { signal: ctx.signal });
    deps.backends.rememberStatus(ctx.key, uid, plan.status);
  }
  if (plan.removeFinalizer) {
    await ctx.writer.removeFinalizer(FencedLeaseType, object, CleanupFinalizer);
    deps.backends.markFinalized(uid);
    await deps.backends.forget(ctx.key);
    forgetToken(deps, ctx);
  }
  for (const e of plan.events) ctx.recorder.event(object, e.type, e.reason, e.note);
  ctx.log.info({ event: 'fencedlease_cleanup', outcome: outcome.kind, finalizerRemoved: plan.removeFinalizer }, 'clean-up attempted');
  return plan.requeueAfterMs === undefined ? undefined : { requeueAfter: plan.requeueAfterMs };
}

function killSwitchOf(ctx: ReconcileContext, operatorNamespace: string, object: FencedLeaseObject) {
  const namespace = object.metadata.namespace ?? '';
  const ns = ctx.cache.get(Resources.Namespace, namespace);
  const global = ctx.cache.get(Resources.ConfigMap, `${operatorNamespace}/${OperatorConfigMap}`, operatorConfigSelector(operatorNamespace));
  return killSwitchState({
    object: object.metadata.annotations,
    namespace: ns ? { name: namespace, annotations: ns.metadata.annotations } : undefined,
    global: global?.metadata.annotations,
  });
}

async function reconcileFencedLease(ctx: ReconcileContext, deps: Deps): Promise<ReconcileResult | void> {
  const cached = ctx.cache.get<FencedLeaseObject>(FencedLeaseType, ctx.key);
  if (!cached) {
    await deps.backends.forget(ctx.key);
    forgetToken(deps, ctx);
    return;
  }
  const { spec, target } = targetOf(cached, deps.options);
  if (cached.metadata.deletionTimestamp) return finalize(ctx, deps, cached, target);
  const object = await ctx.writer.ensureFinalizer(FencedLeaseType, cached, CleanupFinalizer);
  const { etcd, client } = await look(ctx, deps, target);
  // The cache may not show our last status write yet; within a term that write is the truth.
  const uid = object.metadata.uid ?? '';
  const previous = deps.backends.writtenStatus(ctx.key, uid) ?? object.status;
  const plan = planFencedLease({
    generation: object.metadata.generation ?? 0,
    annotations: object.metadata.annotations,
    spec: spec.ok ? spec.value : undefined,
    status: previous,
    etcd,
    pendingRevoke: deps.backends.pendingRevoke(ctx.key),
    now: ctx.clock.now(),
    refreshMs: deps.options.refreshMs,
    killSwitch: killSwitchOf(ctx, deps.options.operatorNamespace, object),
  });
  ctx.log.debug({ event: 'fencedlease_planned', reason: plan.reason }, 'planned');
  // The status (with a newly recorded nonce) is written before the revoke: a nonce acts at most once.
  await ctx.writer.applyStatus({ ...object, status: previous }, plan.status, { signal: ctx.signal });
  deps.backends.rememberStatus(ctx.key, uid, plan.status);
  deps.backends.setPendingRevoke(ctx.key, plan.pendingRevoke);
  for (const e of plan.events) ctx.recorder.event(object, e.type, e.reason, e.note);
  if (etcd.state === 'observed') {
    if (etcd.holder) deps.token?.set({ namespace: ctx.namespace ?? '', name: ctx.name }, Number(etcd.holder.fencingToken));
    else forgetToken(deps, ctx);
  }
  if (plan.revoke && client && target.ok) {
    const outcome = await revoke(client, target.value, plan.revoke);
    if (outcome.kind !== 'failed') deps.backends.setPendingRevoke(ctx.key, undefined);
    const e = revokeEvent(plan.revoke, outcome);
    ctx.recorder.event(object, e.type, e.reason, e.note);
    ctx.log.info({ event: 'lease_revoked', outcome: outcome.kind, cause: plan.revoke.cause, token: plan.revoke.fencingToken.toString(), holder: plan.revoke.holder }, e.note);
    if (outcome.kind === 'failed') throw new Error(e.note);
  }
  return plan.requeueAfterMs === undefined ? undefined : { requeueAfter: plan.requeueAfterMs };
}

function gauge<T extends string>(registry: Registry, name: string, help: string, labelNames: readonly T[], collect?: (g: Gauge<T>) => void): Gauge<T> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<T>;
  return new Gauge<T>({ name, help, labelNames, registers: [registry], ...(collect ? { collect(this: Gauge<T>) { collect(this); } } : {}) });
}

/** The FencedLease controller's spec for the manager. */
export function fencedLeaseController(options: FencedLeaseControllerOptions): ControllerSpec {
  const backends = new LeaseBackends({
    createClient: options.createClient,
    clientDefaults: options.clientDefaults,
    maxLeases: options.maxLeases,
    probeIntervalMs: options.probeIntervalMs,
    log: options.log,
  });
  const registry = options.registry;
  if (registry) {
    gauge(registry, 'fencedlease_etcd_clients', 'etcd clients the FencedLease controller holds open', [], (g) => g.set(backends.stats().clients));
    gauge(registry, 'fencedlease_watches', 'FencedLeases whose holder is watched in etcd', [], (g) => g.set(backends.stats().watches));
  }
  const deps: Deps = {
    options,
    backends,
    token: registry ? gauge(registry, 'lease_fencing_token', 'Fencing token of the current holder of each FencedLease', ['namespace', 'name']) : undefined,
  };
  return {
    name: 'fencedlease',
    for: FencedLeaseType,
    concurrency: options.concurrency ?? 8,
    sources: [backends.source],
    watches: killSwitchWatches(FencedLeaseType, options.operatorNamespace),
    reconcile: (ctx) => reconcileFencedLease(ctx, deps),
  };
}
