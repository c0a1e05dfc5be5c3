import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withFeatureFlagDefaults } from '../../crds/featureflag.ts';
import { buildDocument, defineFlag, serializeDocument, type FlagdFlag, type Ramp } from './document.ts';
import { ManyfoldFlagProvider, type FlagDocumentSource } from './provider.ts';
import { fileSource } from './sources.ts';

const spec = withFeatureFlagDefaults({ variants: { on: 'new', off: 'old' }, defaultVariant: 'off', safeVariant: 'off' });
function documentWith(options: { ramp?: Ramp; killSwitch?: boolean }): string {
  const result = defineFlag({ key: 'checkout', spec, killSwitch: options.killSwitch ?? false, ramp: options.ramp });
  if (!result.ok) throw new Error('refused');
  return serializeDocument(buildDocument({ checkout: result.flag }));
}

/** A source the test pushes documents into. */
function pushSource() {
  let push: ((json: string, version?: number) => void) | undefined;
  const source: FlagDocumentSource = {
    subscribe(listener) {
      push = (json, version) => listener.document(json, version);
    },
  };
  return { source, push: (json: string, version?: number) => push?.(json, version) };
}

afterEach(async () => {
  await OpenFeature.close();
});

describe('ManyfoldFlagProvider', () => {
  it('serves the published document through the OpenFeature SDK and follows updates', async () => {
    const { source, push } = pushSource();
    const provider = new ManyfoldFlagProvider({ source, initialTimeoutMs: 2000 });
    const ready = OpenFeature.setProviderAndWait('t1', provider);
    push(documentWith({ ramp: { variant: 'on', weight: 100, rollout: 'r' } }), 1);
    await ready;
    const client = OpenFeature.getClient('t1');
    expect(await client.getStringValue('checkout', 'code', { targetingKey: 'u1' })).toBe('new');
    const changed = new Promise<string[]>((resolve) => provider.events.addHandler(ProviderEvents.ConfigurationChanged, (d) => resolve((d as { flagsChanged?: string[] } | undefined)?.flagsChanged ?? [])));
    push(documentWith({ killSwitch: true }), 2);
    expect(await changed).toEqual(['checkout']);
    expect(provider.version).toBe(2);
    expect(await client.getStringDetails('checkout', 'code', { targetingKey: 'u1' })).toMatchObject({ value: 'old', variant: 'off' });
  });

  it('keeps serving the last good document when a refused one arrives', async () => {
    const { source, push } = pushSource();
    const provider = new ManyfoldFlagProvider({ source });
    const ready = OpenFeature.setProviderAndWait('t2', provider);
    push(documentWith({}));
    await ready;
    const bad: FlagdFlag = { state: 'ENABLED', variants: { on: 1 }, defaultVariant: 'missing' };
    push(serializeDocument(buildDocument({ checkout: bad })));
    expect(await OpenFeature.getClient('t2').getStringValue('checkout', 'code', { targetingKey: 'u' })).toBe('old');
  });

  it('reads a mounted file and notices when it changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flags-'));
    try {
      const path = join(dir, 'flags.json');
      await writeFile(path, documentWith({}));
      const provider = new ManyfoldFlagProvider({ source: fileSource({ path, pollIntervalMs: 20 }) });
      await OpenFeature.setProviderAndWait('t3', provider);
      const client = OpenFeature.getClient('t3');
      expect(await client.getStringValue('checkout', 'code', { targetingKey: 'u' })).toBe('old');
      const changed = new Promise<void>((resolve) => provider.events.addHandler(ProviderEvents.ConfigurationChanged, () => resolve()));
      await writeFile(path, documentWith({ ramp: { variant: 'on', weight: 100, rollout: 'r' } }));
      await changed;
      expect(await client.getStringValue('checkout', 'code', { targetingKey: 'u' })).toBe('new');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
