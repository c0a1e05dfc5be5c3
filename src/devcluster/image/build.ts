/**
 * Builds the project's image from its `Dockerfile` without a registry or a container
 * engine: each step is carried out on a root filesystem directory (`RUN` in a chroot
 * inside private mount and PID namespaces, so its /proc, /dev and resolv.conf mounts
 * vanish with it), and the result is packed as a one-layer OCI image archive by
 * `scripts/node/oci-archive.sh`, ready for `ctr images import`.
 *
 * The base image is a build argument (`BASE_IMAGE`, default `node:24-slim` for users
 * with Docker). Here it is {@link LocalBase}: made from Debian packages (`apt-get
 * download`: libc6, libstdc++6, libgcc-s1, dash, coreutils and their libraries), the
 * project's own Node 24 (`node_modules/node`) and the machine's npm, equivalent to
 * node:24-slim for what the Dockerfile needs (a shell, `env`, node, npm).
 *
 * Guarantees: a failing step names itself (`Dockerfile line N: ...` or `base image: ...`);
 * the base root filesystem is cached per Node version.
 *
 * Limitations: Linux, root (chroot, unshare); `RUN` uses the host's network (npm ci
 * reaches the registry the host's npm uses); single-layer images.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheRoot } from '../assets.ts';
import { parseDockerfile, type Step } from './dockerfile.ts';

const run = promisify(execFile);

/** The base image name the local build makes (never pulled). */
export const LocalBase = 'manyfold.local/node-base:24';
/** The image name the local build produces. */
export const LocalImage = 'manyfold.local/manyfold:dev';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const ociArchive = join(repoRoot, 'scripts', 'node', 'oci-archive.sh');

/** Debian packages of the base: what node and the Dockerfile's shell steps load. */
const BasePackages = ['libc6', 'libgcc-s1', 'libstdc++6', 'dash', 'coreutils', 'libacl1', 'libattr1', 'libselinux1', 'libpcre2-8-0', 'libgmp10'];

export class ImageBuildError extends Error {
  override readonly name = 'ImageBuildError';
  constructor(step: string, message: string, options?: { cause?: unknown }) {
    super(`image build failed at ${step}: ${message}`, options);
  }
}

async function sh(step: string, binary: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    return (await run(binary, [...args], { maxBuffer: 64 << 20, ...options })).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-5).join('\n');
    throw new ImageBuildError(step, `${binary} ${args.join(' ')}: ${stderr || String(error)}`, { cause: error });
  }
}

/** Runs a command with its output streamed to `log` (for RUN steps). */
async function stream(step: string, binary: string, args: readonly string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(binary, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const tail: string[] = [];
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        log(`  ${line}`);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      }
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', (error) => reject(new ImageBuildError(step, String(error))));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new ImageBuildError(step, `exited with ${code}: ${tail.join(' | ')}`))));
  });
}

function nodeBinary(): string {
  const path = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(path)) throw new ImageBuildError('base image', `${path} is missing (npm install brings Node 24)`);
  return path;
}

/** Builds (once per Node version) the local base root filesystem; returns its directory. */
export async function ensureLocalBase(log: (line: string) => void): Promise<string> {
  const node = nodeBinary();
  const version = (await sh('base image', node, ['--version'])).trim();
  const dir = join(cacheRoot(), 'images', `node-base-${version}`);
  const rootfs = join(dir, 'rootfs');
  if (existsSync(join(dir, 'done'))) return rootfs;
  log(`base image: Debian packages ${BasePackages.join(' ')} + Node ${version} + npm`);
  await rm(dir, { recursive: true, force: true });
  const debs = join(dir, 'debs');
  await mkdir(debs, { recursive: true });
  await mkdir(rootfs, { recursive: true });
  await sh('base image (apt-get download; run apt-get update if the lists are missing)', 'apt-get', ['download', '-q', ...BasePackages], { cwd: debs });
  for (const deb of (await readdir(debs)).filter((f) => f.endsWith('.deb')).sort()) {
    await sh('base image (dpkg-deb -x)', 'dpkg-deb', ['-x', join(debs, deb), rootfs]);
  }
  await rm(debs, { recursive: true, force: true });
  for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian']) await rm(join(rootfs, d), { recursive: true, force: true });
  if (!existsSync(join(rootfs, 'bin', 'sh'))) await symlink('dash', join(rootfs, 'bin', 'sh'));
  await mkdir(join(rootfs, 'usr/local/bin'), { recursive: true });
  await cp(node, join(rootfs, 'usr/local/bin/node'));
  const npmCli = await sh('base image (npm)', 'readlink', ['-f', (await sh('base image (npm)', 'sh', ['-c', 'command -v npm'])).trim()]);
  const npmDir = dirname(dirname(npmCli.trim()));
  await cp(npmDir, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
  for (const d of ['tmp', 'root', 'etc', 'proc', 'dev', 'sys', 'run']) await mkdir(join(rootfs, d), { recursive: true });
  await sh('base image', 'chmod', ['1777', join(rootfs, 'tmp')]);
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnonroot:x:65532:\n');
  await writeFile(join(rootfs, 'etc/resolv.conf'), '');
  await writeFile(join(dir, 'done'), `${new Date().toISOString()}\n`);
  return rootfs;
}

function hostCa(): string | undefined {
  const path = process.env['NODE_EXTRA_CA_CERTS'];
  return path && existsSync(path) ? path : undefined;
}

/** Environment for RUN steps: the image's own, plus the host's npm registry and proxies. */
function runEnv(imageEnv: ReadonlyMap<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOME: '/root', ...Object.fromEntries(imageEnv) };
  for (const [k, v] of Object.entries(process.env)) if (/^(npm_config_registry|https?_proxy|no_proxy)$/i.test(k)) env[k] = v;
  // A host behind a TLS-intercepting proxy trusts an extra CA; RUN steps see it at
  // /run/host-ca.crt (a bind mount of the build only, never in the image).
  if (hostCa()) env['NODE_EXTRA_CA_CERTS'] = '/run/host-ca.crt';
  return env;
}

