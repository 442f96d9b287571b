/**
 * The Bridge as an adversary for the directory (docs/design.md "Trust model", docs/security/key-trust.md):
 * the Bridge is the only source of users' keys, so a client pins each user's key on first use, keeps
 * the pins across restarts, refuses a changed key, offers safety numbers and asks the app's verifier.
 * The malicious Bridge here writes into its own store (test/malicious-bridge.ts) and signs with its
 * own key; it never holds a user's private key.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { makeUser, type TestUser } from '../../test/identities.ts';
import { forgeGenesis, listCurrentKey, listFormerKey, serveRoom } from '../../test/malicious-bridge.ts';
import { EndpointError } from '../errors.ts';
import type { StreamApiOptions } from '../stream-api.ts';
import type { KeyChangedEvent, UserVerificationRequest } from '../types.ts';

let t: TestBridge;
let tenant: Tenant;
/** The Bridge's own key pair: not a user of any context. */
let mallory: TestUser;
const clients: Client[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
  mallory = await makeUser('mallory');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  await t.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-pins-'));
  dirs.push(dir);
  return dir;
}

/** A device of `user`: its own trust folder unless given one (a restart reuses the folder). */
async function device(user: TestUser, options: StreamApiOptions = {}): Promise<Client & { events: KeyChangedEvent[] }> {
  const c = await connectClient(t.bridge.url, tenant.solutionId, user, { streamApi: { trustDir: newDir(), ...options } });
  clients.push(c);
  const events: KeyChangedEvent[] = [];
  c.eventApi.on('keyChanged', (e) => events.push(e));
  return { ...c, events };
}

async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EndpointError) return error;
    throw error;
  }
  throw new Error('expected an EndpointError, got a result');
}

async function roomBy(author: Client, members: Array<{ userId: string; pubKey: string }>, meta = 'real'): Promise<string> {
  return author.streamApi.createStreamRoom(tenant.contextId, members, [pub(author.user)], utf8('{}'), utf8(meta));
}

/** The operator gives `userId` a new key pair (remove, then add), as after a lost device. */
async function rotateUser(userId: string): Promise<TestUser> {
  const next = await makeUser(userId);
  await t.bridge.manage.removeContextUser(tenant.contextId, userId);
  await t.bridge.manage.addContextUser(tenant.contextId, userId, next.publicKey);
  tenant.users[userId] = next;
  return next;
}

const u = (id: string) => tenant.users[id]!;
const HOUR = 3_600_000;

