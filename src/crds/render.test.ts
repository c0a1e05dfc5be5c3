import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { allKinds } from './index.ts';
import { compareCrdFiles, formatDrift, renderCrdFiles, renderCrdStream } from './render.ts';

const deployDir = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));

describe('renderCrdFiles', () => {
  it('is deterministic', () => {
    expect(renderCrdFiles()).toEqual(renderCrdFiles());
    expect(renderCrdStream()).toBe(renderCrdStream());
  });

  it('writes one file per kind and a kustomization listing them, sorted', () => {
    const files = renderCrdFiles();
    const names = files.map((f) => f.name);
    expect(names).toEqual([...names].sort());
    expect(names).toHaveLength(allKinds.length + 1);
    const kustomization = parse(files.find((f) => f.name === 'kustomization.yaml')?.content ?? '') as { resources: string[] };
    expect(kustomization.resources).toEqual(names.filter((n) => n !== 'kustomization.yaml'));
    for (const def of allKinds) expect(names).toContain(`${def.plural}.manyfold.dev.yaml`);
  });

  it('prints every CRD as one multi-document stream', () => {
    const docs = parseAllDocuments(renderCrdStream()).map((doc) => doc.toJS() as { kind: string; spec: { names: { kind: string } } });
    expect(docs.map((d) => d.kind)).toEqual(allKinds.map(() => 'CustomResourceDefinition'));
    expect(docs.map((d) => d.spec.names.kind)).toEqual(allKinds.map((k) => k.kind));
  });
});

describe('compareCrdFiles', () => {
  const expected = [
    { name: 'a.yaml', content: 'one\ntwo\nthree\n' },
    { name: 'b.yaml', content: 'b\n' },
  ];

  it('finds nothing when the directory matches', () => {
    expect(compareCrdFiles(expected, new Map(expected.map((f) => [f.name, f.content])))).toEqual([]);
  });

  it('names changed, missing and extra files', () => {
    const drift = compareCrdFiles(
      expected,
      new Map([
        ['a.yaml', 'one\nTWO\nthree\n'],
        ['old.yaml', 'x'],
      ]),
    );
    expect(drift).toEqual([
      { name: 'a.yaml', kind: 'changed', firstLine: 2, expectedLines: 4, actualLines: 4 },
      { name: 'b.yaml', kind: 'missing' },
      { name: 'old.yaml', kind: 'extra' },
    ]);
    expect(formatDrift(drift)).toEqual([
      'a.yaml: differs from line 2 (4 lines checked in, 4 generated)',
      'b.yaml: missing',
      'old.yaml: not generated (extra file)',
    ]);
  });
});

describe('deploy/crds', () => {
  it('is up to date with the schemas (run `npm run crds` when this fails)', async () => {
    const names = (await readdir(deployDir)).filter((n) => /\.ya?ml$/.test(n));
    const actual = new Map(await Promise.all(names.map(async (n) => [n, await readFile(`${deployDir}${n}`, 'utf8')] as const)));
    expect(formatDrift(compareCrdFiles(renderCrdFiles(), actual))).toEqual([]);
  });
});
