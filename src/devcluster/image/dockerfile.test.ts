import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DockerfileError, parseDockerfile } from './dockerfile.ts';

describe('parseDockerfile', () => {
  it("reads the project's Dockerfile with the base image as a build argument", () => {
    const text = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
    const steps = parseDockerfile(text, { BASE_IMAGE: 'local/base:1' });
    expect(steps[0]).toMatchObject({ kind: 'from', image: 'local/base:1' });
    expect(parseDockerfile(text)[0]).toMatchObject({ kind: 'from', image: 'node:24-slim' });
    expect(steps.find((s) => s.kind === 'user')).toMatchObject({ user: '65532:65532' });
    expect(steps.find((s) => s.kind === 'entrypoint')).toMatchObject({ argv: ['node', '--optimize-for-size', 'bin/manyfold.js'] });
    expect(steps.filter((s) => s.kind === 'copy').length).toBeGreaterThan(2);
  });

  it('names the line of an unsupported instruction', () => {
    expect(() => parseDockerfile('FROM a\nADD x /y\n')).toThrow(DockerfileError);
    expect(() => parseDockerfile('FROM a\nADD x /y\n')).toThrow(/line 2/);
    expect(() => parseDockerfile('ARG B\nFROM ${B}\n')).toThrow(/no default/);
    expect(() => parseDockerfile('FROM a\nFROM b\n')).toThrow(/multi-stage/);
  });

  it('joins continuation lines and keeps shell-form RUN verbatim', () => {
    const steps = parseDockerfile('FROM a\nRUN echo 1 \\\n  && echo 2\nCMD run now\n');
    expect(steps[1]).toMatchObject({ kind: 'run', command: 'echo 1    && echo 2' });
    expect(steps[2]).toMatchObject({ kind: 'cmd', argv: ['/bin/sh', '-c', 'run now'] });
  });
});
