/**
 * Cell objects and Cell-status bookkeeping shared by the benchmarks.
 *
 * `cheapCell` stamps one ConfigMap (ready as soon as it exists, no pods), for
 * benchmarks of the control loop itself; `webCell` stamps a one-replica Deployment and
 * a Service whose selector is unique to the Cell (see the note on `webCell`).
 * `CellTracker` follows Cells through an {@link ObjectWatch} and keeps, per Cell, the
 * latest observed generation, phase and epoch with the time each was first seen, plus
 * O(1) counters for `until` predicates.
 */
import type { CellStatus } from '../../src/crds/cell.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import type { ObjectWatch } from './watch.ts';

export type CellObject = KubeObject & { spec: Record<string, unknown>; status?: CellStatus };

const cellMeta = (namespace: string, name: string) => ({ apiVersion: 'manyfold.dev/v1alpha1', kind: 'Cell', metadata: { name, namespace } });

/** A Cell whose template is one ConfigMap `settings` with `data.rev = rev`. */
export function cheapCell(namespace: string, name: string, rev: number): CellObject {
  return {
    ...cellMeta(namespace, name),
    spec: {
      zone: 'zone-a',
      template: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { rev: String(rev), mode: 'blue' } }] },
    },
  };
}

/** The Deployment (1 replica) and headless Service that `webCell` stamps, before stamping. */
export function webResources(app: string): [KubeObject, KubeObject] {
  const labels = { app };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      },
    },
    // Headless: the local control plane's Service range is a /24 (254 ClusterIPs), too
    // small for 1,000 Services; endpoints (what Cell readiness reads) work the same.
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { clusterIP: 'None', selector: labels, ports: [{ port: 80 }] } },
  ];
}

/**
 * A Cell stamping a one-replica Deployment and a Service. The selector labels are
 * unique per Cell (`app: <cell>`): the controller labels pod templates with the Cell
 * but does not scope selectors, so 500 Cells with `app: web` in one namespace would
 * give every Service every Cell's pods.
 */
export function webCell(namespace: string, name: string): CellObject {
  return { ...cellMeta(namespace, name), spec: { zone: 'zone-a', template: { resources: webResources(name) } } };
}

/** What a tracker knows of one Cell. */
export interface TrackedCell {
  observedGeneration: number;
  phase: string | undefined;
  epoch: number;
  /** Arrival time of the event that first showed each observed generation. */
  readonly seenGeneration: Map<number, number>;
  /** Arrival time of the event that first showed phase Ready (after the last non-Ready). */
  readyAt: number | undefined;
  /**
   * Arrival time of the event that first showed each generation converged: observed,
   * condition Ready=True, every resource at that template generation.
   */
  readonly convergedGeneration: Map<number, number>;
  /** Status of the Ready condition last seen. */
  readyCondition: string | undefined;
}

/** Follows the Cells of an {@link ObjectWatch}. */
export class CellTracker {
  readonly cells = new Map<string, TrackedCell>();
  /** Cells whose status has any observedGeneration. */
  reconciled = 0;
  /** Cells currently reporting phase Ready. */
  ready = 0;
  /** Times a Cell's Ready condition went from True to something else. */
  readyFlaps = 0;
  private readonly generationListeners: ((name: string, generation: number, epoch: number, at: number) => void)[] = [];

  constructor(watch: ObjectWatch<CellObject>) {
    watch.on((change, cell, at) => {
      const name = cell.metadata.name ?? '';
      if (change === 'delete') return;
      let tracked = this.cells.get(name);
      if (!tracked) {
        tracked = { observedGeneration: 0, phase: undefined, epoch: 0, seenGeneration: new Map(), readyAt: undefined, convergedGeneration: new Map(), readyCondition: undefined };
        this.cells.set(name, tracked);
      }
      const generation = cell.status?.observedGeneration ?? 0;
      const epoch = Number(cell.status?.epoch ?? 0);
      if (generation > 0 && tracked.observedGeneration === 0) this.reconciled++;
      if (generation > tracked.observedGeneration) {
        tracked.observedGeneration = generation;
        tracked.epoch = epoch;
        if (!tracked.seenGeneration.has(generation)) tracked.seenGeneration.set(generation, at);
        for (const listener of this.generationListeners) listener(name, generation, epoch, at);
      }
      const phase = cell.status?.phase;
      if (phase === 'Ready' && tracked.phase !== 'Ready') {
        this.ready++;
        tracked.readyAt = at;
      } else if (phase !== 'Ready' && tracked.phase === 'Ready') {
        this.ready--;
      }
      tracked.phase = phase;
      const readyCondition = cell.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (tracked.readyCondition === 'True' && readyCondition !== 'True') this.readyFlaps++;
      tracked.readyCondition = readyCondition;
      const converged = readyCondition === 'True' && (cell.status?.resources ?? []).every((r) => r.templateGeneration === generation);
      if (generation > 0 && converged && !tracked.convergedGeneration.has(generation)) tracked.convergedGeneration.set(generation, at);
    });
  }

  /** Calls `listener` whenever a Cell's status shows a higher observedGeneration. */
  onGeneration(listener: (name: string, generation: number, epoch: number, at: number) => void): void {
    this.generationListeners.push(listener);
  }
}
