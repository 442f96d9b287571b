/**
 * Issue 4: neither the Bridge's database nor the traffic it sees holds the plaintext private meta.
 * The client talks to the Bridge through a recording TCP proxy; the test scans every captured byte and
 * the database files for the markers, raw and in base64.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../test/harness.ts';
import { startTcpProxy, type TcpProxy } from '../test/tcp-proxy.ts';

let t: TestBridge;
let tenant: Tenant;
let proxy: TcpProxy;
let alice: Client;
let bob: Client;
const MARKERS = ['PRIVATE-MARKER-7f3a9c', 'ANOTHER-SECRET-b81e22', 'ROTATED-SECRET-44d0aa'];

beforeAll(async () => {
  proxy = await startTcpProxy(() => t.bridge.url);
  t = await startBridge({ loginUrls: [proxy.url] });
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
  bob = await connectClient(proxy.url, tenant.solutionId, tenant.users.bob!);
});
afterAll(async () => {
  await alice.connection.disconnect();
  await bob.connection.disconnect();
  await proxy.close();
  await t.close();
});

/** Every encoding of a marker that a leak could take. Base64 is checked at all three alignments. */
function encodings(marker: string): Buffer[] {
  const raw = Buffer.from(marker);
  const out = [raw, Buffer.from(raw.toString('hex'))];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = toBase64(utf8('xx'.slice(0, shift) + marker));
    // Drop the characters that depend on neighbouring bytes at both ends.
    out.push(Buffer.from(b64.slice(Math.ceil((shift * 4) / 3) + 2, -4)));
  }
  return out;
}

describe('no plaintext at the Bridge', () => {
  it('the database files and the captured traffic hold none of the private-meta markers', async () => {
    const u = tenant.users;
    const id = await alice.streamApi.createStreamRoom(
      tenant.contextId,
      [pub(u.alice!), pub(u.bob!), pub(u.carol!)],
      [pub(u.alice!)],
      utf8('{"public":true}'),
      utf8(MARKERS[0]!),
    );
    const second = await alice.streamApi.createStreamRoom(tenant.contextId, [pub(u.alice!), pub(u.bob!)], [pub(u.alice!)], new Uint8Array(), utf8(MARKERS[1]!));
    await alice.streamApi.updateStreamRoom(id, [pub(u.alice!), pub(u.bob!)], [pub(u.alice!)], utf8('{"public":true}'), utf8(MARKERS[2]!), 1, false, true);
    // The plaintext did round-trip, so the scan below is over real traffic.
    expect(new TextDecoder().decode((await bob.streamApi.getStreamRoom(id)).privateMeta)).toBe(MARKERS[2]);
    expect(new TextDecoder().decode((await bob.streamApi.getStreamRoom(second)).privateMeta)).toBe(MARKERS[1]);
    await bob.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 10, sortOrder: 'asc' });

    const traffic = proxy.captured();
    expect(traffic.length).toBeGreaterThan(10_000);
    expect(traffic.includes(Buffer.from('{"public":true}'.slice(0, 8)))).toBe(false); // publicMeta travels as base64 in JSON
    const files = readdirSync(t.dataDir).filter((f) => f.startsWith('sealroom.db'));
    expect(files).toContain('sealroom.db');
    const stored = Buffer.concat(files.map((f) => readFileSync(join(t.dataDir, f))));
    for (const marker of MARKERS) {
      for (const needle of encodings(marker)) {
        expect({ marker, needle: needle.toString(), inTraffic: traffic.includes(needle) }).toMatchObject({ inTraffic: false });
        expect({ marker, needle: needle.toString(), inDatabase: stored.includes(needle) }).toMatchObject({ inDatabase: false });
      }
    }
    // The scan can find what is there: the public meta is stored as JSON for queries.
    expect(stored.includes(Buffer.from('{"public":true}'))).toBe(true);
  });
});
