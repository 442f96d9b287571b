import { readdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import { verifyInclusion } from '../../crypto/key-set.ts';
import { decodeWrappedKey, unwrapEpochKey } from '../../crypto/key-wrap.ts';
import { verifyGenesis, verifySuccessor } from '../../protocol/room-chain.ts';
import { signRecord } from '../../protocol/room-record.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { makeUser } from '../../test/identities.ts';
import { genesis, successor, verifiedHead } from '../../test/rooms.ts';

let t: TestBridge;
let tenant: Tenant;
let alice: string;
let bob: string;
let carolToken: string;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  alice = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  bob = await login(t.bridge.url, tenant.solutionId, tenant.users.bob!);
  carolToken = await login(t.bridge.url, tenant.solutionId, tenant.users.carol!);
});
afterAll(() => t.close());

const u = () => tenant.users as Record<'alice' | 'bob' | 'carol', NonNullable<Tenant['users'][string]>>;

async function createRoom(managers = [u().alice, u().bob]) {
  const built = await genesis(tenant.contextId, u().alice, { users: [u().alice, u().bob, u().carol], managers });
  const reply = await rest(t.bridge.url, alice).post('/v1/rooms', built.request);
  expect(reply.status).toBe(201);
  expect(reply.body).toEqual({ roomId: built.record.roomId, version: 1 });
  return built;
}

