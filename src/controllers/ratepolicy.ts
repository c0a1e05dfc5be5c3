/**
 * RatePolicyController: the wiring of the pure RatePolicy decider
 * (reconcilers/ratepolicy.ts) on the controller shell (runtime/shell.ts).
 *
 * Each reconcile reads the policy, the pods of its namespace, the clients' report
 * Leases (label `ratepolicy.manyfold.dev/policy`) and the shares ConfigMap from the
 * caches — the ConfigMap, or the one this process wrote last when the cache has not
 * caught up with it — asks the decider, applies the ConfigMap (conditional on the
 * resourceVersion the step started from: a conflict retries from fresh state), deletes
 * reports of pods that are gone, writes status once, records events, logs
 * `shares_published` and sets `ratepolicy_share_rps` and `ratepolicy_replicas`.
 *
 * Wake-ups: the policy, its ConfigMap, its reports (every acknowledgement or demand
 * change), pods its selector picks (before or after the change), kill switches, and
 * the decider's timer (re-publication, acknowledgement windows).
 *
 * Pods: the informer watches only pods labelled `ratepolicy.manyfold.dev/enforcer`
 * ({@link ENFORCER_LABEL}; the pods of a policy opt in with it in their template) and
 * keeps of each only its name, labels, deletion mark and Ready condition
 * ({@link enforcerPods}): not every pod of the cluster, and not whole pods.
 *
 * Limitations: RBAC cannot grant pods by label, so the operator's role still allows
 * list/watch of every pod in the namespaces it serves (deploy/namespaced narrows the
 * namespaces); a pod the selector picks without the label is not seen (the NoReplicas
 * message names the label); the memory of the last write is per process (a new leader
 * starts from its cache, freshly listed, which the conditional write keeps honest).
 */
import { ManyfoldResources } from '../crds/index.ts';
import { parseRatePolicySpec, type RatePolicySpec, type RatePolicyStatus } from '../crds/ratepolicy.ts';
import type { KubeObject } from '../kube/types.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { ACK_ANNOTATION, DEMAND_ANNOTATION, ENFORCER_LABEL, POLICY_LABEL, sharesConfigMapName } from '../legos/ratelimit/document.ts';
import { labelSelectorMatches, type LabelSelector } from '../reconcilers/label-selector.ts';
import { freshest, type PublishedObject } from '../reconcilers/ratepolicy-publish.ts';
import { reconcileRatePolicy, type ObservedPod, type ObservedReport } from '../reconcilers/ratepolicy.ts';
import type { ControllerSpec, InformerSelector } from '../runtime/controller.ts';
import { RetryLaterError } from '../runtime/errors.ts';
import { keyOfObject } from '../runtime/kill-switch.ts';
import { domainGauge } from '../runtime/metrics.ts';
import { applyChildren, commit, defineController, deleteObjects, labelWatch, type ObjectContext } from '../runtime/shell.ts';

export const RatePolicyType: ResourceType = ManyfoldResources.RatePolicy;
const labelled = { labelSelector: POLICY_LABEL };
/** Most policies whose last written ConfigMap is remembered. */
export const MAX_REMEMBERED = 10_000;

type PolicyObject = KubeObject & { spec?: RatePolicySpec; status?: RatePolicyStatus };
type PodObject = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
type ConfigMapObject = KubeObject & { data?: Record<string, string> };

export interface RatePolicyControllerOptions {
  readonly operatorNamespace: string;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
}

/**
 * The pods the controller reads: those labelled {@link ENFORCER_LABEL}, projected to what
 * the decider uses (name, namespace, uid, resourceVersion, labels, deletion mark, the
 * Ready condition's status): a few hundred bytes a pod instead of several kilobytes.
 */
export const enforcerPods: InformerSelector = {
  labelSelector: ENFORCER_LABEL,
  projection: {
    name: 'ratepolicy-pod',
    project<T extends KubeObject>(object: T): T {
      const pod = object as PodObject;
      const { name, namespace, uid, resourceVersion, labels, deletionTimestamp } = pod.metadata;
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
      return {
        apiVersion: pod.apiVersion,
        kind: pod.kind,
        metadata: { name, namespace, uid, resourceVersion, labels, ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) },
        status: { conditions: ready === undefined ? [] : [{ type: 'Ready', status: ready.status }] },
      } as PodObject as T;
    },
  },
};

function asPod(p: PodObject): ObservedPod {
  return {
    name: p.metadata.name ?? '',
    labels: p.metadata.labels,
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    deleting: p.metadata.deletionTimestamp !== undefined,
  };
}

function asReport(lease: KubeObject & { spec?: { holderIdentity?: string } }): ObservedReport {
  return {
    lease: lease.metadata.name ?? '',
    pod: lease.spec?.holderIdentity ?? '',
    ackVersion: lease.metadata.annotations?.[ACK_ANNOTATION],
    demand: lease.metadata.annotations?.[DEMAND_ANNOTATION],
  };
}

/** Keys of the policies in `pod`'s namespace whose selector picks it. */
function policiesSelecting(pod: KubeObject, policies: readonly PolicyObject[]): string[] {
  return policies.filter((p) => labelSelectorMatches(p.spec?.selector as LabelSelector | undefined, pod.metadata.labels)).map(keyOfObject);
}

interface Metrics {
  share?: ReturnType<typeof domainGauge<'namespace' | 'name' | 'limit'>>;
  replicas?: ReturnType<typeof domainGauge<'namespace' | 'name'>>;
  /** Limit names each policy's share gauge carries (to remove them with the policy). */
  readonly limits: BoundedMap<string, readonly string[]>;
}

