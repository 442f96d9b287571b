/**
 * Which Bridge URLs a login may sign (docs/design.md, "Identities"; docs/security/login.md). A login signs
 * the URL its client used; the Bridge compares it against its own configuration only, never against the
 * request's Host or X-Forwarded-* headers, which whoever relays the request chooses. Otherwise a
 * malicious Bridge could relay a user's signed login to an honest one.
 *
 * - With `publicUrl` set (behind a proxy or TLS terminator): that URL's origin, and nothing else.
 * - `loginUrls`, when set, are added (more names for this Bridge).
 * - Otherwise the URLs it listens on: `http://host:port` for its bound address (every local interface
 *   address when bound to a wildcard), and `http://localhost:port` when loopback is among them.
 */
import { networkInterfaces } from 'node:os';
import { bridgeOrigin } from '../../protocol/auth.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function loginOrigins(publicUrl: string | undefined, loginUrls: readonly string[], boundAddress: string, port: number): string[] {
  const extra = loginUrls.map(bridgeOrigin);
  if (publicUrl !== undefined) return [...new Set([bridgeOrigin(publicUrl), ...extra])];
  return [...new Set([...listening(boundAddress, port), ...extra])];
}

function listening(boundAddress: string, port: number): string[] {
  const hosts = new Set<string>();
  if (WILDCARDS.has(boundAddress)) {
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) {
        if (boundAddress === '0.0.0.0' && info.family !== 'IPv4') continue;
        // Link-local IPv6 addresses need a zone id, which a URL cannot carry.
        if (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80')) continue;
        hosts.add(info.address);
      }
    }
  } else {
    hosts.add(boundAddress);
  }
  if ([...hosts].some(isLoopback)) hosts.add('localhost');
  return [...hosts].map((host) => bridgeOrigin(`http://${host.includes(':') ? `[${host}]` : host}:${port}`));
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}