function rowCount(table: string): number {
  const db = new Database(`${t.dataDir}/sealroom.db`, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('room CRUD over REST', () => {
  it('creates, reads back the signed chain, and serves each member a key it can unwrap and prove', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    const reply = await rest(t.bridge.url, carolToken).get(`/v1/rooms/${roomId}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ roomId, contextId: tenant.contextId, version: 1, epoch: 1, hasMore: false });
    expect(reply.body.records[0].record).toBe(built.request.record);
    const key = reply.body.keys[0];
    const epochKey = await unwrapEpochKey({
      wrapped: decodeWrappedKey(fromBase64(key.wrapped)),
      roomId,
      epoch: 1,
      recipientId: 'carol',
      recipientSeed: u().carol.seed,
    });
    expect(epochKey).toEqual(built.epochKey);
    const proof = { leafIndex: key.leafIndex, treeSize: key.treeSize, path: key.proof.map(fromBase64) };
    const entry = { roomId, epoch: 1, recipientId: 'carol', wrapped: fromBase64(key.wrapped) };
    expect(verifyInclusion(entry, proof, fromBase64(built.record.keySetRoot))).toBe(true);
  });

  it('updates with rotation; a removed member gets no key for the new epoch', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    // Read twice before the update: the second is served from the read cache and its encoded keys.
    const bobBefore = (await rest(t.bridge.url, bob).get(`/v1/rooms/${roomId}`)).body;
    expect(bobBefore.keys.map((k: { epoch: number }) => k.epoch)).toEqual([1]);
    expect((await rest(t.bridge.url, bob).get(`/v1/rooms/${roomId}`)).body).toEqual(bobBefore);
    const head = await verifiedHead(t.bridge.url, alice, roomId);
    const next = await successor(head, built.epochKey, u().alice, { users: [u().alice, u().bob], managers: [u().alice, u().bob] });
    expect(next.record.epoch).toBe(2); // removal forces rotation
    const reply = await rest(t.bridge.url, alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ roomId, version: 2 });
    expect((await rest(t.bridge.url, carolToken).get(`/v1/rooms/${roomId}`)).status).toBe(403);
    const bobView = await rest(t.bridge.url, bob).get(`/v1/rooms/${roomId}`);
    expect(bobView.body.keys.map((k: { epoch: number }) => k.epoch)).toEqual([2, 1]);
  });

  it('adds a member without rotation: only the added member gets a key', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    const dave = await makeUser('dave');
    await t.bridge.manage.addContextUser(tenant.contextId, 'dave', dave.publicKey);
    const head = await verifiedHead(t.bridge.url, alice, roomId);
    const next = await successor(head, built.epochKey, u().alice, {
      users: [u().alice, u().bob, u().carol, dave],
      managers: [u().alice, u().bob],
    });
    expect(next.record.epoch).toBe(1);
    expect(next.request.keys.map((k) => k.recipientId)).toEqual(['dave']);
    expect((await rest(t.bridge.url, alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 })).status).toBe(200);
    const daveToken = await login(t.bridge.url, tenant.solutionId, dave);
    const view = await rest(t.bridge.url, daveToken).get(`/v1/rooms/${roomId}`);
    expect(view.body.keys).toHaveLength(1);
    expect(view.body.keys[0]).toMatchObject({ epoch: 1, version: 2 });
  });

  it('version conflicts: 409 VERSION_CONFLICT unless force, and force still needs a record on the head', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    const v1 = await verifiedHead(t.bridge.url, alice, roomId);
    const members = { users: [u().alice, u().bob, u().carol], managers: [u().alice, u().bob] };
    const byAlice = await successor(v1, built.epochKey, u().alice, { ...members, publicMeta: { by: 'alice' } });
    const byBob = await successor(v1, built.epochKey, u().bob, { ...members, publicMeta: { by: 'bob' } });
    expect((await rest(t.bridge.url, alice).put(`/v1/rooms/${roomId}`, { ...byAlice.request, version: 1 })).status).toBe(200);

    const stale = await rest(t.bridge.url, bob).put(`/v1/rooms/${roomId}`, { ...byBob.request, version: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 2 } });
    // force with a record still built on version 1 cannot chain: the same conflict.
    const forcedStale = await rest(t.bridge.url, bob).put(`/v1/rooms/${roomId}`, { ...byBob.request, version: 1, force: true });
    expect(forcedStale.body.error.code).toBe('VERSION_CONFLICT');
    // Rebased on the head, force overrides the stale version bob read.
    const v2 = await verifiedHead(t.bridge.url, bob, roomId);
    const rebased = await successor(v2, built.epochKey, u().bob, { ...members, publicMeta: { by: 'bob' } });
    expect((await rest(t.bridge.url, bob).put(`/v1/rooms/${roomId}`, { ...rebased.request, version: 1 })).status).toBe(409);
    const forced = await rest(t.bridge.url, bob).put(`/v1/rooms/${roomId}`, { ...rebased.request, version: 1, force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.version).toBe(3);
  });

  it('checks every new record: signature, author, directory, key set and epoch rules', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    const v1 = await verifiedHead(t.bridge.url, alice, roomId);
    const members = { users: [u().alice, u().bob, u().carol], managers: [u().alice, u().bob] };
    const next = await successor(v1, built.epochKey, u().alice, members, true);
    const put = (body: object) => rest(t.bridge.url, alice).put(`/v1/rooms/${roomId}`, { version: 1, ...body });

    const badSig = await put({ ...next.request, signature: toBase64(new Uint8Array(64)) });
    expect(badSig.status).toBe(422);
    expect(badSig.body.error).toMatchObject({ code: 'RECORD_INVALID', details: { reason: 'BadSignature' } });

    const missingKey = await put({ ...next.request, keys: next.request.keys.slice(1) });
    expect(missingKey.body.error).toMatchObject({ code: 'KEY_SET_INVALID', message: expect.stringMatching(/missing wrapped keys/) });

    const swappedKey = await put({
      ...next.request,
      keys: next.request.keys.map((k, i) => (i === 0 ? { ...k, wrapped: next.request.keys[1]!.wrapped } : k)),
    });
    expect(swappedKey.body.error.code).toBe('KEY_SET_INVALID');

    // Bob signs, Alice sends it: the author must be the session's user.
    const byBob = await successor(v1, built.epochKey, u().bob, members, true);
    expect((await put(byBob.request)).status).toBe(403);

    // A member who is not in the context directory.
    const stranger = await makeUser('stranger');
    const withStranger = await successor(v1, built.epochKey, u().alice, { ...members, users: [...members.users, stranger] });
    const unknown = await put(withStranger.request);
    expect(unknown.body.error).toMatchObject({ code: 'RECORD_INVALID', details: { reason: 'UnknownMember' } });

    // Removing carol without a new epoch, signed correctly: refused by the epoch rule.
    const noRotate = { ...next.record, users: next.record.users.filter((m) => m.userId !== 'carol'), epoch: 1, keySetRoot: '', keySetSize: 0 };
    const signed = await signRecord(noRotate, u().alice.seed);
    const sneaky = await put({ ...signed, keys: [] });
    expect(sneaky.body.error).toMatchObject({ code: 'RECORD_INVALID', details: { reason: 'BadEpoch' } });

    // Nothing above was written.
    expect((await rest(t.bridge.url, alice).get(`/v1/rooms/${roomId}`)).body.version).toBe(1);
    expect((await put(next.request)).status).toBe(200);
  });

  it('refuses a duplicate room id and a record for another room', async () => {
    const built = await createRoom();
    const again = await rest(t.bridge.url, alice).post('/v1/rooms', built.request);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ROOM_EXISTS');
    const other = await createRoom();
    const v1 = await verifiedHead(t.bridge.url, alice, other.record.roomId);
    const next = await successor(v1, other.epochKey, u().alice, { users: [u().alice], managers: [u().alice] });
    const wrongRoom = await rest(t.bridge.url, alice).put(`/v1/rooms/${built.record.roomId}`, { ...next.request, version: 1 });
    expect(wrongRoom.body.error).toMatchObject({ code: 'RECORD_INVALID' });
  });

  it('pages a long chain with since and hasMore', async () => {
    const small = await startBridge({ limits: { recordsPerResponse: 2 } as never });
    try {
      const ten = await setupTenant(small.bridge, ['alice']);
      const token = await login(small.bridge.url, ten.solutionId, ten.users.alice!);
      const a = ten.users.alice!;
      const built = await genesis(ten.contextId, a, { users: [a], managers: [a] });
      await rest(small.bridge.url, token).post('/v1/rooms', built.request);
      let verified = await verifyGenesis(built.request);
      for (let v = 2; v <= 5; v++) {
        const next = await successor(verified, built.epochKey, a, { users: [a], managers: [a], publicMeta: { v } });
        expect((await rest(small.bridge.url, token).put(`/v1/rooms/${built.record.roomId}`, { ...next.request, version: v - 1 })).status).toBe(200);
        verified = await verifySuccessor(verified, next.request);
      }
      const seen: number[] = [];
      let since = 0;
      for (;;) {
        const page = await rest(small.bridge.url, token).get(`/v1/rooms/${built.record.roomId}?since=${since}`);
        seen.push(...page.body.records.map((r: { version: number }) => r.version));
        if (!page.body.hasMore) break;
        since = seen.at(-1)!;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await small.close();
    }
  });

  it('deletes a room with everything in it', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    expect((await rest(t.bridge.url, alice).del(`/v1/rooms/${roomId}`)).status).toBe(204);
    const gone = await rest(t.bridge.url, alice).get(`/v1/rooms/${roomId}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('ROOM_NOT_FOUND');
    const db = new Database(`${t.dataDir}/sealroom.db`, { readonly: true });
    for (const table of ['room_versions', 'room_keys', 'room_members']) {
      expect((db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE room_id = ?`).get(roomId) as { n: number }).n).toBe(0);
    }
    db.close();
  });

  it('a refused create writes nothing', async () => {
    const before = { rooms: rowCount('rooms'), versions: rowCount('room_versions'), keys: rowCount('room_keys') };
    const built = await genesis(tenant.contextId, u().alice, { users: [u().alice, u().bob], managers: [u().alice] });
    const reply = await rest(t.bridge.url, alice).post('/v1/rooms', { ...built.request, keys: built.request.keys.slice(0, 1) });
    expect(reply.status).toBe(422);
    expect({ rooms: rowCount('rooms'), versions: rowCount('room_versions'), keys: rowCount('room_keys') }).toEqual(before);
  });
});

describe('bad input gets a clear 4xx with a stable code', () => {
  it('bad JSON, wrong shapes, unknown ids and routes', async () => {
    const api = rest(t.bridge.url, alice);
    expect((await api.raw('POST', '/v1/rooms', '{"record":')).body.error.code).toBe('BAD_JSON');
    const shape = await api.post('/v1/rooms', { record: 'x' });
    expect(shape.status).toBe(400);
    expect(shape.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    const extra = await api.post('/v1/rooms', { record: '{}', signature: '', keys: [], surprise: 1 });
    expect(extra.body.error.code).toBe('VALIDATION_FAILED');
    const badId = await api.get('/v1/rooms/x');
    expect(badId.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'params.roomId' } });
    expect((await api.get('/v1/rooms/room_does_not_exist_1')).body.error.code).toBe('ROOM_NOT_FOUND');
    expect((await api.get('/v1/nowhere')).body.error.code).toBe('NOT_FOUND');
    const malformed = await api.post('/v1/rooms', { record: '{"format":1}', signature: toBase64(new Uint8Array(64)), keys: [] });
    expect(malformed.body.error).toMatchObject({ code: 'RECORD_INVALID', details: { reason: 'Malformed' } });
  });

  it('an oversized body: 413 BODY_TOO_LARGE', async () => {
    const small = await startBridge({ limits: { authBodyBytes: 1024 } as never });
    try {
      const reply = await rest(small.bridge.url).post('/v1/auth/challenge', { solutionId: 'x'.repeat(2000), publicKey: 'y' });
      expect(reply.status).toBe(413);
      expect(reply.body.error).toMatchObject({ code: 'BODY_TOO_LARGE', details: { limit: 1024 } });
    } finally {
      await small.close();
    }
  });
});

describe('restart', () => {
  it('keeps rooms, chains, keys and sessions on the same database', async () => {
    const built = await createRoom();
    const roomId = built.record.roomId;
    const before = (await rest(t.bridge.url, bob).get(`/v1/rooms/${roomId}`)).body;
    await t.restart();
    expect(readdirSync(t.dataDir)).toContain('sealroom.db');
    const after = await rest(t.bridge.url, bob).get(`/v1/rooms/${roomId}`);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before);
    await verifiedHead(t.bridge.url, bob, roomId);
    expect((await t.bridge.manage.listSolutions()).map((s) => s.solutionId)).toContain(tenant.solutionId);
  });
});
