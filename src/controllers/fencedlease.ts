/**
 * FencedLeaseController: the wiring of the pure FencedLease deciders
 * (reconcilers/fencedlease*.ts) on the controller shell (runtime/shell.ts).
 *
 * Each reconcile (the shell has made sure the clean-up finalizer is on): resolve where
 * the lease lives (spec + `--etcd-endpoints`), read the credentials Secrets, take the etcd client for
 * that configuration, read the holder once and register a watch on the lease (so the
 * next holder change enqueues the object: status follows etcd by watching, not
 * polling), ask the decider, write the whole status once (fenced), record events, and
 * only then make the revoke the decider asked for, aimed at the holder's fencing token.
 *
 * etcd unreachable: `Ready=False` reason `EtcdUnavailable`, noticed within the registry's
 * health probe interval (5 s; see fencedlease-backends.ts) and retried every 1..30 s by
 * `requeueAfterMs` (the decider's schedule) rather than by throwing: the runtime's
 * per-key backoff grows towards 16 minutes, too slow for a status that mirrors a lease.
 * A revoke that fails is thrown after the event, so the runtime backs it off.
 *
 * Kill switch: the annotation on the FencedLease, its Namespace or the operator's config
 * (`manyfold-config` in the operator's namespace) holds every revoke back (the decider
 * says how); flipping it on a Namespace or on the config requeues the leases it covers.
 *
 * Tenancy: a spec outside the administrator's policy (key prefixes, allowed endpoints,
 * no credentials over http://; reconcilers/fencedlease-target.ts) is `Ready=False`
 * reason `NotPermitted` naming the field; no Secret is read and no etcd request made.
 *
 * Fencing of etcd actions: revokes and the deletion clean-up run only after a fenced
 * dry-run write confirms this term's epoch is still current (see {@link confirmTerm} for
 * exactly what that guarantees).
 *
 * Deletion: the finalizer `manyfold.dev/fencedlease-cleanup` stays until the holder is
 * revoked and every key of the lease deleted (`deleteAll`); when etcd stays unreachable
 * it is removed anyway after `cleanupGraceMs` (default 10 minutes) with a Warning event.
 *
 * Limitations: changing `spec.etcd` or `spec.key` moves the mirror to the new place and
 * leaves the old keys alone (they expire with their holders' leases). Secrets are read
 * per reconcile, not watched: a FencedLease blocked on its Secret (`CredentialsUnavailable`,
 * `InvalidTLSSecret`: fencedlease-credentials.ts) looks again after 1 s growing to 30 s. The `lease_fencing_token` gauge is a float: tokens above
 * 2^53 lose precision there (never in status).
 */