describe('the Bridge lists its own key as a former key of alice and signs a room "by alice" for bob', () => {
  let forged: string;
  let bobDir: string;
  let bob: Client & { events: KeyChangedEvent[] };

  beforeAll(async () => {
    // Before the attack, bob has seen alice once: he reads a room she made.
    const alice = await device(u('alice'));
    bobDir = newDir();
    bob = await device(u('bob'), { trustDir: bobDir });
    const real = await roomBy(alice, [pub(u('alice')), pub(u('bob'))]);
    expect(fromUtf8((await bob.streamApi.getStreamRoom(real)).privateMeta)).toBe('real');

    const now = Date.now();
    listFormerKey(t, tenant.contextId, 'alice', mallory.publicKey, now - 2 * HOUR, now - HOUR);
    const built = await forgeGenesis(
      tenant.contextId,
      'alice',
      mallory,
      [{ userId: 'bob', publicKey: u('bob').publicKey }],
      'send me everything',
      now - 1.5 * HOUR,
    );
    forged = await serveRoom(t.bridge, built);
  });

  it('a client that pinned alice refuses it with KeyChanged and an event, and returns no data', async () => {
    const error = await refusal(bob.streamApi.getStreamRoom(forged));
    expect(error).toMatchObject({ reason: 'KeyChanged', code: 'ERR_ENDPOINT_KEY_CHANGED' });
    expect(error.details).toMatchObject({ userId: 'alice', pinnedKey: u('alice').publicKey, newKey: mallory.publicKey, verified: false });
    expect(bob.events).toEqual([
      { type: 'keyChanged', contextId: tenant.contextId, userId: 'alice', pinnedKey: u('alice').publicKey, newKey: mallory.publicKey, verified: false },
    ]);
    const list = await bob.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 100, sortOrder: 'desc' });
    const item = list.readItems.find((r) => r.streamRoomId === forged);
    expect(item).toMatchObject({ statusCode: 'KeyChanged', users: [], privateMeta: new Uint8Array() });
    expect(bob.events).toHaveLength(1); // announced once

    // acceptKeyChange trusts what the directory lists as alice's key now: still her real key.
    await bob.streamApi.acceptKeyChange(tenant.contextId, 'alice');
    expect((await refusal(bob.streamApi.getStreamRoom(forged))).reason).toBe('KeyChanged');
  });

  it('and still after a restart: the pins are on disk, written atomically', async () => {
    await bob.connection.disconnect();
    const files = readdirSync(bobDir, { recursive: true }).map(String);
    expect(files.some((f) => f.endsWith('.json'))).toBe(true);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const restarted = await device(u('bob'), { trustDir: bobDir });
    expect((await refusal(restarted.streamApi.getStreamRoom(forged))).reason).toBe('KeyChanged');
  });

  it('the default store persists too (here under SEALROOM_TRUST_DIR)', async () => {
    const frank = u('frank');
    const alice = await device(u('alice'));
    const real = await roomBy(alice, [pub(u('alice')), pub(frank)]);
    const first = await connectClient(t.bridge.url, tenant.solutionId, frank);
    clients.push(first);
    await first.streamApi.getStreamRoom(real); // pins alice in the default folder
    await first.connection.disconnect();
    // Only now does the Bridge list a second key of its own as a former key of alice.
    const mallory2 = await makeUser('mallory2');
    const now = Date.now();
    listFormerKey(t, tenant.contextId, 'alice', mallory2.publicKey, now - 2 * HOUR, now - HOUR);
    const forgedForFrank = await serveRoom(
      t.bridge,
      await forgeGenesis(tenant.contextId, 'alice', mallory2, [{ userId: 'frank', publicKey: frank.publicKey }], 'hello frank', now - 1.5 * HOUR),
    );
    const again = await connectClient(t.bridge.url, tenant.solutionId, frank);
    clients.push(again);
    expect((await refusal(again.streamApi.getStreamRoom(forgedForFrank))).reason).toBe('KeyChanged');
    expect(readdirSync(process.env.SEALROOM_TRUST_DIR!).length).toBeGreaterThan(0);
  });

  it("a client that never saw alice asks the app's verifier, which refuses the Bridge's key: KeyRejected", async () => {
    const asked: UserVerificationRequest[] = [];
    const known = new Map(Object.values(tenant.users).map((x) => [x.userId, x.publicKey]));
    const bob = await device(u('bob'), {
      verifyUsers: async (users) => {
        asked.push(...users);
        return users.map((x) => known.get(x.userId) === x.pubKey);
      },
    });
    const error = await refusal(bob.streamApi.getStreamRoom(forged));
    expect(error).toMatchObject({ reason: 'KeyRejected', code: 'ERR_ENDPOINT_KEY_REJECTED' });
    expect(asked).toContainEqual({ contextId: tenant.contextId, userId: 'alice', pubKey: mallory.publicKey, removedAt: expect.any(Number) });
    expect(asked).toContainEqual({ contextId: tenant.contextId, userId: 'alice', pubKey: u('alice').publicKey });
  });

  it('without a verifier, a client that never saw alice trusts the directory on first use (the documented limit)', async () => {
    const bob = await device(u('bob'));
    expect(fromUtf8((await bob.streamApi.getStreamRoom(forged)).privateMeta)).toBe('send me everything');
  });
});

