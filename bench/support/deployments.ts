/**
 * Deployments of realistic size for the operator-memory benchmark (bench/reconcile.ts
 * `--rss-objects deployments`): what an application team keeps in git and applies
 * with `kubectl apply` (client-side, so the object carries the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation, as Argo CD's default
 * sync does too): labels, a pod template with two containers (app and sidecar), env,
 * resources, probes, volumes and security context. About 3.5 KB of JSON as sent, and
 * about 7-8 KB as stored (the annotation repeats it; `managedFields` and the status
 * come on top).
 *
 * The Deployment is labelled `manyfold.dev/cell` (so the Cell controller's informer of
 * stamped children caches it) and `spec.paused: true`, so the controller manager makes
 * no ReplicaSet or pod for it: the benchmark loads the operator's caches, not the
 * scheduler and kwok with 20,000 pods on a 2-core machine.
 *
 * Limitations: no owner reference (an owner would have to be a real Cell, whose
 * reconcile would then manage or conflict with it); all share one pod template shape.
 */
import type { KubeObject } from '../../src/kube/types.ts';

/** The body a team would write, without the last-applied annotation. */
function body(namespace: string, name: string, index: number): KubeObject {
  const app = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/version': `1.${index % 50}.0` };
  const env = (n: number) => Array.from({ length: n }, (_, k) => ({ name: `SETTING_${k}`, value: `value-${index}-${k}` }));
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      labels: { ...app, 'manyfold.dev/cell': 'filler', team: `team-${index % 20}`, tier: 'backend' },
      annotations: { 'example.com/owner': `team-${index % 20}@example.com`, 'example.com/runbook': `https://runbooks.example.com/${name}` },
    },
    spec: {
      paused: true,
      replicas: 2,
      revisionHistoryLimit: 5,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: app, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } },
        spec: {
          serviceAccountName: 'shop',
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'app',
              image: `registry.example.com/shop/${name}:1.${index % 50}.0`,
              args: ['--port=8080', '--metrics-port=9090', `--shard=${index % 64}`],
              ports: [
                { name: 'http', containerPort: 8080 },
                { name: 'metrics', containerPort: 9090 },
              ],
              env: [...env(8), { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/shop' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
            {
              name: 'proxy',
              image: 'registry.example.com/platform/proxy:2.4.1',
              args: ['--upstream=127.0.0.1:8080', '--listen=:8443'],
              ports: [{ name: 'https', containerPort: 8443 }],
              env: env(3),
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { 'app.kubernetes.io/name': name } } }],
        },
      },
    },
  };
}

/** A Deployment as `kubectl apply` would create it (with the last-applied annotation). */
export function realisticDeployment(namespace: string, name: string, index: number): KubeObject {
  const object = body(namespace, name, index);
  const annotations = { ...object.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(object) };
  return { ...object, metadata: { ...object.metadata, annotations } };
}
