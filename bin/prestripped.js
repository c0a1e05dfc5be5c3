// Loads src/ modules from dist/ (made by `npm run build`, scripts/strip-types.js) with
// their types already stripped, so Node's run-time type stripper never loads (it costs
// the operator ~25-30 MiB of resident memory). A module whose source no longer has the
// size and SHA-256 recorded at build time is left to Node's own type stripping, so an
// edit after a build runs the edited code. (Not the mtime: image layers are packed with
// every mtime set to 0, so an mtime check never matched inside the image.) Imported by bin/manyfold.js only when
// dist/manifest.json exists; synchronous, in-thread hooks (module.registerHooks).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Installs the hook; `root` is the package root, `manifest` dist/manifest.json's content. */
export function usePrestripped(root, manifest) {
  const files = manifest.files ?? {};
  registerHooks({
    load(url, context, nextLoad) {
      if (url.startsWith('file:') && url.endsWith('.ts')) {
        const path = fileURLToPath(url);
        const rel = relative(root, path);
        const built = files[rel];
        if (built) {
          let source;
          try {
            source = readFileSync(path);
          } catch {
            source = undefined;
          }
          if (source && source.length === built.size && createHash('sha256').update(source).digest('hex') === built.sha256) {
            return { format: 'module', source: readFileSync(join(root, 'dist', rel), 'utf8'), shortCircuit: true };
          }
        }
      }
      return nextLoad(url, context);
    },
  });
}
