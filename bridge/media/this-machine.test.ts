import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { allowedNetworks, mediaSchema } from './config.ts';
import { thisMachineMedia } from './this-machine.ts';

const v4 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` }) as NetworkInterfaceInfo;
const v6 = (address: string): NetworkInterfaceInfo =>
  ({
    address,
    family: 'IPv6',
    internal: false,
    netmask: 'ffff:ffff:ffff:ffff::',
    mac: '00:00:00:00:00:00',
    cidr: `${address}/64`,
    scopeid: 0,
  }) as NetworkInterfaceInfo;

describe('media for this machine only', () => {
  it('binds a private interface address and allows only this machine (its addresses and loopback)', () => {
    const chosen = thisMachineMedia({
      lo: [v4('127.0.0.1', true)],
      docker0: [v4('172.17.0.1')],
      eth0: [v4('203.0.113.7'), v6('fe80::1')],
      wlan0: [v4('192.168.1.20')],
    });
    expect(chosen.listenAddress).toBe('192.168.1.20');
    expect(chosen.warning).toBeUndefined();
    expect(chosen.allowedRemoteNetworks.sort()).toEqual(['127.0.0.0/8', '172.17.0.1/32', '192.168.1.20/32', '203.0.113.7/32'].sort());
    // The unit's own matcher: this machine's addresses pass, a neighbour on the same /24 does not.
    const list = allowedNetworks(mediaSchema.parse({ listenAddress: chosen.listenAddress, allowedRemoteNetworks: chosen.allowedRemoteNetworks }));
    expect(list.check('192.168.1.20', 'ipv4')).toBe(true);
    expect(list.check('127.0.0.1', 'ipv4')).toBe(true);
    expect(list.check('203.0.113.7', 'ipv4')).toBe(true);
    expect(list.check('192.168.1.21', 'ipv4')).toBe(false);
    expect(list.check('8.8.8.8', 'ipv4')).toBe(false);
  });

  it('skips link-local addresses and takes a public one when it is all there is', () => {
    expect(thisMachineMedia({ eth0: [v4('169.254.3.4'), v4('198.51.100.9')] }).listenAddress).toBe('198.51.100.9');
  });

  it('falls back to loopback with a warning on a machine without a network', () => {
    const chosen = thisMachineMedia({ lo: [v4('127.0.0.1', true)] });
    expect(chosen.listenAddress).toBe('127.0.0.1');
    expect(chosen.allowedRemoteNetworks).toEqual(['127.0.0.0/8']);
    expect(chosen.warning).toMatch(/no network address but loopback/);
  });
});
