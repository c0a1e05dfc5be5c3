/**
 * `manyfold crds [--write|--check] [--dir PATH]`: the CustomResourceDefinitions
 * generated from the zod schemas in src/crds.
 *
 *   (no flag)  print every CRD as one multi-document YAML stream
 *   --write    write deploy/crds/<plural>.manyfold.dev.yaml and kustomization.yaml
 *   --check    regenerate in memory; exit 1 naming each file that drifted, is missing
 *              or is extra (YAML files only), so CI fails when schemas and checked-in
 *              CRDs disagree
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareCrdFiles, formatDrift, renderCrdFiles, renderCrdStream } from '../crds/render.ts';

const usage = `Usage: manyfold crds [--write | --check] [--dir PATH]

  (default)   print all CRDs as one multi-document YAML stream
  --write     write one file per kind and kustomization.yaml to the CRD directory,
              removing YAML files that are no longer generated
  --check     exit 1 and name the files that differ from the generated ones
  --dir PATH  CRD directory (default deploy/crds in the Manyfold package)`;

/** deploy/crds of the package this file belongs to, whatever the working directory. */
function defaultDir(): string {
  return resolve(fileURLToPath(new URL('../../deploy/crds', import.meta.url)));
}

async function readYamlFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile() && /\.ya?ml$/.test(entry.name)) files.set(entry.name, await readFile(join(dir, entry.name), 'utf8'));
  }
  return files;
}

export async function runCrds(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      write: { type: 'boolean' },
      check: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (values.write && values.check) {
    process.stderr.write(`manyfold crds: --write and --check exclude each other\n\n${usage}\n`);
    return 2;
  }
  if (!values.write && !values.check) {
    // A reader that stops early (`| head`) is not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
    process.stdout.write(renderCrdStream());
    return 0;
  }
  const dir = values.dir === undefined ? defaultDir() : resolve(values.dir);
  const shown = relative(process.cwd(), dir) || '.';
  const expected = renderCrdFiles();
  const drift = compareCrdFiles(expected, await readYamlFiles(dir));
  if (values.check) {
    if (drift.length === 0) {
      process.stdout.write(`${shown}: ${expected.length} files up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${shown} is out of date with src/crds (${drift.length} file${drift.length === 1 ? '' : 's'}):\n` +
        `${formatDrift(drift).map((line) => `  ${line}`).join('\n')}\nRun \`npm run crds\` and commit the result.\n`,
    );
    return 1;
  }
  await mkdir(dir, { recursive: true });
  for (const file of expected) await writeFile(join(dir, file.name), file.content);
  for (const d of drift) if (d.kind === 'extra') await rm(join(dir, d.name));
  const changed = drift.filter((d) => d.kind !== 'extra').length;
  const removed = drift.length - changed;
  process.stdout.write(`${shown}: wrote ${expected.length} files (${changed} changed${removed > 0 ? `, ${removed} removed` : ''})\n`);
  return 0;
}
