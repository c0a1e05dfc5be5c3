#!/usr/bin/env node
// `npm run build`: writes every module of src/ with its TypeScript types stripped to
// dist/src/ (same file names, same line and column positions: the types become
// whitespace), plus dist/manifest.json with each source's size and SHA-256 (not its
// mtime: image layers are packed with every mtime set to 0, scripts/node/oci-archive.sh). When that
// manifest exists, bin/manyfold.js loads these instead of stripping types at run time
// (bin/prestripped.js): Node's type stripper (amaro, swc compiled to WebAssembly) then
// never loads, which saves the operator ~25-30 MiB of resident memory (bench/README.md,
// issue 15). A source changed after the build no longer matches the manifest and is
// stripped at run time as usual, so a stale dist/ cannot run old code.
//
// Limitations: strips only (no transforms): the sources must use erasable syntax only,
// as Node's type stripping already requires.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'dist');
const files = {};

function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
      const rel = relative(root, path);
      const source = readFileSync(path);
      const target = join(out, rel);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, stripTypeScriptTypes(source.toString('utf8'), { mode: 'strip' }));
      files[rel] = { size: source.length, sha256: createHash('sha256').update(source).digest('hex') };
    }
  }
}

process.removeAllListeners('warning'); // stripTypeScriptTypes is marked experimental
rmSync(out, { recursive: true, force: true });
walk(join(root, 'src'));
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ files }, null, 0)}\n`);
console.error(`[manyfold] stripped ${Object.keys(files).length} modules into ${relative(process.cwd(), out) || out}`);
