import { describe, expect, it } from 'vitest';
import { operatorV8Flags } from './start.ts';

describe('operatorV8Flags', () => {
  it('caps the young generation as the Deployment does', () => {
    expect(operatorV8Flags(undefined)).toEqual(['--max-semi-space-size=4']);
    expect(operatorV8Flags('--enable-source-maps')).toEqual(['--max-semi-space-size=4']);
  });
  it("leaves the user's own NODE_OPTIONS setting alone", () => {
    expect(operatorV8Flags('--max-semi-space-size=16')).toEqual([]);
  });
});
