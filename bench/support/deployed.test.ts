import { describe, expect, it } from 'vitest';
import { deployedSettings, memoryBytes } from './deployed.ts';

describe('memoryBytes', () => {
  it('reads binary and decimal suffixes', () => {
    expect(memoryBytes('192Mi')).toBe(192 * 2 ** 20);
    expect(memoryBytes('1Gi')).toBe(2 ** 30);
    expect(memoryBytes('128M')).toBe(128e6);
    expect(memoryBytes('1048576')).toBe(2 ** 20);
  });

  it('refuses what it cannot read, naming the value', () => {
    expect(() => memoryBytes('192MB')).toThrow(/'192MB'.*Mi/);
    expect(() => memoryBytes('')).toThrow(/''/);
  });
});

describe('deployedSettings', () => {
  it('reads the shipped Deployment and the image entry point', () => {
    const settings = deployedSettings();
    expect(settings.nodeOptions).toMatch(/--max-old-space-size=\d+/);
    expect(settings.nodeArgs).toContain('--optimize-for-size');
    expect(settings.env['MALLOC_ARENA_MAX']).toBeDefined();
    expect(settings.env).not.toHaveProperty('MANYFOLD_IMAGE');
    expect(settings.env).not.toHaveProperty('NODE_OPTIONS');
    expect(settings.memoryLimitBytes).toBeGreaterThanOrEqual(settings.memoryRequestBytes);
  });
});