describe('pins', () => {
  it("a former key counts only for versions signed while it was the user's key", async () => {
    const erinOld = u('erin');
    const erin = await device(erinOld);
    const old = await roomBy(erin, [pub(erinOld), pub(u('bob'))], 'before the rotation');
    await erin.connection.disconnect();
    await rotateUser('erin');
    const bob = await device(u('bob'));
    expect(fromUtf8((await bob.streamApi.getStreamRoom(old)).privateMeta)).toBe('before the rotation');

    // The old key leaked to the Bridge, which signs a new room with it after the removal.
    const late = await serveRoom(
      t.bridge,
      await forgeGenesis(tenant.contextId, 'erin', erinOld, [{ userId: 'bob', publicKey: u('bob').publicKey }], 'after', Date.now() + 5 * 60_000),
    );
    const error = await refusal(bob.streamApi.getStreamRoom(late));
    expect(error.reason).toBe('RoomTampered');
    expect(error.message).toMatch(/was its key only until/);
  });

  it('a changed key of a pinned user is refused with KeyChanged until acceptKeyChange', async () => {
    const alice = await device(u('alice'));
    const bob = await device(u('bob'));
    await bob.streamApi.getStreamRoom(await roomBy(alice, [pub(u('alice')), pub(u('bob')), pub(u('carol'))])); // pins carol
    const carolOld = u('carol').publicKey;
    const carolNew = await rotateUser('carol');
    const carol = await device(carolNew);
    const room = await roomBy(carol, [pub(carolNew), pub(u('bob'))], 'new carol');

    const error = await refusal(bob.streamApi.getStreamRoom(room));
    expect(error).toMatchObject({ reason: 'KeyChanged', details: { userId: 'carol', pinnedKey: carolOld, newKey: carolNew.publicKey, verified: false } });
    expect(bob.events.map((e) => [e.userId, e.newKey])).toEqual([['carol', carolNew.publicKey]]);

    await bob.streamApi.acceptKeyChange(tenant.contextId, 'carol');
    expect(fromUtf8((await bob.streamApi.getStreamRoom(room)).privateMeta)).toBe('new carol');
  });

  it("a verified user's key change blocks until its new safety number is verified", async () => {
    const bob = await device(u('bob'));
    const dave = await device(u('dave'));
    const number = await bob.streamApi.safetyNumber(tenant.contextId, 'dave');
    expect(number).toMatch(/^\d{60}$/);
    expect(await dave.streamApi.safetyNumber(tenant.contextId, 'bob')).toBe(number); // the same on both devices
    const wrong = `${number.slice(0, 59)}${(Number(number[59]) + 1) % 10}`;
    expect(await refusal(bob.streamApi.verifyUser(tenant.contextId, 'dave', wrong))).toMatchObject({ reason: 'KeyRejected' });
    await bob.streamApi.verifyUser(tenant.contextId, 'dave', number.replace(/(\d{5})/g, '$1 '));

    const daveNew = await rotateUser('dave');
    const dave2 = await device(daveNew);
    const room = await roomBy(dave2, [pub(daveNew), pub(u('bob'))], 'new dave');
    expect(await refusal(bob.streamApi.getStreamRoom(room))).toMatchObject({ reason: 'KeyChanged', details: { verified: true } });
    expect(await refusal(bob.streamApi.acceptKeyChange(tenant.contextId, 'dave'))).toMatchObject({ reason: 'KeyChanged' });
    expect((await refusal(bob.streamApi.getStreamRoom(room))).reason).toBe('KeyChanged');

    const newNumber = await dave2.streamApi.safetyNumber(tenant.contextId, 'bob');
    expect(newNumber).not.toBe(number);
    expect(await bob.streamApi.safetyNumber(tenant.contextId, 'dave')).toBe(newNumber);
    await bob.streamApi.verifyUser(tenant.contextId, 'dave', newNumber);
    expect(fromUtf8((await bob.streamApi.getStreamRoom(room)).privateMeta)).toBe('new dave');
  });
});

describe('the trust calls', () => {
  it('refuse bad arguments: an invalid id, oneself, a user not in the context, a number that is not one', async () => {
    const bob = await device(u('bob'));
    expect(await refusal(bob.streamApi.safetyNumber('bad/ctx', 'alice'))).toMatchObject({ reason: 'InvalidArgument' });
    expect(await refusal(bob.streamApi.acceptKeyChange(tenant.contextId, 'bad id'))).toMatchObject({ reason: 'InvalidArgument' });
    expect(await refusal(bob.streamApi.safetyNumber(tenant.contextId, 'bob'))).toMatchObject({ reason: 'InvalidArgument' });
    expect(await refusal(bob.streamApi.safetyNumber(tenant.contextId, 'nobody'))).toMatchObject({ reason: 'NotFound' });
    expect(await refusal(bob.streamApi.verifyUser(tenant.contextId, 'alice', 42 as never))).toMatchObject({ reason: 'InvalidArgument' });
  });
});

