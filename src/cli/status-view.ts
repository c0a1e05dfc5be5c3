/**
 * The live status view of `manyfold start`: one line per Manyfold resource, like
 * `kubectl get manyfold -A` with the Ready condition's reason, plus the operator.
 */
import type { KubeObject } from '../kube/types.ts';

interface Status {
  phase?: string;
  observedGeneration?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

function pad(value: string, width: number): string {
  return value.length >= width ? `${value.slice(0, width - 1)}…` : value.padEnd(width);
}

/** Renders the view as text (no colours, so it also reads well in logs). */
export function renderStatus(input: {
  objects: readonly KubeObject[];
  server: string;
  operator: { pid: number; leading: boolean; epoch: number };
  now: number;
}): string {
  const lines = [
    `Manyfold  ${new Date(input.now).toISOString()}  API server ${input.server}`,
    `operator pid ${input.operator.pid}: ${input.operator.leading ? `leading (fencing epoch ${input.operator.epoch})` : 'not leading yet'}`,
    '',
    `${pad('KIND', 13)}${pad('NAMESPACE/NAME', 36)}${pad('PHASE', 10)}${pad('READY', 7)}${pad('REASON', 22)}MESSAGE`,
  ];
  const sorted = [...input.objects].sort((a, b) => `${a.kind}/${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`.localeCompare(`${b.kind}/${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`));
  for (const object of sorted) {
    const status = (object['status'] ?? {}) as Status;
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    const current = status.observedGeneration === object.metadata.generation;
    lines.push(
      `${pad(object.kind, 13)}${pad(`${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`, 36)}${pad(status.phase ?? '-', 10)}` +
        `${pad(ready ? ready.status : current ? '-' : 'pending', 7)}${pad(ready?.reason ?? '', 22)}${(ready?.message ?? '').slice(0, 80)}`,
    );
  }
  if (sorted.length === 0) lines.push('(no Manyfold resources yet)');
  return lines.join('\n');
}
