/**
 * The agent's health, as a pure function of what its parts report: the sensors'
 * watchdogs, the config, the spool, the writer and the forwarder. The result is what the
 * heartbeat Lease carries (`manyfold.dev/health` and `health-message`) and what
 * `/healthz` shows.
 *
 * Severity, worst first:
 * - `error`: a config reload failed validation (the previous config keeps running), no
 *   valid config at all, the spool failed (it is being reopened), spool writes fail, or a
 *   sensor's source keeps failing;
 * - `stale`: the spool is full under `overflow: block` (sampling is paused), or a sensor
 *   delivered nothing decodable for `staleAfterSeconds`;
 * - `ok` otherwise. Notes that do not change the state (the sink failing while the
 *   backlog grows within limits, damage found in the spool and quarantined, draining)
 *   are appended to the message.
 *
 * The message lists the reasons of the worst severity first, then the notes, joined by
 * `; ` and cut to {@link MAX_HEALTH_MESSAGE} characters.
 */
import type { HealthState, HealthStatus } from '../legos/sensor/index.ts';

/** Longest health message (the contract's bound). */
export const MAX_HEALTH_MESSAGE = 256;

/** Everything health is decided from. */
export interface HealthInputs {
  readonly sensors: readonly { readonly name: string; readonly status: HealthStatus }[];
  /** Why the newest config was rejected (naming the field), if it was. */
  readonly configError?: string | undefined;
  /** False until a valid config runs. */
  readonly configured: boolean;
  readonly spool: {
    readonly state: 'open' | 'failed' | 'closed' | 'absent';
    /** Damage found on open, one entry per file (`file: detail`). */
    readonly corruptions: readonly string[];
  };
  readonly writer: { readonly blocked: boolean; readonly problem?: string | undefined };
  readonly forwarder: { readonly consecutiveFailures: number; readonly lastError?: string | undefined; readonly draining: boolean };
}

/** The verdict. */
export interface AgentHealth {
  readonly status: HealthState;
  readonly message: string;
}

function truncate(text: string): string {
  return text.length <= MAX_HEALTH_MESSAGE ? text : `${text.slice(0, MAX_HEALTH_MESSAGE - 1)}…`;
}

/** Pure: the agent's health; see the module header. */
export function aggregateHealth(input: HealthInputs): AgentHealth {
  const errors: string[] = [];
  const stale: string[] = [];
  const notes: string[] = [];
  if (input.configError !== undefined) errors.push(`config rejected, previous config still running: ${input.configError}`);
  if (!input.configured) errors.push('no valid config');
  if (input.spool.state === 'failed') errors.push('spool failed; reopening');
  if (input.writer.problem !== undefined) errors.push(`spool writes fail: ${input.writer.problem}`);
  for (const sensor of input.sensors) {
    if (sensor.status.status === 'error') errors.push(`sensor ${sensor.name}: ${sensor.status.message}`);
    else if (sensor.status.status === 'stale') stale.push(`sensor ${sensor.name}: ${sensor.status.message}`);
  }
  if (input.writer.blocked) stale.unshift('spool full (overflow block): sampling paused until the sink catches up');
  if (input.forwarder.consecutiveFailures > 0) {
    notes.push(`sink failing (${input.forwarder.consecutiveFailures} in a row${input.forwarder.lastError === undefined ? '' : `: ${input.forwarder.lastError}`})`);
  }
  for (const corruption of input.spool.corruptions) notes.push(`spool damage quarantined: ${corruption}`);
  if (input.forwarder.draining) notes.push('draining');
  const status: HealthState = errors.length > 0 ? 'error' : stale.length > 0 ? 'stale' : 'ok';
  const message = [...errors, ...stale, ...notes].join('; ');
  return { status, message: truncate(message) };
}
