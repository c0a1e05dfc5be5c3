import { describe, expect, it } from 'vitest';
import { guardedOutput, operatorV8Flags } from './start.ts';

describe('operatorV8Flags', () => {
  it('caps the young generation as the Deployment does', () => {
    expect(operatorV8Flags(undefined)).toEqual(['--max-semi-space-size=4']);
    expect(operatorV8Flags('--enable-source-maps')).toEqual(['--max-semi-space-size=4']);
  });
  it("leaves the user's own NODE_OPTIONS setting alone", () => {
    expect(operatorV8Flags('--max-semi-space-size=16')).toEqual([]);
  });
});

describe('guardedOutput', () => {
  it('drops output once the reader is gone (EPIPE) instead of failing the process', async () => {
    const { Writable } = await import('node:stream');
    const written: string[] = [];
    let broken = false;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (broken) done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        else {
          written.push(chunk.toString());
          done();
        }
      },
    });
    const write = guardedOutput(stream);
    write('before\n');
    broken = true;
    write('lost\n'); // fails: the stream emits 'error', which must not be unhandled
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => write('after\n')).not.toThrow();
    expect(written).toEqual(['before\n']);
  });
});
