#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart/pretest), under whatever Node the
// machine has: installs the dependencies (including the bundled Node 24) when
// node_modules is missing or older than package-lock.json, so the README's two
// commands work on a fresh clone without a separate install step. (`npm install`, not
// `npm ci`: registries that serve only some platforms' optional packages leave the
// lockfile without the others, which `npm ci` rejects.)
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const bundledNode = join(root, 'node_modules', 'node', 'bin', 'node');

const stale = !existsSync(installed) || !existsSync(bundledNode) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs + 1000);
if (stale) {
  console.error('[manyfold] installing dependencies (npm install; brings Node 24 as a dev dependency)...');
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const result = spawnSync(npm[0], [...npm.slice(1), 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[manyfold] npm install failed; see the output above');
    process.exit(result.status ?? 1);
  }
}