export interface BuiltImage {
  readonly name: string;
  readonly archive: string;
  readonly digest: string;
  /** Uncompressed size of the image's filesystem, bytes. */
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * Builds `context`'s Dockerfile as `name` into `<cache>/images/<file>.tar`.
 *
 * @param baseImage value of the BASE_IMAGE build argument (default {@link LocalBase});
 *   only {@link LocalBase} is available without a registry
 */
export async function buildImage(options: { context?: string; name?: string; baseImage?: string; log: (line: string) => void }): Promise<BuiltImage> {
  const started = Date.now();
  const context = resolve(options.context ?? repoRoot);
  const name = options.name ?? LocalImage;
  const { log } = options;
  const steps: Step[] = parseDockerfile(await readFile(join(context, 'Dockerfile'), 'utf8'), { BASE_IMAGE: options.baseImage ?? LocalBase });
  const work = join(cacheRoot(), 'images', `build-${process.pid}`);
  const rootfs = join(work, 'rootfs');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const env = new Map<string, string>([['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']]);
  let workdir = '/';
  let user = '';
  let entrypoint: readonly string[] = [];
  let cmd: readonly string[] = [];
  try {
    for (const step of steps) {
      const label = `Dockerfile line ${step.line} (${step.kind.toUpperCase()})`;
      log(`[image] ${label}`);
      switch (step.kind) {
        case 'from': {
          if (step.image !== LocalBase) throw new ImageBuildError(label, `base image ${step.image} is not available without a registry; use BASE_IMAGE=${LocalBase} (built here) or build with Docker`);
          await sh(label, 'cp', ['-a', await ensureLocalBase(log), rootfs]);
          break;
        }
        case 'workdir':
          workdir = step.dir.startsWith('/') ? step.dir : join(workdir, step.dir);
          await mkdir(join(rootfs, workdir), { recursive: true });
          break;
        case 'env':
          for (const [k, v] of step.vars) env.set(k, v);
          break;
        case 'copy': {
          const dest = step.dest.startsWith('/') ? step.dest : join(workdir, step.dest);
          const intoDir = step.dest.endsWith('/') || step.sources.length > 1;
          for (const source of step.sources) {
            const from = join(context, source);
            const isDir = (await stat(from)).isDirectory();
            const target = join(rootfs, intoDir && !isDir ? join(dest, source.split('/').pop() ?? source) : dest);
            await mkdir(isDir ? target : dirname(target), { recursive: true });
            await cp(from, target, { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
          }
          break;
        }
        case 'run': {
          const script = [
            'set -e',
            `mount --rbind /dev "${rootfs}/dev"`,
            `mount -t proc proc "${rootfs}/proc"`,
            `mount --bind /etc/resolv.conf "${rootfs}/etc/resolv.conf"`,
            ...(hostCa() ? [`touch "${rootfs}/run/host-ca.crt"`, `mount --bind "${hostCa() ?? ''}" "${rootfs}/run/host-ca.crt"`] : []),
            `exec chroot "${rootfs}" /bin/sh -c 'cd "$0" && exec /bin/sh -c "$1"' "${workdir}" "$STEP"`,
          ].join('\n');
          await stream(label, 'unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '/bin/sh', '-c', script], { ...runEnv(env), STEP: step.command }, log);
          break;
        }
        case 'user':
          user = step.user;
          break;
        case 'entrypoint':
          entrypoint = step.argv;
          break;
        case 'cmd':
          cmd = step.argv;
          break;
      }
    }
    await rm(join(rootfs, 'root/.npm'), { recursive: true, force: true });
    await rm(join(rootfs, 'run/host-ca.crt'), { force: true });
    const archive = join(cacheRoot(), 'images', `${name.replace(/[^A-Za-z0-9.-]+/g, '_')}.tar`);
    const args = ['--rootfs', rootfs, '--name', name, '--out', `${archive}.tmp`, '--workdir', workdir];
    for (const [k, v] of env) if (k !== 'PATH') args.push('--env', `${k}=${v}`);
    for (const a of entrypoint) args.push('--entrypoint', a);
    for (const a of cmd) args.push('--cmd', a);
    if (user) args.push('--user', user);
    const digest = (await sh('pack (oci-archive.sh)', ociArchive, args)).trim();
    await sh('pack', 'mv', [`${archive}.tmp`, archive]);
    const bytes = Number((await sh('size', 'du', ['-sb', rootfs])).split('\t')[0]);
    return { name, archive, digest, bytes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