async function reconcilePolicy(ctx: ObjectContext<PolicyObject>, written: BoundedMap<string, PublishedObject>, metrics: Metrics) {
  const policy = ctx.object;
  const namespace = policy.metadata.namespace ?? '';
  const name = policy.metadata.name ?? '';
  const parsed = parseRatePolicySpec(policy.spec ?? {});
  const cached = ctx.cache.get<ConfigMapObject>(Resources.ConfigMap, `${namespace}/${sharesConfigMapName(name)}`, labelled);
  const leases = ctx.cache.list<KubeObject & { spec?: { holderIdentity?: string } }>(Resources.Lease, { namespace, index: { name: 'label', value: `${POLICY_LABEL}=${name}` }, selector: labelled });
  const observation = {
    name,
    namespace,
    uid: policy.metadata.uid ?? '',
    generation: policy.metadata.generation ?? 0,
    spec: parsed.ok ? { ok: true as const, value: parsed.value } : { ok: false as const, message: parsed.message },
    status: ctx.status,
    killSwitch: ctx.killSwitch,
    pods: ctx.cache.list<PodObject>(Resources.Pod, { namespace, selector: enforcerPods }).map(asPod),
    reports: leases.map(asReport),
    published: freshest(cached === undefined ? undefined : { data: cached.data, resourceVersion: cached.metadata.resourceVersion }, written.get(ctx.key)),
  };
  const now = ctx.clock.now();
  const decision = reconcileRatePolicy(observation, now);
  ctx.log.debug({ event: 'ratepolicy_planned', reason: decision.reason }, 'planned');
  for (const c of decision.clamped) ctx.log.warn({ event: 'demand_clamped', pod: c.pod, limit: c.limit, reported: String(c.raw).slice(0, 64), clamped: c.clamped }, 'demand report clamped');
  const applied = await applyChildren(ctx, decision.apply);
  const failed = [...applied.outcomes.values()].find((o) => !o.ok);
  if (failed !== undefined && !failed.ok) {
    // the status must not claim a version that was not written: retry from fresh state
    written.delete(ctx.key);
    throw applied.transient ?? new RetryLaterError(`shares ConfigMap refused: ${failed.message}`);
  }
  for (const stored of applied.stored.values()) {
    const cm = stored as ConfigMapObject;
    written.set(ctx.key, { data: cm.data, resourceVersion: cm.metadata.resourceVersion });
  }
  if (decision.published !== undefined && decision.published.newVersion) {
    ctx.log.info({ event: 'shares_published', version: decision.published.version, replicas: decision.published.replicas, shares: decision.shareRps }, 'shares published');
  }
  const byName = new Map(leases.map((l) => [l.metadata.name ?? '', l]));
  await deleteObjects(ctx, Resources.Lease, decision.delete.flatMap((d) => byName.get(d.lease) ?? []));
  metrics.replicas?.set({ namespace, name }, decision.replicas);
  for (const limit of metrics.limits.get(ctx.key) ?? []) if (!(limit in decision.shareRps)) metrics.share?.remove({ namespace, name, limit });
  for (const [limit, rps] of Object.entries(decision.shareRps)) metrics.share?.set({ namespace, name, limit }, rps);
  metrics.limits.set(ctx.key, Object.keys(decision.shareRps));
  return commit(ctx, decision, { transient: applied.transient });
}

/** The RatePolicy controller's spec for the manager. */
export function ratePolicyController(options: RatePolicyControllerOptions): ControllerSpec {
  const written = new BoundedMap<string, PublishedObject>({ max: MAX_REMEMBERED });
  const metrics: Metrics = { limits: new BoundedMap({ max: MAX_REMEMBERED }) };
  return defineController<PolicyObject>({
    name: 'ratepolicy',
    for: RatePolicyType,
    operatorNamespace: options.operatorNamespace,
    owns: [Resources.ConfigMap],
    ownsSelector: labelled,
    concurrency: options.concurrency ?? 4,
    watches: [
      labelWatch(Resources.Lease, POLICY_LABEL),
      { type: Resources.Pod, selector: enforcerPods, map: (pod, cache) => policiesSelecting(pod, cache.list<PolicyObject>(RatePolicyType, { namespace: pod.metadata.namespace ?? '' })) },
    ],
    memories: { ratepolicy_written_shares: written, ratepolicy_metric_limits: metrics.limits },
    metrics: ({ registry }) => {
      metrics.share = domainGauge(registry, { name: 'ratepolicy_share_rps', help: "Each Ready replica's even share of a RatePolicy limit, requests per second", labelNames: ['namespace', 'name', 'limit'] });
      metrics.replicas = domainGauge(registry, { name: 'ratepolicy_replicas', help: 'Ready replicas a RatePolicy splits its Global limits over', labelNames: ['namespace', 'name'] });
    },
    // the ConfigMap goes with its owner; reports of a deleted policy are swept by their pods' lifecycle
    gone: (ctx) => {
      written.delete(ctx.key);
      const labels = { namespace: ctx.namespace ?? '', name: ctx.name };
      metrics.replicas?.remove(labels);
      for (const limit of metrics.limits.get(ctx.key) ?? []) metrics.share?.remove({ ...labels, limit });
      metrics.limits.delete(ctx.key);
    },
    reconcile: (ctx) => reconcilePolicy(ctx, written, metrics),
  });
}