describe('every member key is checked before a key is wrapped to it or accepted with it', () => {
  it('create and update refuse a member key that is not the pinned one, and send nothing', async () => {
    const alice = await device(u('alice'));
    const room = await roomBy(alice, [pub(u('alice')), pub(u('bob'))]); // pins bob
    const bobReal = u('bob').publicKey;
    listCurrentKey(t, tenant.contextId, 'bob', mallory.publicKey);
    try {
      const before = (await t.bridge.manage.listRooms(tenant.contextId)).total;
      const fake = { userId: 'bob', pubKey: mallory.publicKey }; // what the directory now says
      const created = await refusal(alice.streamApi.createStreamRoom(tenant.contextId, [pub(u('alice')), fake], [pub(u('alice'))], utf8('{}'), utf8('x')));
      expect(created).toMatchObject({ reason: 'KeyChanged', details: { userId: 'bob', pinnedKey: bobReal, newKey: mallory.publicKey } });
      expect((await t.bridge.manage.listRooms(tenant.contextId)).total).toBe(before);

      const updated = await refusal(alice.streamApi.updateStreamRoom(room, [pub(u('alice')), fake], [pub(u('alice'))], utf8('{}'), utf8('y'), 1, false, true));
      expect(updated.reason).toBe('KeyChanged');
      expect((await alice.streamApi.getStreamRoom(room)).version).toBe(1);
    } finally {
      listCurrentKey(t, tenant.contextId, 'bob', bobReal);
    }
  });

  it("reading refuses a room whose members include a key that is not the reader's pin", async () => {
    const carol = await device(u('carol'));
    const alice = await device(u('alice'));
    await carol.streamApi.getStreamRoom(await roomBy(alice, [pub(u('alice')), pub(u('bob')), pub(u('carol'))])); // carol pins bob
    const bobReal = u('bob').publicKey;
    listCurrentKey(t, tenant.contextId, 'bob', mallory.publicKey);
    let room: string;
    try {
      // A device of alice's that never saw bob trusts the lying directory on first use.
      const fresh = await device(u('alice'));
      room = await fresh.streamApi.createStreamRoom(
        tenant.contextId,
        [pub(u('alice')), { userId: 'bob', pubKey: mallory.publicKey }, pub(u('carol'))],
        [pub(u('alice'))],
        utf8('{}'),
        utf8('for bob (really the Bridge)'),
      );
    } finally {
      listCurrentKey(t, tenant.contextId, 'bob', bobReal);
    }
    expect(await refusal(carol.streamApi.getStreamRoom(room))).toMatchObject({ reason: 'KeyChanged', details: { userId: 'bob', newKey: mallory.publicKey } });
  });
});

describe("the app's verifier", () => {
  it('is asked once for every key about to be pinned, and not again once pinned', async () => {
    const alice = await device(u('alice'));
    const room = await roomBy(alice, [pub(u('alice')), pub(u('bob')), pub(u('frank'))]);
    const calls: UserVerificationRequest[][] = [];
    const bob = await device(u('bob'), {
      verifyUsers: async (users) => {
        calls.push(users);
        return users.map(() => true);
      },
    });
    await bob.streamApi.getStreamRoom(room);
    expect(calls).toHaveLength(1);
    const current = calls[0]!.filter((r) => r.removedAt === undefined).sort((a, b) => a.userId.localeCompare(b.userId));
    expect(current).toEqual([
      { contextId: tenant.contextId, userId: 'alice', pubKey: u('alice').publicKey },
      { contextId: tenant.contextId, userId: 'frank', pubKey: u('frank').publicKey },
    ]);
    // The directory's former keys of those users are asked about in the same call (alice has two by now).
    expect(calls[0]!.filter((r) => r.removedAt !== undefined).map((r) => r.userId)).toEqual(['alice', 'alice']);
    await bob.streamApi.getStreamRoom(await roomBy(alice, [pub(u('alice')), pub(u('bob')), pub(u('frank'))]));
    expect(calls).toHaveLength(1);
  });

  it('fails closed: a throw or a wrong count is KeyRejected, no answer in time is Timeout, and nothing is pinned', async () => {
    const alice = await device(u('alice'));
    const room = await roomBy(alice, [pub(u('alice')), pub(u('bob'))]);
    const dir = newDir();
    const throwing = await device(u('bob'), {
      trustDir: dir,
      verifyUsers: async () => {
        throw new Error('backend down');
      },
    });
    expect((await refusal(throwing.streamApi.getStreamRoom(room))).reason).toBe('KeyRejected');
    const short = await device(u('bob'), { trustDir: dir, verifyUsers: async () => [] });
    expect((await refusal(short.streamApi.getStreamRoom(room))).reason).toBe('KeyRejected');
    const slow = await device(u('bob'), { trustDir: dir, verifyUsersTimeoutMs: 50, verifyUsers: () => new Promise(() => undefined) });
    expect((await refusal(slow.streamApi.getStreamRoom(room))).reason).toBe('Timeout');
    const fine = await device(u('bob'), { trustDir: dir, verifyUsers: async (users) => users.map(() => true) });
    expect(fromUtf8((await fine.streamApi.getStreamRoom(room)).privateMeta)).toBe('real');
  });
});
