/**
 * First-use pins under concurrent reads (endpoint/rooms/key-trust.ts, docs/security/key-trust.md): two
 * reads that meet a new user at once must not each pin what the directory told them. The Bridge here
 * answers two concurrent directory reads with two different keys of alice: her own, then its own
 * (mallory's), for a room it forged "by alice". A client that pinned each answer for its own read would
 * accept both keys; the pins are changed one at a time per context, so the second read finds the first
 * pin and the forged room is refused with KeyChanged.
 *
 * And pin changes that wait for their turn: `verifyUser` pins the key whose number was compared, not
 * what a later directory read (which the Bridge answered with its own key) left in the cache; and
 * `acceptKeyChange` judges the pin as it is in its turn, so it never undoes a `verifyUser` that went
 * first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { connectClient, outcome, pub, until, type Client } from '../../test/endpoint.ts';
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
/** Directory reads the Bridge has answered (counted before the answer goes on). */
let directoryAnswers = 0;

beforeAll(async () => {
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    request: (req) => {
      if (!trap.armed || !isDirectoryRead(req)) return;
      trap.reads.push(req);
      if (trap.reads.length === 2) listCurrentKey(t, tenant.contextId, 'alice', mallory.publicKey);
    },
    response: async (req) => {
      if (isDirectoryRead(req)) directoryAnswers++;
      if (!trap.armed || !isDirectoryRead(req)) return;
      if (req === trap.reads[0]) await trap.firstAnswer.opened;
      else trap.firstAnswer.open();
    },
  });
  t = await startBridge({ publicUrl: proxy.url });
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol', 'frank']);
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

describe('pin changes that wait for their turn', () => {
  /**
   * bob, who pinned carol, with a verifier that holds the context's pin turn while it is asked about
   * frank (a first-use pin), and a room of frank's to read: what bob calls meanwhile waits its turn.
   */
  async function setup(): Promise<{
    bob: Client;
    holdTurn: () => Promise<{ reading: Promise<string> }>;
    release: () => void;
    forgedByCarol: () => Promise<string>;
  }> {
    const [bobUser, carolUser, frankUser] = [tenant.users.bob!, tenant.users.carol!, tenant.users.frank!];
    const carol = await connectClient(proxy.url, tenant.solutionId, carolUser);
    const frank = await connectClient(proxy.url, tenant.solutionId, frankUser);
    const held = gate(10_000);
    let holding = false;
    let asked = false;
    const bob = await connectClient(proxy.url, tenant.solutionId, bobUser, {
      streamApi: {
        trustDir: mkdtempSync(join(dir, 'bob-')),
        verifyUsers: async (users) => {
          if (holding && users.some((u) => u.userId === 'frank')) {
            asked = true;
            await held.opened;
          }
          return users.map(() => true);
        },
      },
    });
    clients.push(carol, frank, bob);
    const members = (a: TestUser) => [pub(a), pub(bobUser)];
    await bob.streamApi.getStreamRoom(await carol.streamApi.createStreamRoom(tenant.contextId, members(carolUser), [pub(carolUser)], utf8('{}'), utf8('c')));
    const frankRoom = await frank.streamApi.createStreamRoom(tenant.contextId, members(frankUser), [pub(frankUser)], utf8('{}'), utf8('f'));
    return {
      bob,
      holdTurn: async () => {
        holding = true;
        const reading = read(bob.streamApi.getStreamRoom(frankRoom));
        await until(() => asked, 'the verifier to be asked about frank');
        return { reading };
      },
      release: () => held.open(),
      forgedByCarol: async () =>
        read(
          bob.streamApi.getStreamRoom(
            await serveRoom(
              t.bridge,
              await forgeGenesis(tenant.contextId, 'carol', mallory, [{ userId: 'bob', publicKey: bobUser.publicKey }], 'forged', Date.now()),
            ),
          ),
        ),
    };
  }

  it('verifyUser pins the key whose number was compared, not the one a later read of the directory cached', async () => {
    const { bob, holdTurn, release, forgedByCarol } = await setup();
    const number = await bob.streamApi.safetyNumber(tenant.contextId, 'carol');
    const { reading: frankRead } = await holdTurn();
    const answered = directoryAnswers;
    const verify = outcome(bob.streamApi.verifyUser(tenant.contextId, 'carol', number), () => 'verified');
    await until(() => directoryAnswers > answered, "verifyUser's directory read to be answered");
    // Now the Bridge lists its own key for carol, and the app shows her number again: the cache has it.
    listCurrentKey(t, tenant.contextId, 'carol', mallory.publicKey);
    try {
      expect(await bob.streamApi.safetyNumber(tenant.contextId, 'carol')).not.toBe(number);
      release();
      expect(await verify).toBe('verified');
      // carol's own key is the verified pin: a room the Bridge signed "by carol" with its key is refused.
      expect(await forgedByCarol()).toBe('KeyChanged');
      expect(await frankRead).toBe('read');
    } finally {
      listCurrentKey(t, tenant.contextId, 'carol', tenant.users.carol!.publicKey);
    }
  });

  it('acceptKeyChange queued behind a verifyUser of the same key does not undo the verification', async () => {
    const { bob, holdTurn, release, forgedByCarol } = await setup();
    // carol's key changes (the operator gave her a new one): bob's pin is the old key, not verified.
    const carolNew = await makeUser('carol');
    listCurrentKey(t, tenant.contextId, 'carol', carolNew.publicKey);
    try {
      const { reading: frankRead } = await holdTurn();
      const number = await bob.streamApi.safetyNumber(tenant.contextId, 'carol');
      const verify = outcome(bob.streamApi.verifyUser(tenant.contextId, 'carol', number), () => 'verified');
      const accept = outcome(bob.streamApi.acceptKeyChange(tenant.contextId, 'carol'), () => 'accepted');
      await new Promise((resolve) => setTimeout(resolve, 100)); // both have read the directory and wait for the turn
      release();
      expect([await verify, await accept, await frankRead]).toEqual(['verified', 'accepted', 'read']);
      // Still verified: another key for carol is KeyChanged, and acceptKeyChange cannot take it.
      listCurrentKey(t, tenant.contextId, 'carol', mallory.publicKey);
      expect(await forgedByCarol()).toBe('KeyChanged');
      expect(await outcome(bob.streamApi.acceptKeyChange(tenant.contextId, 'carol'), () => 'accepted')).toBe('KeyChanged');
    } finally {
      listCurrentKey(t, tenant.contextId, 'carol', tenant.users.carol!.publicKey);
    }
  });
});
