/**
 * Media for people on this machine only (`sealroom start --media-address this-machine`, what `make run`
 * passes): the forwarding unit binds one of the machine's own IPv4 addresses and accepts ICE
 * candidates from the machine's own addresses only (docs/media/forwarding-unit.md, "Configuration").
 *
 * Why not loopback, the unit's default: browsers do not gather loopback candidates (RFC 8445 section
 * 5.1.1.1 forbids it; Chromium needs `--allow-loopback-in-peer-connection`), so a browser on this
 * machine checks from its interface addresses. A unit bound to loopback would see those as
 * peer-reflexive candidates outside its allowed networks and refuse them, and two browser windows
 * opened on `http://127.0.0.1:PORT` would never connect their media. Bound to an interface address,
 * with only this machine's addresses allowed, the unit talks to browsers here and to nothing else:
 * the same fence as dev mode's loopback-only HTTP.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export interface ThisMachineMedia {
  /** The address the unit binds and announces; 127.0.0.1 when the machine has no other. */
  listenAddress: string;
  /** This machine's IPv4 addresses, each as a /32, and loopback. */
  allowedRemoteNetworks: string[];
  /** Set when no interface address exists: browsers without loopback ICE cannot send media then. */
  warning?: string;
}

/** Private networks first (RFC 1918), in the order home and office networks use them most. */
const PREFERRED = [/^192\.168\./, /^10\./, /^172\.(1[6-9]|2\d|3[01])\./];

/** Chooses the unit's address among `interfaces` (default: this machine's, from node:os). */
export function thisMachineMedia(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): ThisMachineMedia {
  const own = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((i) => i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.'))
    .map((i) => i.address);
  const unique = [...new Set(own)];
  const rank = (address: string) => {
    const at = PREFERRED.findIndex((p) => p.test(address));
    return at === -1 ? PREFERRED.length : at;
  };
  const chosen = [...unique].sort((a, b) => rank(a) - rank(b))[0];
  const allowedRemoteNetworks = ['127.0.0.0/8', ...unique.map((a) => `${a}/32`)];
  if (chosen === undefined) {
    return {
      listenAddress: '127.0.0.1',
      allowedRemoteNetworks,
      warning:
        'this machine has no network address but loopback: browsers gather no loopback ICE candidates, so calls will not connect (media stays on 127.0.0.1)',
    };
  }
  return { listenAddress: chosen, allowedRemoteNetworks };
}
