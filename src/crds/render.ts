/**
 * Rendering the CRDs as YAML files, and comparing them with what is checked in.
 *
 * Output is deterministic: the schema rewriter fixes key order, kinds come in the
 * order of {@link allKinds}, files are sorted by name, and YAML lines are never folded.
 */
import { stringify } from 'yaml';
import { crdName, customResourceDefinition, type KindDefinition } from './crd.ts';
import { allKinds } from './index.ts';

/** Banner at the top of every generated file. */
export const GENERATED_BANNER = '# Generated from src/crds by `npm run crds` (manyfold crds --write). Do not edit.';

/** One file of deploy/crds. */
export interface RenderedFile {
  /** File name inside the CRD directory. */
  readonly name: string;
  readonly content: string;
}

function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, minContentWidth: 0 });
}

/** File name of a kind's CRD: `<plural>.manyfold.dev.yaml`. */
export function crdFileName(def: KindDefinition): string {
  return `${crdName(def)}.yaml`;
}

/** Every CRD as one multi-document YAML stream. */
export function renderCrdStream(defs: readonly KindDefinition[] = allKinds): string {
  return `${GENERATED_BANNER}\n${defs.map((def) => `---\n${toYaml(customResourceDefinition(def))}`).join('')}`;
}

/** One file per kind plus `kustomization.yaml`, sorted by name. */
export function renderCrdFiles(defs: readonly KindDefinition[] = allKinds): RenderedFile[] {
  const crds = defs
    .map((def) => ({ name: crdFileName(def), content: `${GENERATED_BANNER}\n${toYaml(customResourceDefinition(def))}` }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: crds.map((file) => file.name),
  };
  return [...crds, { name: 'kustomization.yaml', content: `${GENERATED_BANNER}\n${toYaml(kustomization)}` }].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
}

/** How one checked-in file differs from the generated one. */
export type FileDrift =
  | { readonly name: string; readonly kind: 'missing' }
  | { readonly name: string; readonly kind: 'extra' }
  | { readonly name: string; readonly kind: 'changed'; readonly firstLine: number; readonly expectedLines: number; readonly actualLines: number };

/**
 * Compares generated files with the files found on disk (`actual`: name → content,
 * YAML files only). Empty when they match exactly.
 */
export function compareCrdFiles(expected: readonly RenderedFile[], actual: ReadonlyMap<string, string>): FileDrift[] {
  const drift: FileDrift[] = [];
  const names = new Set(expected.map((f) => f.name));
  for (const file of expected) {
    const found = actual.get(file.name);
    if (found === undefined) drift.push({ name: file.name, kind: 'missing' });
    else if (found !== file.content) {
      const want = file.content.split('\n');
      const have = found.split('\n');
      let line = 0;
      while (line < want.length && line < have.length && want[line] === have[line]) line += 1;
      drift.push({ name: file.name, kind: 'changed', firstLine: line + 1, expectedLines: want.length, actualLines: have.length });
    }
  }
  for (const name of [...actual.keys()].sort()) if (!names.has(name)) drift.push({ name, kind: 'extra' });
  return drift;
}

/** One line per drifted file, e.g. `cells.manyfold.dev.yaml: differs from line 42 (120 lines, 118 generated)`. */
export function formatDrift(drift: readonly FileDrift[]): string[] {
  return drift.map((d) => {
    switch (d.kind) {
      case 'missing':
        return `${d.name}: missing`;
      case 'extra':
        return `${d.name}: not generated (extra file)`;
      case 'changed':
        return `${d.name}: differs from line ${d.firstLine} (${d.actualLines} lines checked in, ${d.expectedLines} generated)`;
    }
  });
}
