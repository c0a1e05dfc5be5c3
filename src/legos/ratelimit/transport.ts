/**
 * How a rate limiter reaches the control plane: read and watch the published shares,
 * write its report. {@link kubeTransport} does it through the Kubernetes API server;
 * tests and the benchmark may pass their own.
 *
 * Why API-server objects (and not etcd or an endpoint the operator serves):
 * - Reports are one small Lease per pod, written at most once per refresh interval
 *   and only when there is something to say (a new version to acknowledge, demand
 *   that moved by more than 10 %), so in steady state an Even policy costs no client
 *   writes at all. Worst case at 1,000 replicas with the default 1 s interval: 1,000
 *   writes/s while a transition is acknowledged (one write per replica per version,
 *   never more than one per replica per second); with
 *   `refreshIntervalMilliseconds: 5000`, at most 200/s (for scale: the kubelets of a
 *   5,000-node cluster write 500 node-lease heartbeats/s). The operator adds one ConfigMap write per version and one per lease/3.
 * - It survives an operator failover for free: the shares, the protocol state and
 *   every report live in the API server; a new leader lists them and continues. An
 *   endpoint served by the leader would lose its reports with the leader and need
 *   its own discovery, TLS and authorisation; direct etcd access would hand every
 *   application pod etcd credentials.
 * - Access is ordinary RBAC in the application's namespace: get/list/watch on its
 *   shares ConfigMap, create/patch on Leases.
 *
 * Limitations: watch delivery adds the API server's latency (milliseconds) to every
 * transition; a watch that goes silent is replaced after half a lease without events
 * (the operator re-publishes every third of a lease, so silence means trouble).
 */
import type { KubeClient } from '../../kube/client.ts';
import { hasCode, isNotFound } from '../../kube/errors.ts';
import { Resources } from '../../kube/resources.ts';
import type { KubeObject } from '../../kube/types.ts';
import { watchEvents } from '../../kube/watch.ts';
import { microTime } from '../clock.ts';
import { ACK_ANNOTATION, DEMAND_ANNOTATION, POLICY_LABEL, SHARES_KEY, parseSharesDocument, reportLeaseName, sharesConfigMapName, type SharesDocument } from './document.ts';

/** What a client reports: the newest version received and its demand per Demand-mode limit. */
export interface ShareReport {
  readonly version: number;
  /** Requests per second by limit name. */
  readonly demand: Readonly<Record<string, number>>;
}

/** The limiter's view of the control plane. */
export interface SharesTransport {
  /** Reads the current document (a consistent read); undefined when none is published. */
  read(signal: AbortSignal): Promise<{ document: SharesDocument | undefined; resumeFrom: string | undefined }>;
  /**
   * Calls `onDocument` with every document published after `resumeFrom` until `signal`
   * aborts, the stream ends (resolve) or fails (throw); the caller reads again and resumes.
   */
  watch(resumeFrom: string | undefined, onDocument: (document: SharesDocument | undefined) => void, signal: AbortSignal): Promise<void>;
  /** Writes this pod's report. */
  report(report: ShareReport, signal: AbortSignal): Promise<void>;
}

export interface KubeTransportOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly policy: string;
  readonly podName: string;
  /** Reopen the watch when nothing arrived for this long, ms. Default 10,000. */
  readonly silenceMs?: number | undefined;
  /** Report Lease's `leaseDurationSeconds` (for people reading it). Default 15. */
  readonly leaseDurationSeconds?: number | undefined;
}

interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

function documentOf(object: ConfigMapObject | undefined): SharesDocument | undefined {
  const text = object?.data?.[SHARES_KEY];
  return text === undefined ? undefined : parseSharesDocument(text);
}

/** The Kubernetes transport: ConfigMap watch in, one Lease per pod out. */
export function kubeTransport(options: KubeTransportOptions): SharesTransport {
  const { client, namespace, policy, podName } = options;
  const name = sharesConfigMapName(policy);
  const lease = reportLeaseName(policy, podName);
  const silenceMs = options.silenceMs ?? 10_000;
  let leaseExists = false;
  return {
    async read(signal) {
      try {
        const object = await client.get<ConfigMapObject>(Resources.ConfigMap, name, namespace, signal);
        return { document: documentOf(object), resumeFrom: object.metadata.resourceVersion };
      } catch (error) {
        if (isNotFound(error)) return { document: undefined, resumeFrom: undefined };
        throw error;
      }
    },
    async watch(resumeFrom, onDocument, signal) {
      const local = new AbortController();
      const stop = () => local.abort();
      signal.addEventListener('abort', stop, { once: true });
      let timer = setTimeout(stop, silenceMs);
      try {
        for await (const event of watchEvents<ConfigMapObject>(client, Resources.ConfigMap, {
          namespace,
          fieldSelector: `metadata.name=${name}`,
          resourceVersion: resumeFrom,
          allowWatchBookmarks: true,
          timeoutSeconds: 300,
          signal: local.signal,
        })) {
          clearTimeout(timer);
          timer = setTimeout(stop, silenceMs);
          if (event.type === 'BOOKMARK') continue;
          onDocument(event.type === 'DELETED' ? undefined : documentOf(event.object));
        }
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
      }
    },
    async report(report, signal) {
      const annotations = { [ACK_ANNOTATION]: String(report.version), [DEMAND_ANNOTATION]: JSON.stringify(report.demand) };
      const spec = { holderIdentity: podName, renewTime: microTime(Date.now()), leaseDurationSeconds: options.leaseDurationSeconds ?? 15 };
      if (leaseExists) {
        try {
          await client.patch(Resources.Lease, { name: lease, namespace }, { metadata: { annotations }, spec }, { type: 'merge', signal });
          return;
        } catch (error) {
          if (!isNotFound(error)) throw error;
          leaseExists = false;
        }
      }
      const object: KubeObject = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: lease, namespace, labels: { [POLICY_LABEL]: policy }, annotations },
        spec,
      };
      try {
        await client.create(Resources.Lease, object, { signal });
      } catch (error) {
        if (!hasCode(error, 409)) throw error; // AlreadyExists: another process of this pod made it
        await client.patch(Resources.Lease, { name: lease, namespace }, { metadata: { annotations }, spec }, { type: 'merge', signal });
      }
      leaseExists = true;
    },
  };
}
