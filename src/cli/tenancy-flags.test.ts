import { describe, expect, it } from 'vitest';
import { parseOperatorFlags } from './operator.ts';
import { DefaultTenancyPolicy, parseTenancyFlags } from './tenancy-flags.ts';

describe('tenancy flags', () => {
  it('default to the narrowest policy', () => {
    const flags = parseOperatorFlags([]);
    if (flags === 'help') throw new Error('help');
    expect(flags.tenancy).toEqual(DefaultTenancyPolicy);
    expect(flags.tenancy.fencedLease.keyPrefixes).toEqual(['/manyfold/fencedleases/{namespace}/']);
    expect(flags.tenancy.sensorFleet).toMatchObject({ allowedImages: [], sensorRoots: [], sinkRoots: [], spoolRoot: '/var/lib/manyfold/spool' });
  });

  it('take lists from the command line', () => {
    const flags = parseOperatorFlags([
      '--fencedlease-key-prefixes=/apps/{namespace},/shared/',
      '--fencedlease-allowed-endpoints', 'https://etcd.db:2379',
      '--sensorfleet-allowed-images=a/b:1, c/d:2',
      '--sensorfleet-spool-root=/data/spool/',
      '--sensorfleet-sensor-roots=/dev/serial,/srv/{namespace}',
      '--sensorfleet-allowed-toleration-keys=edge',
    ]);
    if (flags === 'help') throw new Error('help');
    expect(flags.tenancy.fencedLease).toEqual({ keyPrefixes: ['/apps/{namespace}/', '/shared/'], allowedEndpoints: ['https://etcd.db:2379'] });
    expect(flags.tenancy.sensorFleet).toEqual({ allowedImages: ['a/b:1', 'c/d:2'], spoolRoot: '/data/spool', sensorRoots: ['/dev/serial', '/srv/{namespace}'], sinkRoots: [], allowedTolerationKeys: ['edge'] });
  });

  it.each([
    [{ 'sensorfleet-sensor-roots': '/' }, '--sensorfleet-sensor-roots'],
    [{ 'sensorfleet-sink-roots': 'relative/dir' }, '--sensorfleet-sink-roots'],
    [{ 'sensorfleet-spool-root': '/var/../etc' }, '--sensorfleet-spool-root'],
    [{ 'fencedlease-key-prefixes': '/' }, '--fencedlease-key-prefixes'],
    [{ 'fencedlease-allowed-endpoints': 'etcd:2379' }, '--fencedlease-allowed-endpoints'],
  ])('refuse %o, naming the flag', (values, flag) => {
    expect(() => parseTenancyFlags(values)).toThrow(flag);
  });
});
