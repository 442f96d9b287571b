/**
 * First-use pins under concurrent reads (endpoint/rooms/key-trust.ts, docs/security/key-trust.md): two
 * reads that meet a new user at once must not each pin what the directory told them. The Bridge here
 * answers two concurrent directory reads with two different keys of alice: her own, then its own
 * (mallory's), for a room it forged "by alice". A client that pinned each answer for its own read would
 * accept both keys; the pins are changed one at a time per context, so the second read finds the first
 * pin and the forged room is refused with KeyChanged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { connectClient, outcome, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { gate, startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';
import { makeUser, type TestUser } from '../../test/identities.ts';
import { forgeGenesis, listCurrentKey, serveRoom } from '../../test/malicious-bridge.ts';

let t: TestBridge;
let tenant: Tenant;
let proxy: HttpProxy;
/** The Bridge's own key pair: not a user of any context. */
let mallory: TestUser;
const clients: Client[] = [];
let dir: string;

const isDirectoryRead = (req: IncomingMessage) => req.method === 'GET' && /^\/v1\/contexts\/[^/]+\/users\?/.test(req.url ?? '');

/**
 * Armed, the Bridge lies to concurrent directory reads: the first is answered with alice's key and its
 * answer held until a second read arrives (or 2 s pass); the second is answered with mallory's key.
 */
const trap = { armed: false, reads: [] as IncomingMessage[], firstAnswer: gate(0) };

beforeAll(async () => {
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    request: (req) => {
      if (!trap.armed || !isDirectoryRead(req)) return;
      trap.reads.push(req);
      if (trap.reads.length === 2) listCurrentKey(t, tenant.contextId, 'alice', mallory.publicKey);
    },
    response: async (req) => {
      if (!trap.armed || !isDirectoryRead(req)) return;
      if (req === trap.reads[0]) await trap.firstAnswer.opened;
      else trap.firstAnswer.open();
    },
  });
  t = await startBridge({ publicUrl: proxy.url });
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  mallory = await makeUser('mallory');
  dir = mkdtempSync(join(tmpdir(), 'sealroom-pins-race-'));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  await proxy.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const read = (call: Promise<unknown>) => outcome(call, () => 'read');

describe('two reads that meet a new user at once', () => {
  it('pin one key for it: the room the Bridge forged with another key is refused', async () => {
    const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
    clients.push(alice);
    const bobUser = tenant.users.bob!;
    const real = await alice.streamApi.createStreamRoom(tenant.contextId, [pub(alice.user), pub(bobUser)], [pub(alice.user)], utf8('{}'), utf8('real'));
    const forged = await serveRoom(
      t.bridge,
      await forgeGenesis(tenant.contextId, 'alice', mallory, [{ userId: 'bob', publicKey: bobUser.publicKey }], 'forged', Date.now()),
    );
    // bob has never seen alice: both reads need her key.
    const bob = await connectClient(proxy.url, tenant.solutionId, bobUser, { streamApi: { trustDir: dir } });
    clients.push(bob);
    trap.firstAnswer = gate(2000);
    trap.armed = true;
    const [realRead, forgedRead] = await Promise.all([read(bob.streamApi.getStreamRoom(real)), read(bob.streamApi.getStreamRoom(forged))]);
    trap.armed = false;
    expect(realRead).toBe('read');
    expect(forgedRead).toBe('KeyChanged');
    // Whatever happened, the pin is alice's own key, and her room reads on.
    expect(fromUtf8((await bob.streamApi.getStreamRoom(real)).privateMeta)).toBe('real');
    expect(await read(bob.streamApi.getStreamRoom(forged))).toBe('KeyChanged');
  });
});
