import { describe, expect, it } from 'vitest';
import { parseAgentFlags } from './agent.ts';

describe('manyfold agent flags', () => {
  it('has the contract defaults, with NODE_NAME as the node', () => {
    expect(parseAgentFlags([], { NODE_NAME: 'edge-1' })).toEqual({
      configPath: '/etc/manyfold/agent/config.json',
      spoolRoot: '/var/lib/manyfold/spool',
      nodeName: 'edge-1',
      kubeconfig: undefined,
      heartbeat: true,
      metricsBindAddress: ':9464',
      logLevel: 'info',
      shutdownTimeoutMs: 5000,
      ackLogPath: undefined,
    });
  });

  it('takes every flag; --node-name overrides NODE_NAME', () => {
    const flags = parseAgentFlags(
      ['--config', '/c.json', '--spool-dir', '/s', '--node-name', 'n2', '--kubeconfig', '/k', '--no-heartbeat', '--metrics-bind-address', '127.0.0.1:0', '--log-level', 'debug', '--shutdown-timeout', '1500ms', '--ack-log', '/a'],
      { NODE_NAME: 'n1' },
    );
    expect(flags).toEqual({ configPath: '/c.json', spoolRoot: '/s', nodeName: 'n2', kubeconfig: '/k', heartbeat: false, metricsBindAddress: '127.0.0.1:0', logLevel: 'debug', shutdownTimeoutMs: 1500, ackLogPath: '/a' });
    expect(parseAgentFlags(['--help'], {})).toBe('help');
  });

  it('rejects a missing node name and bad values, naming the flag', () => {
    expect(() => parseAgentFlags([], {})).toThrow(/--node-name or NODE_NAME/);
    expect(() => parseAgentFlags(['--log-level', 'loud'], { NODE_NAME: 'n' })).toThrow(/--log-level/);
    expect(() => parseAgentFlags(['--shutdown-timeout', '5'], { NODE_NAME: 'n' })).toThrow(/--shutdown-timeout/);
    expect(() => parseAgentFlags(['--bogus'], { NODE_NAME: 'n' })).toThrow();
  });
});