import type { Gauge } from 'prom-client';
import { parseFencedLeaseSpec, type FencedLeaseStatus } from '../crds/fencedlease.ts';
import { ManyfoldResources } from '../crds/index.ts';
import { LeaseAccessError, LeaseConfigError, LeaseError, LeaseUnavailableError, type LeaseClient, type LeaseClientOptions } from '../legos/lease/index.ts';
import { reconcileFencedLeaseCleanup, type CleanupOutcome } from '../reconcilers/fencedlease-cleanup.ts';
import { resolveLeaseTarget, type FencedLeasePolicy, type LeaseTarget, type TargetResult } from '../reconcilers/fencedlease-target.ts';
import { CleanupFinalizer, reconcileFencedLease, revokeEvent, type EtcdView, type RevokeAction, type RevokeOutcome } from '../reconcilers/fencedlease.ts';
import type { ControllerSpec, ReconcileContext } from '../runtime/controller.ts';
import { RetryLaterError } from '../runtime/errors.ts';
import type { Logger } from '../runtime/log.ts';
import { domainGauge } from '../runtime/metrics.ts';
import type { ReconcileResult } from '../runtime/queue/index.ts';
import { commit, defineController, recordEvents, type FinalizerDecision, type ObjectContext } from '../runtime/shell.ts';
import type { ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { LeaseBackends } from './fencedlease-backends.ts';
import { explainUnavailable, readBackendConfig } from './fencedlease-credentials.ts';

export const FencedLeaseType: ResourceType = ManyfoldResources.FencedLease;

type FencedLeaseObject = KubeObject & { spec?: unknown; status?: FencedLeaseStatus };

export interface FencedLeaseControllerOptions {
  /** The operator's default etcd (`--etcd-endpoints`), for FencedLeases without `spec.etcd`; may be empty. */
  readonly defaultEndpoints: readonly string[];
  /** What FencedLeases may reach: key prefixes, extra etcd endpoints. Default `DefaultFencedLeasePolicy` (own namespace's keys, the default etcd). */
  readonly policy?: FencedLeasePolicy | undefined;
  /** Namespace the operator runs in: its config there carries the global kill switch. */
  readonly operatorNamespace: string;
  /** Concurrent reconciles. @default 8 */
  readonly concurrency?: number | undefined;
  /** How long a deletion retries an unreachable etcd before removing the finalizer anyway, ms. @default 600000 */
  readonly cleanupGraceMs?: number | undefined;
  /** Refresh of renew/expire times while held, ms (0 disables). @default clamp(TTL, 30 s, 5 min) */
  readonly refreshMs?: number | undefined;
  /** Most FencedLeases observed at once. @default 10000 */
  readonly maxLeases?: number | undefined;
  /** Health probe interval of each etcd client, ms (0 disables). @default 5000 */
  readonly probeIntervalMs?: number | undefined;
  /** Options merged into every etcd client (e.g. `requestTimeoutMs`, default 5000). */
  readonly clientDefaults?: Partial<LeaseClientOptions> | undefined;
  /** Builds etcd clients (tests). @default createLeaseClient */
  readonly createClient?: ((options: LeaseClientOptions) => LeaseClient) | undefined;
  readonly log?: Logger | undefined;
}

interface Deps {
  readonly options: FencedLeaseControllerOptions;
  readonly backends: LeaseBackends;
  /** `lease_fencing_token`, once the manager registered the controller's metrics. */
  token: Gauge<'namespace' | 'name'> | undefined;
}

function targetOf(object: FencedLeaseObject, options: FencedLeaseControllerOptions): { target: TargetResult; spec: ReturnType<typeof parseFencedLeaseSpec> } {
  const spec = parseFencedLeaseSpec(object.spec ?? {});
  if (!spec.ok) return { spec, target: { ok: false, field: spec.issues[0]?.field ?? 'spec', message: spec.message } };
  const target = resolveLeaseTarget({ namespace: object.metadata.namespace ?? '', name: object.metadata.name ?? '', spec: spec.value, defaultEndpoints: options.defaultEndpoints, policy: options.policy });
  return { spec, target };
}

/** The client for `target`, or why there is none (credentials, or options the client refuses). */
async function clientFor(ctx: ReconcileContext, deps: Deps, target: LeaseTarget): Promise<{ ok: true; client: LeaseClient } | { ok: false; etcd: EtcdView }> {
  const credentials = await readBackendConfig(ctx.client, ctx.namespace ?? '', target, ctx.clock.now());
  if (!credentials.ok) return { ok: false, etcd: { state: credentials.reason === 'InvalidTLSSecret' ? 'tlsSecret' : 'credentials', error: credentials.message } };
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
    return { etcd: target.forbidden ? { state: 'forbidden', message: target.message } : { state: 'invalid', message: target.message }, client: undefined };
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
    return { etcd: { state: 'unreachable', error: explainUnavailable(error.message, ctx.namespace ?? '', target.value) }, client: got.client };
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
    const error = got.ok ? 'no etcd client' : got.etcd.state === 'credentials' || got.etcd.state === 'tlsSecret' ? got.etcd.error : 'unusable etcd options';
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

/**
 * Check-before-act for the operator's own etcd actions (revokes, clean-up), which no
 * admission policy can fence: a dry-run write of the object stamped with this term's
 * epoch, which the fencing policy refuses once a newer epoch is published. Refused, the
 * writer ends the term and this throws `FencedError`, so the etcd action is never made.
 *
 * Guarantee: an etcd action starts only after the API server accepted this term's
 * epoch one round trip earlier. Not covered: a leader paused between that check and its
 * etcd request (milliseconds, unless the process is stopped right there) makes the one
 * action in flight after the new leader's publication; a revoke is still aimed at the
 * fencing token this term saw, so it cannot hit a successor's holding, and a clean-up
 * only touches the keys of an object being deleted.
 */
async function confirmTerm(ctx: ObjectContext<FencedLeaseObject>): Promise<void> {
  ctx.signal.throwIfAborted();
  const { apiVersion, kind, metadata } = ctx.object;
  await ctx.writer.apply({ apiVersion, kind, metadata: { name: metadata.name ?? '', namespace: metadata.namespace ?? '' } }, { signal: ctx.signal, dryRun: true });
}

/** One clean-up attempt of a FencedLease being deleted (the shell writes, removes the finalizer, records). */
async function cleanUpLease(ctx: ObjectContext<FencedLeaseObject>, deps: Deps): Promise<FinalizerDecision> {
  const { target } = targetOf(ctx.object, deps.options);
  if (target.ok) await confirmTerm(ctx);
  const outcome: CleanupOutcome = target.ok ? await cleanUp(ctx, deps, target.value) : { kind: 'skipped', message: target.message };
  const observation = { generation: ctx.object.metadata.generation ?? 0, status: ctx.status, dir: target.ok ? target.value.dir : undefined, outcome, graceMs: deps.options.cleanupGraceMs };
  const decision = reconcileFencedLeaseCleanup(observation, ctx.clock.now());
  ctx.log.info({ event: 'fencedlease_cleanup', outcome: outcome.kind, finalizerRemoved: decision.removeFinalizer }, 'clean-up attempted');
  return decision;
}

/** Releases what the controller holds for a FencedLease that is gone (or no longer guarded by its finalizer). */
async function release(ctx: ReconcileContext, deps: Deps): Promise<void> {
  await deps.backends.forget(ctx.key);
  forgetToken(deps, ctx);
}

async function reconcileLive(ctx: ObjectContext<FencedLeaseObject>, deps: Deps): Promise<ReconcileResult | undefined> {
  const object = ctx.object;
  const { spec, target } = targetOf(object, deps.options);
  const { etcd, client } = await look(ctx, deps, target);
  const observation = {
    generation: object.metadata.generation ?? 0,
    annotations: object.metadata.annotations,
    spec: spec.ok ? spec.value : undefined,
    status: ctx.status, // the cache may not show our last status write yet; within a term that write is the truth
    etcd,
    pendingRevoke: deps.backends.pendingRevoke(ctx.key),
    refreshMs: deps.options.refreshMs,
    killSwitch: ctx.killSwitch,
  };
  const decision = reconcileFencedLease(observation, ctx.clock.now());
  ctx.log.debug({ event: 'fencedlease_planned', reason: decision.reason }, 'planned');
  // The status (with a newly recorded nonce) is written before the revoke: a nonce acts at most once.
  const result = await commit(ctx, decision);
  deps.backends.setPendingRevoke(ctx.key, decision.pendingRevoke);
  if (etcd.state === 'observed') {
    if (etcd.holder) deps.token?.set({ namespace: ctx.namespace ?? '', name: ctx.name }, Number(etcd.holder.fencingToken));
    else forgetToken(deps, ctx);
  }
  if (decision.revoke && client && target.ok) {
    await confirmTerm(ctx);
    const outcome = await revoke(client, target.value, decision.revoke);
    if (outcome.kind !== 'failed') deps.backends.setPendingRevoke(ctx.key, undefined);
    const e = revokeEvent(decision.revoke, outcome);
    recordEvents(ctx, [e]);
    ctx.log.info({ event: 'lease_revoked', outcome: outcome.kind, cause: decision.revoke.cause, token: decision.revoke.fencingToken.toString(), holder: decision.revoke.holder }, e.note);
    if (outcome.kind === 'failed') throw new RetryLaterError(e.note);
  }
  return result;
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
  const deps: Deps = { options, backends, token: undefined };
  return defineController<FencedLeaseObject>({
    name: 'fencedlease',
    for: FencedLeaseType,
    operatorNamespace: options.operatorNamespace,
    concurrency: options.concurrency ?? 8,
    sources: [backends.source],
    metrics: ({ registry }) => {
      domainGauge(registry, { name: 'fencedlease_etcd_clients', help: 'etcd clients the FencedLease controller holds open', collect: (g) => g.set(backends.stats().clients) });
      domainGauge(registry, { name: 'fencedlease_watches', help: 'FencedLeases whose holder is watched in etcd', collect: (g) => g.set(backends.stats().watches) });
      deps.token = domainGauge(registry, { name: 'lease_fencing_token', help: 'Fencing token of the current holder of each FencedLease', labelNames: ['namespace', 'name'] });
    },
    gone: (ctx) => release(ctx, deps),
    finalizer: { name: CleanupFinalizer, cleanUp: (ctx) => cleanUpLease(ctx, deps), released: (ctx) => release(ctx, deps) },
    reconcile: (ctx) => reconcileLive(ctx, deps),
  });
}
