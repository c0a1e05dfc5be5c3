/**
 * Fencing for writes to the API server: the leader's epoch travels with every write,
 * and a ValidatingAdmissionPolicy (`deploy/manifests/fencing-policy.yaml`) rejects any
 * write by the operator's identity whose epoch is older than the one published in
 * the parameter ConfigMap `manyfold-fencing`.
 *
 * Where the epoch travels:
 * - status writes of Manyfold resources: `status.epoch`;
 * - every other create/update (children, metadata of Manyfold resources): the
 *   annotation `manyfold.dev/epoch`;
 * - deletes: the deleted object's annotation, so a delete is "stamp, then delete with
 *   a resourceVersion precondition" (see `FencedWriter.delete`).
 *
 * Guarantee: once a leader has published epoch E, the API server rejects every write
 * of the operator's identity that carries an epoch below E, whichever process sent it.
 * A write that races the publication is ordered before it (it is part of the old term).
 *
 * Limitations: writes made with another identity are not fenced (by design: the
 * agents, people and other controllers); if the parameter ConfigMap is deleted, the
 * binding denies every fenced write until `deploy/manifests` is applied again.
 */
import { SystemClock, type Clock } from '../../legos/clock.ts';
import type { KubeClient } from '../../kube/client.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';

export const EpochAnnotation = 'manyfold.dev/epoch';
export const FencingConfigMap = 'manyfold-fencing';
export const FencingPolicyName = 'manyfold-fencing';
/** Pause between two probes of {@link awaitFencingEffective}, ms. */
const PROBE_INTERVAL_MS = 50;
/** Every admission policy that fences the operator's writes (deploy/manifests/fencing-policy.yaml). */
export const FencingPolicies: ReadonlySet<string> = new Set([FencingPolicyName, 'manyfold-fencing-heartbeats']);

/** A write rejected because a newer leader exists. The runtime steps down on it. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  readonly epoch: number;
  constructor(epoch: number, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.epoch = epoch;
  }
}

/** True when the API server refused a write because a fencing policy denied it (read from the structured Status). */
export function isFencingRejection(error: unknown): boolean {
  return error instanceof KubeApiError && error.deniedBy !== undefined && FencingPolicies.has(error.deniedBy.policy);
}

/** Reads the published epoch (0 when the ConfigMap or its `epoch` key is missing). */
export async function readPublishedEpoch(client: KubeClient, namespace: string): Promise<number> {
  const cm = await client.getOrUndefined<KubeObject & { data?: Record<string, string> }>(Resources.ConfigMap, FencingConfigMap, namespace);
  const value = Number.parseInt(cm?.data?.['epoch'] ?? '0', 10);
  return Number.isFinite(value) ? value : 0;
}

/**
 * Publishes `epoch` as the current one. Rejected by the policy when a newer epoch is
 * already published (then throws {@link FencedError}).
 */
export async function publishEpoch(
  client: KubeClient,
  options: { namespace: string; epoch: number; identity: string; fieldManager: string; wallNow: string; signal?: AbortSignal },
): Promise<void> {
  try {
    await client.apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: FencingConfigMap,
          namespace: options.namespace,
          annotations: { [EpochAnnotation]: String(options.epoch) },
        },
        data: { epoch: String(options.epoch), holder: options.identity, publishedAt: options.wallNow },
      },
      { fieldManager: options.fieldManager, ...(options.signal ? { signal: options.signal } : {}) },
    );
  } catch (error) {
    if (isFencingRejection(error)) {
      throw new FencedError(options.epoch, `epoch ${options.epoch} is stale: ${(error as Error).message}`, error);
    }
    throw error;
  }
}

/**
 * Waits until the API server enforces `epoch`: a dry-run write stamped `epoch - 1` must
 * be rejected by the fencing policy. The policy reads its parameter through the API
 * server's own cache, which trails the ConfigMap write by milliseconds; a new leader
 * that starts writing only after this returns knows that every write of the previous
 * term is already refused. Throws when the policy does not reject within `timeoutMs`
 * (fencing not installed, or not enforced), so the term ends instead of running unfenced.
 */
export async function awaitFencingEffective(
  client: KubeClient,
  options: {
    namespace: string;
    epoch: number;
    fieldManager: string;
    /** How long to wait for enforcement, ms. @default 10000 */
    timeoutMs?: number;
    signal?: AbortSignal;
    /** Time for the deadline and the pauses between probes. @default SystemClock */
    clock?: Clock;
  },
): Promise<number> {
  const clock = options.clock ?? SystemClock;
  const started = clock.monotonic();
  const deadline = started + (options.timeoutMs ?? 10_000);
  for (let attempt = 1; ; attempt++) {
    try {
      await client.apply(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: FencingConfigMap, namespace: options.namespace, annotations: { [EpochAnnotation]: String(options.epoch - 1) } },
        },
        { fieldManager: `${options.fieldManager}-probe`, dryRun: true, ...(options.signal ? { signal: options.signal } : {}) },
      );
    } catch (error) {
      if (isFencingRejection(error)) return clock.monotonic() - started;
      throw error;
    }
    if (clock.monotonic() > deadline) {
      throw new Error(
        `the API server does not enforce fencing epoch ${options.epoch} after ${attempt} probes: is the ValidatingAdmissionPolicy ` +
          `'${FencingPolicyName}' (deploy/manifests/fencing-policy.yaml) installed and bound?`,
      );
    }
    await clock.sleep(PROBE_INTERVAL_MS, options.signal);
  }
}

/** Returns a copy of `object` with the epoch annotation set. */
export function stampEpoch<T extends KubeObject>(object: T, epoch: number): T {
  return {
    ...object,
    metadata: { ...object.metadata, annotations: { ...(object.metadata.annotations ?? {}), [EpochAnnotation]: String(epoch) } },
  };
}
