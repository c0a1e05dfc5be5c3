/**
 * The agent's version (the package version), reported in the heartbeat Lease's
 * `manyfold.dev/agent-version` annotation and the sink's User-Agent.
 *
 * Limitations: read from the package.json two directories up at first use; `unknown`
 * when it cannot be read (a bundled or relocated build).
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The package version, e.g. `0.1.0`. */
export function agentVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
