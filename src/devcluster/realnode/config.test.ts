import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cniConflist, containerdConfig, kubeletConfig, NodeNetwork, nodePaths } from './config.ts';

const p = nodePaths('/srv/c/node');

describe('real node configuration', () => {
  it("keeps containerd's root, state, socket, runc root and netns under the node's directory", () => {
    const text = containerdConfig(p, { runc: '/usr/sbin/runc', cniBin: '/usr/lib/cni', pauseImage: 'manyfold.local/pause:1' });
    for (const line of text.split('\n').filter((l) => /^\s*(root|state|address|Root|path|conf_dir) =/.test(l))) {
      expect(line).toContain("'/srv/c/node/");
    }
    expect(text).toContain('netns_mounts_under_state_dir = true');
    expect(text).toContain("sandbox = 'manyfold.local/pause:1'");
    expect(text).toContain("'io.containerd.nri.v1.nri'");
  });

  it('gives the kubelet a non-loopback address, cgroup v1 permission and no image garbage collection', () => {
    const config = parse(kubeletConfig(p, { caCert: '/srv/c/pki/ca.crt' })) as Record<string, unknown>;
    expect(config['address']).toBe(NodeNetwork.gateway);
    expect(String(config['address'])).not.toMatch(/^127\./);
    expect(config['failCgroupV1']).toBe(false);
    expect(config['imageGCHighThresholdPercent']).toBe(100);
    expect(config['readOnlyPort']).toBe(0);
    expect(config['podLogsDir']).toBe('/srv/c/node/pod-logs');
    expect(config['authentication']).toMatchObject({ anonymous: { enabled: false }, x509: { clientCAFile: '/srv/c/pki/ca.crt' } });
  });

  it("hands out pod addresses outside kwok's 10.244.0.0/16, without masquerading", () => {
    const conf = JSON.parse(cniConflist(p)) as { plugins: { ipMasq: boolean; bridge: string; ipam: { ranges: { subnet: string }[][]; dataDir: string } }[] };
    const bridge = conf.plugins[0];
    expect(bridge?.ipMasq).toBe(false);
    expect(bridge?.bridge).toBe(NodeNetwork.bridge);
    expect(bridge?.ipam.ranges[0]?.[0]?.subnet).toBe(NodeNetwork.subnet);
    expect(NodeNetwork.subnet.startsWith('10.244.')).toBe(false);
    expect(bridge?.ipam.dataDir.startsWith('/srv/c/node/')).toBe(true);
  });
});
