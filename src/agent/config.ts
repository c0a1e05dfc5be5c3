/**
 * The agent's configuration: the `config.json` the SensorFleet controller publishes in
 * the `<fleet>-agent` ConfigMap (see notes/sensorfleet-contract.md), validated once
 * here with the very schemas that validate `SensorFleet.spec` (sensors, spool, sink,
 * staleAfterSeconds), so the agent and the API server agree on what is valid.
 *
 * Also the pure reload planner: given the running and the new config, which sensors
 * start, stop or restart, and whether the sink or the spool must be rebuilt, each with
 * its reason.
 *
 * Limitations: only `version: 1` is understood; unknown top-level keys are ignored (a
 * newer controller may add some), unknown keys inside sensors, spool and sink are
 * rejected by the CRD schemas.
 */
import { z } from 'zod';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../crds/common.ts';
import { parseWith, type ParseResult } from '../crds/parse.ts';
import { SensorFleetSpecSchema } from '../crds/sensorfleet.ts';
import { deepEqual } from '../legos/sensor/index.ts';

const spec = SensorFleetSpecSchema.shape;

/** Identity of the fleet an agent serves. */
const FleetSchema = z.object({
  namespace: z.string().min(1).max(63).regex(DNS_LABEL, 'must be a DNS label'),
  name: z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lower-case RFC 1123 subdomain'),
  uid: z.string().max(128).optional(),
  generation: z.int().min(0).optional(),
});

/** `config.json`, version 1. */
export const AgentConfigSchema = z.object({
  version: z.literal(1),
  fleet: FleetSchema,
  sensors: spec.sensors,
  spool: spec.spool,
  sink: spec.sink,
  staleAfterSeconds: spec.staleAfterSeconds,
  heartbeatIntervalSeconds: z.int().min(1).max(86_400).optional(),
});

type ParsedConfig = z.output<typeof AgentConfigSchema>;

/** A validated config with defaults applied and the heartbeat interval resolved. */
export type AgentConfig = Omit<ParsedConfig, 'heartbeatIntervalSeconds'> & {
  /** Seconds between heartbeats: as given, else `max(1, floor(staleAfterSeconds / 3))`. */
  readonly heartbeatIntervalSeconds: number;
};
export type FleetIdentity = z.output<typeof FleetSchema>;
export type SensorDefinition = AgentConfig['sensors'][number];
export type SinkDefinition = AgentConfig['sink'];
export type SpoolDefinition = AgentConfig['spool'];

/** The contract's heartbeat interval for a staleness bound: `max(1, floor(staleAfterSeconds / 3))`. */
export function defaultHeartbeatIntervalSeconds(staleAfterSeconds: number): number {
  return Math.max(1, Math.floor(staleAfterSeconds / 3));
}

/**
 * Validates the text of `config.json`. Never throws: a failure carries every issue with
 * its field in dotted notation (`sensors[1].source.path: must be an absolute path`),
 * ready for the health message.
 */
export function parseAgentConfig(text: string): ParseResult<AgentConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const message = `config.json: not valid JSON (${error instanceof Error ? error.message : String(error)})`;
    return { ok: false, issues: [{ field: '', message }], message };
  }
  const parsed = parseWith(AgentConfigSchema, raw, '');
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  return { ok: true, value: { ...value, heartbeatIntervalSeconds: value.heartbeatIntervalSeconds ?? defaultHeartbeatIntervalSeconds(value.staleAfterSeconds) } };
}

/**
 * Reads only the fleet identity from a config that may be invalid elsewhere, so an agent
 * that starts on a broken config can still find its spool and last good config.
 */
export function parseFleetIdentity(text: string): FleetIdentity | undefined {
  try {
    const result = FleetSchema.safeParse((JSON.parse(text) as { fleet?: unknown } | null)?.fleet);
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** Directory name of a fleet's spool under `--spool-dir`: `<namespace>_<fleet>`. */
export function spoolDirName(fleet: FleetIdentity): string {
  return `${fleet.namespace}_${fleet.name}`;
}

/** What a reload changes; every list names sensors, `reasons` explain the plan. */
export interface ReloadPlan {
  readonly start: readonly string[];
  readonly stop: readonly string[];
  /** Definition (or staleness bound) changed: stopped and started again, filters reset. */
  readonly restart: readonly string[];
  readonly keep: readonly string[];
  /** The sink changed: the forwarder is rebuilt (in-flight batches are replayed, not lost). */
  readonly sinkChanged: boolean;
  /** Spool limits or fleet identity changed: the spool is closed and reopened with them. */
  readonly spoolChanged: boolean;
  readonly reasons: readonly string[];
}

/** Pure: the changes that take the agent from `current` to `next`. */
export function planReload(current: AgentConfig, next: AgentConfig): ReloadPlan {
  const reasons: string[] = [];
  const before = new Map(current.sensors.map((s) => [s.name, s]));
  const after = new Map(next.sensors.map((s) => [s.name, s]));
  const staleChanged = current.staleAfterSeconds !== next.staleAfterSeconds;
  const start: string[] = [];
  const stop: string[] = [];
  const restart: string[] = [];
  const keep: string[] = [];
  for (const [name, definition] of after) {
    const old = before.get(name);
    if (old === undefined) {
      start.push(name);
      reasons.push(`sensor ${name} added`);
    } else if (!deepEqual(old, definition)) {
      restart.push(name);
      reasons.push(`sensor ${name} changed`);
    } else if (staleChanged) {
      restart.push(name);
    } else {
      keep.push(name);
    }
  }
  for (const name of before.keys()) {
    if (!after.has(name)) {
      stop.push(name);
      reasons.push(`sensor ${name} removed`);
    }
  }
  if (staleChanged) reasons.push(`staleAfterSeconds ${current.staleAfterSeconds} -> ${next.staleAfterSeconds}`);
  const sinkChanged = !deepEqual(current.sink, next.sink);
  if (sinkChanged) reasons.push(`sink changed (${current.sink.type} -> ${next.sink.type})`);
  const identityChanged = current.fleet.namespace !== next.fleet.namespace || current.fleet.name !== next.fleet.name;
  const limitsChanged = !deepEqual(current.spool, next.spool);
  if (identityChanged) reasons.push(`fleet ${current.fleet.namespace}/${current.fleet.name} -> ${next.fleet.namespace}/${next.fleet.name}`);
  if (limitsChanged) reasons.push('spool limits changed');
  if (current.heartbeatIntervalSeconds !== next.heartbeatIntervalSeconds) reasons.push(`heartbeat every ${next.heartbeatIntervalSeconds} s`);
  return { start, stop, restart, keep, sinkChanged, spoolChanged: identityChanged || limitsChanged, reasons };
}
