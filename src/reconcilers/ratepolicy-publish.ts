/**
 * What the RatePolicy operator writes and reads back, pure: the shares ConfigMap with
 * the clients' document (`shares.json`, legos/ratelimit/document.ts) and the protocol
 * state (`protocol.json`) side by side, written in one apply so they never disagree,
 * and the choice between the cached ConfigMap and the one this process wrote last
 * (whichever carries the newer protocol state; a cache that lags behind our own write
 * must never become the basis of the next step, or two different documents could
 * carry one version).
 *
 * Recovery: a `protocol.json` that does not parse is rebuilt from `shares.json` with
 * every grant kept as a ceiling until the document lapses (conservative); when neither
 * parses the operator starts from an empty state.
 *
 * Limitations: the empty-state fallback can overshoot for one lease if someone
 * overwrites the ConfigMap with garbage while clients enforce it.
 */
import { z } from 'zod';
import { API_VERSION } from '../crds/common.ts';
import { PROTOCOL_KEY, POLICY_LABEL, SHARES_KEY, parseSharesDocument, sharesConfigMapName, type LimitEntry, type SharesDocument } from '../legos/ratelimit/document.ts';
import { childKey, type DesiredChild } from './decision.ts';
import { fromShareUnits, initialProtocolState, type ProtocolState, type ReplicaGrant, type ShareVector } from './ratepolicy-protocol.ts';

/** The shares ConfigMap as observed (cache or own write). */
export interface PublishedObject {
  readonly data?: Readonly<Record<string, string>> | undefined;
  readonly resourceVersion?: string | undefined;
}

const unitShare = z.object({ rate: z.int().min(0), burst: z.int().min(0) });
const vector = z.record(z.string(), unitShare);
const ProtocolStateSchema = z.object({
  version: z.int().min(0),
  expiresAt: z.number(),
  replicas: z.record(
    z.string(),
    z.object({ granted: vector, ceiling: vector.optional(), ceilingVersion: z.int().optional(), ceilingExpiresAt: z.number().optional() }),
  ),
});

/** The protocol state and document a published ConfigMap holds (recovered when damaged). */
export interface PublishedState {
  readonly state: ProtocolState;
  readonly document: SharesDocument | undefined;
  /** Why the state had to be rebuilt, if it had to. */
  readonly recovered?: string | undefined;
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

/** Reads the state back from a ConfigMap (undefined: nothing published). */
export function readPublished(object: PublishedObject | undefined): PublishedState | undefined {
  if (object === undefined) return undefined;
  const sharesText = object.data?.[SHARES_KEY];
  const protocolText = object.data?.[PROTOCOL_KEY];
  const document = sharesText === undefined ? undefined : tryParse(() => parseSharesDocument(sharesText));
  const parsed = protocolText === undefined ? undefined : tryParse(() => ProtocolStateSchema.parse(JSON.parse(protocolText)) as ProtocolState);
  if (parsed !== undefined) return { state: parsed, document };
  if (document === undefined) return { state: initialProtocolState, document: undefined, recovered: 'neither shares.json nor protocol.json could be read; starting afresh' };
  const replicas: Record<string, ReplicaGrant> = {};
  for (const [pod, grants] of Object.entries(document.replicas)) {
    const ceiling: Record<string, { rate: number; burst: number }> = {};
    for (const [limit, [rps, burst]] of Object.entries(grants)) ceiling[limit] = { rate: Math.ceil(rps * 2 ** 20), burst: Math.ceil(burst * 2 ** 20) };
    replicas[pod] = { granted: {}, ceiling, ceilingVersion: document.version + 1, ceilingExpiresAt: document.expiresAtMs };
  }
  return { state: { version: document.version, expiresAt: document.expiresAtMs, replicas }, document, recovered: 'protocol.json could not be read; every grant is held until the document lapses' };
}

/** Of two observed ConfigMaps, the one whose protocol state is newer (version, then expiry); ties go to `cached`. */
export function freshest(cached: PublishedObject | undefined, written: PublishedObject | undefined): PublishedObject | undefined {
  if (written === undefined) return cached;
  if (cached === undefined) return written;
  const a = readPublished(cached)?.state;
  const b = readPublished(written)?.state;
  if (a === undefined || b === undefined) return b === undefined ? cached : written;
  if (b.version > a.version || (b.version === a.version && b.expiresAt > a.expiresAt)) return written;
  return cached;
}

/** The document clients read, from the protocol state and the limits (units → requests/s). */
export function renderDocument(input: {
  readonly policy: string;
  readonly state: ProtocolState;
  readonly limits: readonly LimitEntry[];
  readonly refreshIntervalMs: number;
  readonly leaseMs: number;
  readonly frozen: boolean;
}): SharesDocument {
  const replicas: Record<string, Record<string, [number, number]>> = {};
  for (const [pod, grant] of Object.entries(input.state.replicas)) {
    const out: Record<string, [number, number]> = {};
    for (const [limit, share] of Object.entries(grant.granted)) out[limit] = [fromShareUnits(share.rate), fromShareUnits(share.burst)];
    replicas[pod] = out;
  }
  return {
    policy: input.policy,
    version: input.state.version,
    expiresAtMs: input.state.expiresAt,
    refreshIntervalMs: input.refreshIntervalMs,
    leaseMs: input.leaseMs,
    ...(input.frozen ? { frozen: true } : {}),
    limits: [...input.limits],
    replicas,
  };
}

/** True when two documents differ in anything but their expiry (and version). */
export function contentDiffers(a: SharesDocument | undefined, b: SharesDocument): boolean {
  if (a === undefined) return true;
  const strip = (d: SharesDocument) => JSON.stringify({ ...d, version: 0, expiresAtMs: 0 });
  return strip(a) !== strip(b);
}

/** The shares ConfigMap to apply; `resourceVersion` makes the write conditional on the state it was computed from. */
export function sharesConfigMap(input: {
  readonly policy: { readonly name: string; readonly namespace: string; readonly uid: string };
  readonly document: SharesDocument;
  readonly state: ProtocolState;
  readonly basisResourceVersion: string | undefined;
}): DesiredChild<'ConfigMap'> {
  const name = sharesConfigMapName(input.policy.name);
  return {
    key: childKey('ConfigMap', name),
    kind: 'ConfigMap',
    name,
    object: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: input.policy.namespace,
        labels: { [POLICY_LABEL]: input.policy.name, 'app.kubernetes.io/managed-by': 'manyfold' },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'RatePolicy', name: input.policy.name, uid: input.policy.uid, controller: true, blockOwnerDeletion: true }],
        ...(input.basisResourceVersion === undefined ? {} : { resourceVersion: input.basisResourceVersion }),
      },
      data: { [SHARES_KEY]: JSON.stringify(input.document), [PROTOCOL_KEY]: JSON.stringify(input.state) },
    },
  };
}

/** Units of a vector entry as requests/s (0 when absent). */
export const rpsOf = (v: ShareVector | undefined, limit: string): number => fromShareUnits(v?.[limit]?.rate ?? 0);
