/**
 * A Dockerfile reader for the subset the project's own `Dockerfile` uses: `ARG`,
 * `FROM`, `WORKDIR`, `ENV`, `COPY`, `RUN`, `USER`, `ENTRYPOINT`, `CMD` (one stage).
 * Pure: text and build arguments in, a list of steps out, or a {@link DockerfileError}
 * naming the line.
 *
 * Limitations: no multi-stage builds, no `ADD`, no heredocs, no `COPY --from`/`--chown`,
 * variables expand only as `${NAME}`/`$NAME` from `ARG` and `ENV`; line continuations
 * with a trailing backslash are joined.
 */

export type Step =
  | { readonly kind: 'from'; readonly image: string; readonly line: number }
  | { readonly kind: 'workdir'; readonly dir: string; readonly line: number }
  | { readonly kind: 'env'; readonly vars: readonly (readonly [string, string])[]; readonly line: number }
  | { readonly kind: 'copy'; readonly sources: readonly string[]; readonly dest: string; readonly line: number }
  | { readonly kind: 'run'; readonly command: string; readonly line: number }
  | { readonly kind: 'user'; readonly user: string; readonly line: number }
  | { readonly kind: 'entrypoint'; readonly argv: readonly string[]; readonly line: number }
  | { readonly kind: 'cmd'; readonly argv: readonly string[]; readonly line: number };

export class DockerfileError extends Error {
  override readonly name = 'DockerfileError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
    this.line = line;
  }
}

function expand(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a?: string, b?: string) => vars.get(a ?? b ?? '') ?? whole);
}

function execForm(rest: string, line: number): string[] {
  if (!rest.startsWith('[')) return ['/bin/sh', '-c', rest];
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    throw new DockerfileError(line, `not a JSON array: ${rest}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new DockerfileError(line, 'expected an array of strings');
  return parsed;
}

/**
 * Parses `text` into steps. `buildArgs` override the `ARG` defaults; an `ARG` without
 * a default and without a build argument is an error.
 */
export function parseDockerfile(text: string, buildArgs: Readonly<Record<string, string>> = {}): Step[] {
  const vars = new Map<string, string>();
  const steps: Step[] = [];
  const physical = text.split('\n');
  let sawFrom = false;
  for (let i = 0; i < physical.length; i++) {
    const start = i + 1;
    let logical = physical[i] ?? '';
    while (/\\\s*$/.test(logical) && i + 1 < physical.length) logical = logical.replace(/\\\s*$/, ' ') + (physical[++i] ?? '');
    const trimmed = logical.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(\S+)\s*(.*)$/.exec(trimmed);
    const instruction = (match?.[1] ?? '').toUpperCase();
    const rest = (match?.[2] ?? '').trim();
    switch (instruction) {
      case 'ARG': {
        const [name, ...value] = rest.split('=');
        if (!name) throw new DockerfileError(start, 'ARG needs a name');
        const given = buildArgs[name] ?? (value.length > 0 ? value.join('=') : undefined);
        if (given === undefined) throw new DockerfileError(start, `build argument ${name} has no default and was not given`);
        vars.set(name, given);
        break;
      }
      case 'FROM':
        if (sawFrom) throw new DockerfileError(start, 'multi-stage builds are not supported');
        sawFrom = true;
        steps.push({ kind: 'from', image: expand(rest, vars), line: start });
        break;
      case 'WORKDIR':
        steps.push({ kind: 'workdir', dir: expand(rest, vars), line: start });
        break;
      case 'ENV': {
        const pairs = [...rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)].map((m) => [m[1] ?? '', expand(m[3] ?? m[2] ?? '', vars)] as const);
        if (pairs.length === 0) throw new DockerfileError(start, 'ENV needs NAME=value');
        for (const [k, v] of pairs) vars.set(k, v);
        steps.push({ kind: 'env', vars: pairs, line: start });
        break;
      }
      case 'COPY': {
        if (rest.startsWith('--')) throw new DockerfileError(start, `COPY options are not supported: ${rest}`);
        const words = rest.split(/\s+/).map((w) => expand(w, vars));
        const dest = words.pop();
        if (!dest || words.length === 0) throw new DockerfileError(start, 'COPY needs a source and a destination');
        steps.push({ kind: 'copy', sources: words, dest, line: start });
        break;
      }
      case 'RUN':
        steps.push({ kind: 'run', command: rest, line: start });
        break;
      case 'USER':
        steps.push({ kind: 'user', user: expand(rest, vars), line: start });
        break;
      case 'ENTRYPOINT':
        steps.push({ kind: 'entrypoint', argv: execForm(rest, start), line: start });
        break;
      case 'CMD':
        steps.push({ kind: 'cmd', argv: execForm(rest, start), line: start });
        break;
      default:
        throw new DockerfileError(start, `instruction ${instruction} is not supported by this builder`);
    }
    if (!sawFrom && instruction !== 'ARG') throw new DockerfileError(start, `${instruction} before FROM`);
  }
  if (!sawFrom) throw new DockerfileError(physical.length, 'no FROM');
  return steps;
}
