/**
 * ShardMapController: the wiring of the pure ShardMap decider (reconcilers/shardmap.ts)
 * on the controller shell (runtime/shell.ts).
 *
 * Observes, from the caches: the ShardMap, the Cells its `cellSelector` picks in its
 * namespace (deleting Cells excluded, so their replicas move), its routing ConfigMap
 * and the last-good copy of it (owned, label `manyfold.dev/shardmap`) and the hand-off acknowledgement ConfigMaps
 * the client library writes (label `manyfold.dev/shardmap-acks`). Applies the routing
 * ConfigMap when the decision publishes one, and only after that succeeded writes the
 * status that checkpoints the moves, so status never names a version that is not out;
 * then logs, metrics and events. Cells and acknowledgements enqueue the ShardMaps they
 * concern. {@link shardMapPlacements} feeds Cell drains (controllers/placements.ts).
 *
 * Metrics: `rebalance_moves_total` (moves started), `migrations_in_flight`,
 * `shard_load_ratio` (per member Cell), labelled by namespace and name.
 *
 * The routing table is restored from its last-good copy (ConfigMap
 * `<name>-routing-last-good`, same label and owner, see reconcilers/shardmap-table.ts),
 * so a new leader restores a hand-edited or deleted routing ConfigMap as the old one
 * would; the last table this process published is also remembered (bounded), for
 * the moments its cache has not caught up with its own writes.
 *
 * Limitations: a Cell event enqueues every ShardMap of its namespace; every published
 * version is written twice (the routing ConfigMap and its copy).
 */
import type { Counter, Gauge } from 'prom-client';
import { parseCellSpec } from '../crds/cell.ts';
import { ManyfoldResources } from '../crds/index.ts';
import { parseShardMapSpec, type ShardMapSpec, type ShardMapStatus } from '../crds/shardmap.ts';
import { AckCellAnnotation, AckLabel } from '../client/shard-host.ts';
import { Resources, type ResourceType } from '../kube/resources.ts';
import type { KubeObject } from '../kube/types.ts';
import { BoundedMap } from '../legos/bounded-map.ts';
import { decodeTable, ROUTING_TABLE_KEY, type RoutingTable } from '../legos/placement/routing-table.ts';
import { reconcileShardMap, type MemberCell } from '../reconcilers/shardmap.ts';
import { ChecksumAnnotation, lastGoodConfigMapName, routingConfigMapName, ShardMapLabel, type ObservedTable } from '../reconcilers/shardmap-table.ts';
import type { ControllerSpec } from '../runtime/controller.ts';
import { domainCounter, domainGauge } from '../runtime/metrics.ts';
import { applyChildren, commit, defineController, labelWatch, observeObject } from '../runtime/shell.ts';
import { CellType } from './cell.ts';
import type { PlacementProvider } from './placements.ts';

export const ShardMapType: ResourceType = ManyfoldResources.ShardMap;

type ShardMapObject = KubeObject & { spec?: unknown; status?: ShardMapStatus };
type CellObject = KubeObject & { spec?: unknown };
type ConfigMapObject = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> };

const routingSelector = { labelSelector: ShardMapLabel };
const ackSelector = { labelSelector: AckLabel };
/** ShardMaps whose last published table is remembered (oldest forgotten first). */
const MAX_REMEMBERED_TABLES = 256;

/** Placements a ShardMap assigns to Cells (its `status.members[].replicas`), for Cell drains. */
export const shardMapPlacements: PlacementProvider = {
  type: ShardMapType,
  placements: (object) => new Map(((object as ShardMapObject).status?.members ?? []).map((m) => [m.cell, m.replicas ?? 0])),
};

type Selector = NonNullable<ShardMapSpec['cellSelector']>;

