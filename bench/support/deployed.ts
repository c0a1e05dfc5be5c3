/**
 * The operator's run-time settings as shipped, read from the files that ship them, so a
 * bench that claims "as deployed" cannot drift from them: `NODE_OPTIONS`, the other
 * literal environment variables (the `MALLOC_*` tuning) and the memory request and limit
 * of the `operator` container in deploy/manifests/deployment.yaml, and the Node flags of
 * the image's `ENTRYPOINT` in ./Dockerfile (`--optimize-for-size`, which `NODE_OPTIONS`
 * refuses).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** What the shipped Deployment and image give the operator process. */
export interface DeployedSettings {
  readonly nodeOptions: string;
  /** Node flags between `node` and the script in the image's ENTRYPOINT. */
  readonly nodeArgs: readonly string[];
  /** Literal `env` values other than NODE_OPTIONS and MANYFOLD_IMAGE. */
  readonly env: Readonly<Record<string, string>>;
  readonly memoryRequestBytes: number;
  readonly memoryLimitBytes: number;
}

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const Units: Readonly<Record<string, number>> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** Bytes of a Kubernetes memory quantity such as `192Mi` (binary and decimal suffixes up to G). */
export function memoryBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(quantity);
  const unit = Units[match?.[2] ?? ''];
  if (match === null || unit === undefined) throw new Error(`memory quantity '${quantity}': expected a number with an optional k, M, G, Ki, Mi or Gi suffix`);
  return Number(match[1]) * unit;
}

type Container = {
  name?: string;
  env?: { name: string; value?: string }[];
  resources?: { requests?: { memory?: string }; limits?: { memory?: string } };
};

/** Reads deploy/manifests/deployment.yaml and the Dockerfile; throws naming what is missing. */
export function deployedSettings(): DeployedSettings {
  const manifest = repo('deploy/manifests/deployment.yaml');
  const deployment = parseAllDocuments(readFileSync(manifest, 'utf8'))
    .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } })
    .find((d) => d.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'operator');
  if (container === undefined) throw new Error(`${manifest}: no Deployment with a container named 'operator'`);
  const env: Record<string, string> = {};
  let nodeOptions: string | undefined;
  for (const variable of container.env ?? []) {
    if (variable.value === undefined || variable.name === 'MANYFOLD_IMAGE') continue;
    if (variable.name === 'NODE_OPTIONS') nodeOptions = variable.value;
    else env[variable.name] = variable.value;
  }
  const request = container.resources?.requests?.memory;
  const limit = container.resources?.limits?.memory;
  if (nodeOptions === undefined || request === undefined || limit === undefined) {
    throw new Error(`${manifest}: the operator container needs NODE_OPTIONS, resources.requests.memory and resources.limits.memory`);
  }
  const dockerfile = repo('Dockerfile');
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(dockerfile, 'utf8'));
  const command = entry === null ? undefined : (JSON.parse(entry[1] ?? '[]') as string[]);
  if (command === undefined || command[0] !== 'node') throw new Error(`${dockerfile}: expected ENTRYPOINT ["node", <flags>..., <script>]`);
  return {
    nodeOptions,
    nodeArgs: command.slice(1, -1).filter((arg) => arg.startsWith('--')),
    env,
    memoryRequestBytes: memoryBytes(request),
    memoryLimitBytes: memoryBytes(limit),
  };
}
