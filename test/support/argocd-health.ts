/**
 * Runs the Argo CD health checks of `deploy/argocd/health-checks.yaml` the way Argo CD
 * does: the script is a Lua chunk that reads the global `obj` (the resource, decoded from
 * JSON into tables) and returns a table with `status` and `message`.
 *
 * The interpreter is fengari (Lua 5.3 in JavaScript). Argo CD runs gopher-lua (Lua 5.1);
 * the checks use only what both have (tables, ipairs, string concatenation, comparison).
 *
 * Limitations: Argo CD's sandbox (which libraries it opens) is not reproduced; all
 * standard libraries are open here.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fengari from 'fengari';
import { parse } from 'yaml';

const healthChecksPath = fileURLToPath(new URL('../../deploy/argocd/health-checks.yaml', import.meta.url));
const keyPrefix = 'resource.customizations.health.manyfold.dev_';

/** Argo CD's health statuses. */
export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';

export interface Health {
  readonly status: HealthStatus;
  readonly message: string;
}

/** The health check scripts of the file, by kind. */
export async function loadHealthChecks(): Promise<Map<string, string>> {
  const manifest = parse(await readFile(healthChecksPath, 'utf8')) as { data?: Record<string, string> };
  const checks = new Map<string, string>();
  for (const [key, script] of Object.entries(manifest.data ?? {})) {
    if (key.startsWith(keyPrefix)) checks.set(key.slice(keyPrefix.length), script);
  }
  return checks;
}

/** A Lua expression for a JSON value: objects and arrays become tables (arrays from 1), null is nil. */
export function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a JSON number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') {
    const escaped = value.replace(/[\\"\u0000-\u001f\u007f]/g, (ch) => (ch === '\\' || ch === '"' ? `\\${ch}` : `\\${ch.charCodeAt(0).toString().padStart(3, '0')}`));
    return `"${escaped}"`;
  }
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `[${luaLiteral(k)}] = ${luaLiteral(v)}`)
      .join(', ')}}`;
  }
  throw new Error(`not a JSON value: ${typeof value}`);
}

/** Runs one check against `object`; a Lua error (syntax, nil concatenation, ...) throws with the interpreter's message. */
export function evaluateHealth(script: string, object: unknown): Health {
  const { lua, lauxlib, lualib, to_luastring } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const run = (chunk: string, results: number) => {
    if (lauxlib.luaL_loadstring(L, to_luastring(chunk)) !== lua.LUA_OK || lua.lua_pcall(L, 0, results, 0) !== lua.LUA_OK) {
      throw new Error(`Lua: ${lua.lua_tojsstring(L, -1) ?? 'unknown error'}`);
    }
  };
  run(`obj = ${luaLiteral(object)}`, 0);
  run(script, 1);
  if (!lua.lua_istable(L, -1)) throw new Error('the health check returned no table');
  lua.lua_getfield(L, -1, to_luastring('status'));
  const status = lua.lua_tojsstring(L, -1);
  lua.lua_pop(L, 1);
  lua.lua_getfield(L, -1, to_luastring('message'));
  const message = lua.lua_isnil(L, -1) ? '' : (lua.lua_tojsstring(L, -1) ?? '');
  const valid: readonly string[] = ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'];
  if (status === null || !valid.includes(status)) throw new Error(`the health check returned status ${String(status)}`);
  return { status: status as HealthStatus, message };
}
