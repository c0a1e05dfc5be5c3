#!/usr/bin/env node
// Entry point of the `manyfold` command. Manyfold runs its TypeScript sources directly on
// Node >= 22.19 (type stripping). When started by an older Node (Debian's Node 20, say),
// this shim re-executes itself with the Node 24 that the project installs as a dev
// dependency, so `npx manyfold ...` and `node bin/manyfold.js ...` work on such machines.
// After `npm run build` (as the image does), the sources come from dist/ with their types
// already stripped (bin/prestripped.js; MANYFOLD_PRESTRIPPED=0 turns that off).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
const supported = major > 22 || (major === 22 && minor >= 19);

if (supported) {
  // Modules with their types stripped at build time (`npm run build`), when built.
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const manifest = join(root, 'dist', 'manifest.json');
  if (existsSync(manifest) && process.env.MANYFOLD_PRESTRIPPED !== '0') {
    const { usePrestripped } = await import('./prestripped.js');
    usePrestripped(root, JSON.parse(readFileSync(manifest, 'utf8')));
  }
  await import('../src/cli/main.ts');
} else {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bundled)) {
    console.error(
      `manyfold needs Node >= 22.19 (this is ${process.version}); run \`npm install\` in ${root} ` +
        'to get the bundled Node 24, or install a supported Node.',
    );
    process.exit(1);
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
