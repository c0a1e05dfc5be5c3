import { describe, expect, it } from 'vitest';
import { parseDuration, parseNamespaces, parseOperatorFlags } from './operator.ts';

describe('manyfold operator flags', () => {
  it('uses controller-runtime names and fenced defaults', () => {
    const flags = parseOperatorFlags([]);
    if (flags === 'help') throw new Error('unexpected help');
    expect(flags).toMatchObject({ leaderElect: true, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, metricsBindAddress: ':8080', healthProbeBindAddress: ':8081', requireFencing: true });
    const custom = parseOperatorFlags(['--leader-elect=false', '--metrics-bind-address', '0', '--leader-elect-lease-duration', '15s', '--leader-elect-renew-deadline', '10s', '--leader-elect-retry-period', '2s', '--etcd-endpoints', 'http://a:2379, http://b:2379']);
    if (custom === 'help') throw new Error('unexpected help');
    expect(custom).toMatchObject({ leaderElect: false, metricsBindAddress: '0', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000, etcdEndpoints: ['http://a:2379', 'http://b:2379'] });
  });

  it('rejects inconsistent timings and bad values with the flag named', () => {
    expect(() => parseOperatorFlags(['--leader-elect-renew-deadline', '3s'])).toThrow(/--leader-elect-renew-deadline.*shorter than --leader-elect-lease-duration/);
    expect(() => parseOperatorFlags(['--leader-elect-retry-period', '2s'])).toThrow(/--leader-elect-retry-period/);
    expect(() => parseOperatorFlags(['--log-level', 'loud'])).toThrow(/--log-level/);
    expect(() => parseDuration('x', '10')).toThrow(/--x: '10' is not a duration/);
    expect(parseDuration('x', '1.5s')).toBe(1500);
  });

  it('serves all namespaces, one, or a list (deduplicated), and refuses a bad name', () => {
    expect(parseNamespaces(undefined)).toEqual([]);
    expect(parseNamespaces('')).toEqual([]);
    expect(parseNamespaces(' team-a ')).toEqual(['team-a']);
    expect(parseNamespaces('team-a, team-b,team-a')).toEqual(['team-a', 'team-b']);
    expect(() => parseNamespaces('team-a,Team_B')).toThrow(/'Team_B' is not a namespace name/);
  });
});
