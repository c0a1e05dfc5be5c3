/**
 * Waves of Cells for a Rollout, pure: which Cells a Rollout reaches, in which order,
 * and which weight each Cell (and the namespace as a whole) is served.
 *
 * - Cells are those `cellSelector` picks (all Cells of the namespace without one).
 * - Without `waves`: one wave holding every selected Cell.
 * - Waves by `label`: one wave per label value, in `order` first, then the other
 *   values in lexical order; selected Cells without the label form a last wave.
 * - Waves by `selectors`: in order, a Cell joins the first wave whose selector matches;
 *   selected Cells matching none form a last wave named `remaining`.
 * Empty waves are dropped, except that there is always at least one wave.
 *
 * The namespace-wide document (for workloads outside any Cell) is served the weight
 * of the last wave: it moves only once every Cell has reached that weight.
 *
 * Limitations: Cells are named, not weighted by capacity; a Cell that changes labels
 * mid-rollout moves to its new wave and takes that wave's weight.
 */
import type { RolloutSpec, RolloutStatus } from '../crds/rollout.ts';

/** A label selector (`metav1.LabelSelector`). */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] | undefined }[] | undefined;
}

/** Whether `labels` satisfy `selector` (an empty or missing selector matches everything). */
export function selectorMatches(labels: Readonly<Record<string, string>>, selector: LabelSelector | undefined): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && value !== undefined && values.includes(value))) return false;
    if (e.operator === 'NotIn' && has && value !== undefined && values.includes(value)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** A Cell as waves need it. */
export interface WaveCell {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Cell reports Ready=True. */
  readonly ready: boolean;
}

/** One planned wave. */
export interface Wave {
  readonly name: string;
  readonly cells: readonly string[];
}

const lexical = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The waves of `spec` over `cells`, in rollout order (at least one). */
export function planWaves(spec: Pick<RolloutSpec, 'cellSelector' | 'waves'>, cells: readonly WaveCell[]): Wave[] {
  const selected = cells.filter((c) => selectorMatches(c.labels, spec.cellSelector)).sort((a, b) => lexical(a.name, b.name));
  const waves = spec.waves;
  let planned: Wave[];
  if (waves?.label !== undefined) {
    const label = waves.label;
    const values = [...new Set(selected.flatMap((c) => (c.labels[label] !== undefined ? [c.labels[label]] : [])))];
    const order = [...(waves.order ?? []).filter((v) => values.includes(v)), ...values.filter((v) => !(waves.order ?? []).includes(v)).sort(lexical)];
    planned = order.map((value) => ({ name: value, cells: selected.filter((c) => c.labels[label] === value).map((c) => c.name) }));
    const rest = selected.filter((c) => c.labels[label] === undefined).map((c) => c.name);
    if (rest.length > 0) planned.push({ name: 'unlabelled', cells: rest });
  } else if (waves?.selectors !== undefined) {
    const taken = new Set<string>();
    planned = waves.selectors.map((w) => {
      const members = selected.filter((c) => !taken.has(c.name) && selectorMatches(c.labels, w.cellSelector)).map((c) => c.name);
      for (const m of members) taken.add(m);
      return { name: w.name, cells: members };
    });
    const rest = selected.filter((c) => !taken.has(c.name)).map((c) => c.name);
    if (rest.length > 0) planned.push({ name: 'remaining', cells: rest });
    planned = planned.filter((w) => w.cells.length > 0);
  } else {
    planned = [{ name: 'all', cells: selected.map((c) => c.name) }];
  }
  return planned.length > 0 ? planned : [{ name: 'all', cells: [] }];
}

/** Weight of each wave from a Rollout status (0 for waves it does not report). */
export function waveWeights(status: Pick<RolloutStatus, 'waves' | 'currentWeight'> | undefined, waveCount: number): number[] {
  return Array.from({ length: Math.max(1, waveCount) }, (_, i) => status?.waves?.[i]?.weight ?? (waveCount <= 1 ? (status?.currentWeight ?? 0) : 0));
}

/** Weights a Rollout serves: per Cell (Cells it does not reach are absent) and for the namespace document. */
export interface ServedWeights {
  readonly cells: ReadonlyMap<string, number>;
  readonly namespace: number;
}

/** What `waves` at `weights` serve. */
export function servedWeights(waves: readonly Wave[], weights: readonly number[]): ServedWeights {
  const cells = new Map<string, number>();
  waves.forEach((w, i) => {
    for (const c of w.cells) cells.set(c, weights[i] ?? 0);
  });
  return { cells, namespace: weights[Math.max(0, waves.length - 1)] ?? 0 };
}