/** Whether `labels` satisfy a Kubernetes label selector (empty selects everything). */
export function selects(selector: Selector | undefined, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    const values = r.values ?? [];
    if (r.operator === 'In' && !(has && values.includes(value ?? ''))) return false;
    if (r.operator === 'NotIn' && has && values.includes(value ?? '')) return false;
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function memberCells(cells: readonly CellObject[], selector: Selector | undefined): MemberCell[] {
  const out: MemberCell[] = [];
  for (const cell of cells) {
    if (cell.metadata.deletionTimestamp || !selects(selector, cell.metadata.labels ?? {})) continue;
    const parsed = parseCellSpec(cell.spec ?? {});
    if (!parsed.ok) continue; // an invalid Cell is not a member (its own status says why)
    out.push({ name: cell.metadata.name ?? '', zone: parsed.value.zone, capacity: parsed.value.capacity, state: parsed.value.state });
  }
  return out;
}

function observedTable(cm: ConfigMapObject | undefined): ObservedTable {
  const data = cm?.binaryData?.[ROUTING_TABLE_KEY];
  if (!cm || data === undefined) return cm ? { kind: 'invalid', message: `binaryData ${ROUTING_TABLE_KEY} is missing` } : { kind: 'missing' };
  try {
    const { table, checksum } = decodeTable(data);
    return { kind: 'valid', table, checksum, annotatedChecksum: cm.metadata.annotations?.[ChecksumAnnotation] };
  } catch (error) {
    return { kind: 'invalid', message: error instanceof Error ? error.message : String(error) };
  }
}

function acksOf(configMaps: readonly ConfigMapObject[], shardMap: string): Map<string, Map<number, number>> {
  const acks = new Map<string, Map<number, number>>();
  for (const cm of configMaps) {
    const cell = cm.metadata.annotations?.[AckCellAnnotation];
    if (cm.metadata.labels?.[AckLabel] !== shardMap || cell === undefined) continue;
    try {
      const parsed = JSON.parse(cm.data?.['acks'] ?? '{}') as Record<string, unknown>;
      acks.set(cell, new Map(Object.entries(parsed).flatMap(([s, e]) => (typeof e === 'number' && /^\d+$/.test(s) ? [[Number(s), e] as [number, number]] : []))));
    } catch {
      // A malformed acknowledgement object acknowledges nothing.
    }
  }
  return acks;
}

export interface ShardMapControllerOptions {
  readonly operatorNamespace: string;
  /** Concurrent reconciles. @default 4 */
  readonly concurrency?: number | undefined;
}

/** The ShardMap controller's spec for the manager. */
export function shardMapController(options: ShardMapControllerOptions): ControllerSpec {
  const remembered = new BoundedMap<string, { table: RoutingTable; checksum: string }>({ max: MAX_REMEMBERED_TABLES });
  const metrics: { moves?: Counter<'namespace' | 'name'>; inFlight?: Gauge<'namespace' | 'name'>; load?: Gauge<'namespace' | 'name' | 'cell'> } = {};
  return defineController<ShardMapObject>({
    name: 'shardmap',
    for: ShardMapType,
    operatorNamespace: options.operatorNamespace,
    owns: [Resources.ConfigMap],
    ownsSelector: routingSelector,
    concurrency: options.concurrency ?? 4,
    watches: [
      labelWatch(Resources.ConfigMap, AckLabel, ackSelector),
      { type: CellType, map: (cell, cache) => cache.list(ShardMapType, { namespace: cell.metadata.namespace ?? '' }).map((m) => `${m.metadata.namespace ?? ''}/${m.metadata.name ?? ''}`) },
    ],
    metrics: ({ registry }) => {
      metrics.moves = domainCounter(registry, { name: 'rebalance_moves_total', help: 'Shard replica moves started by ShardMap rebalancing', labelNames: ['namespace', 'name'] });
      metrics.inFlight = domainGauge(registry, { name: 'migrations_in_flight', help: 'Shard moves in flight per ShardMap', labelNames: ['namespace', 'name'] });
      metrics.load = domainGauge(registry, { name: 'shard_load_ratio', help: "Replicas a member Cell holds divided by its fair share, per ShardMap", labelNames: ['namespace', 'name', 'cell'] });
    },
    gone: (ctx) => {
      remembered.delete(ctx.key);
    },
    reconcile: async (ctx) => {
      const object = observeObject(ctx, parseShardMapSpec);
      const { namespace, name } = object;
      const routing = ctx.cache.get<ConfigMapObject>(Resources.ConfigMap, `${namespace}/${routingConfigMapName(name)}`, routingSelector);
      const lastGood = ctx.cache.get<ConfigMapObject>(Resources.ConfigMap, `${namespace}/${lastGoodConfigMapName(name)}`, routingSelector);
      const decision = reconcileShardMap(
        {
          ...object,
          cells: memberCells(ctx.cache.list<CellObject>(CellType, { namespace }), object.spec.ok ? object.spec.value.cellSelector : undefined),
          table: observedTable(routing),
          lastGood: observedTable(lastGood),
          remembered: remembered.get(ctx.key),
          acks: acksOf(ctx.cache.list<ConfigMapObject>(Resources.ConfigMap, { namespace, selector: ackSelector }), name),
        },
        ctx.clock.now(),
      );
      ctx.log.debug({ event: 'shardmap_planned', reason: decision.reason }, 'planned');
      const applied = await applyChildren(ctx, decision.apply);
      const failed = [...applied.outcomes.values()].find((o) => !o.ok);
      if (failed && !failed.ok) {
        // Status checkpoints only what is published: retry the whole decision.
        throw applied.transient ?? new Error(`routing ConfigMap refused: ${failed.message}`);
      }
      if (decision.published) remembered.set(ctx.key, decision.published);
      const result = await commit(ctx, decision);
      for (const line of decision.logs) ctx.log.info({ event: line.event, namespace, name, ...line.fields }, line.event.replace(/_/g, ' '));
      metrics.moves?.inc({ namespace, name }, decision.movesStarted);
      metrics.inFlight?.set({ namespace, name }, decision.inFlight);
      for (const [cell, ratio] of decision.loadRatios) metrics.load?.set({ namespace, name, cell }, ratio);
      return result;
    },
  });
}
