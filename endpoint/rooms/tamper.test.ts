/**
 * Issue 4: the Bridge is not trusted with integrity. The test edits the Bridge's SQLite file directly
 * and checks that a client detects every change as RoomTampered (or Rollback) and returns no data.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../crypto/bytes.ts';
import { encodeWrappedKey, wrapEpochKey } from '../../crypto/key-wrap.ts';
import { decodePublicKey } from '../../crypto/identity.ts';
import { recordHash } from '../../protocol/room-record.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { successor } from '../../test/rooms.ts';
import { EndpointError } from '../errors.ts';
import { streamApiInternals } from '../internal.ts';

let t: TestBridge;
let tenant: Tenant;
let alice: Client;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  alice = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  clients.push(alice);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  await t.close();
});

/** A client with no trusted state: it verifies the room from version 1. */
async function fresh(userId: 'alice' | 'bob' | 'carol' = 'bob'): Promise<Client> {
  const c = await connectClient(t.bridge.url, tenant.solutionId, tenant.users[userId]!);
  clients.push(c);
  return c;
}

function db(): Database.Database {
  return new Database(`${t.dataDir}/sealroom.db`);
}

async function newRoom(meta = 'private'): Promise<string> {
  const u = tenant.users;
  return alice.streamApi.createStreamRoom(
    tenant.contextId,
    [pub(u.alice!), pub(u.bob!), pub(u.carol!)],
    [pub(u.alice!)],
    utf8('{"topic":"public"}'),
    utf8(meta),
  );
}

function editRecord(roomId: string, version: number, edit: (json: Record<string, unknown>) => void): void {
  const d = db();
  const row = d.prepare('SELECT record FROM room_versions WHERE room_id = ? AND version = ?').get(roomId, version) as { record: string };
  const json = JSON.parse(row.record) as Record<string, unknown>;
  edit(json);
  d.prepare('UPDATE room_versions SET record = ? WHERE room_id = ? AND version = ?').run(JSON.stringify(json), roomId, version);
  d.close();
}

function flipBase64(text: string, at = 3): string {
  const bytes = fromBase64(text);
  bytes[at % bytes.length]! ^= 0x01;
  return toBase64(bytes);
}

async function expectTampered(roomId: string, client?: Client): Promise<EndpointError> {
  const c = client ?? (await fresh());
  let error: unknown;
  let room: unknown;
  try {
    room = await c.streamApi.getStreamRoom(roomId);
  } catch (e) {
    error = e;
  }
  expect(room).toBeUndefined(); // no data returned
  expect(error).toBeInstanceOf(EndpointError);
  expect((error as EndpointError).reason).toBe('RoomTampered');
  const list = await c.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 100, sortOrder: 'desc' });
  const item = list.readItems.find((r) => r.streamRoomId === roomId);
  expect(item?.statusCode).toBe('RoomTampered');
  expect(item?.privateMeta).toEqual(new Uint8Array());
  expect(item?.users).toEqual([]);
  return error as EndpointError;
}

describe('tampering in the Bridge database is detected', () => {
  it('a changed byte of privateMeta', async () => {
    const id = await newRoom();
    editRecord(id, 1, (r) => (r.privateMeta = flipBase64(r.privateMeta as string, 20)));
    expect((await expectTampered(id)).message).toMatch(/signature does not verify/);
  });

  it('a changed byte of a wrapped key', async () => {
    const id = await newRoom();
    const d = db();
    const row = d.prepare("SELECT wrapped FROM room_keys WHERE room_id = ? AND recipient_id = 'bob'").get(id) as { wrapped: Buffer };
    row.wrapped[40]! ^= 0x01;
    d.prepare("UPDATE room_keys SET wrapped = ? WHERE room_id = ? AND recipient_id = 'bob'").run(row.wrapped, id);
    d.close();
    expect((await expectTampered(id)).message).toMatch(/not in the key set/);
  });

  it('a changed publicMeta', async () => {
    const id = await newRoom();
    editRecord(id, 1, (r) => (r.publicMeta = toBase64(utf8('{"topic":"forged"}'))));
    await expectTampered(id);
  });

  it('a changed users list', async () => {
    const id = await newRoom();
    editRecord(id, 1, (r) => (r.users = (r.users as Array<{ userId: string }>).filter((m) => m.userId !== 'carol')));
    await expectTampered(id);
  });

  it('a changed signature', async () => {
    const id = await newRoom();
    const d = db();
    const row = d.prepare('SELECT signature FROM room_versions WHERE room_id = ? AND version = 1').get(id) as { signature: string };
    d.prepare('UPDATE room_versions SET signature = ? WHERE room_id = ? AND version = 1').run(flipBase64(row.signature, 10), id);
    d.close();
    await expectTampered(id);
  });

  it("another room's record swapped in", async () => {
    const victim = await newRoom('victim');
    const other = await newRoom('other');
    const d = db();
    const src = d.prepare('SELECT record, signature FROM room_versions WHERE room_id = ? AND version = 1').get(other) as { record: string; signature: string };
    d.prepare('UPDATE room_versions SET record = ?, signature = ? WHERE room_id = ? AND version = 1').run(src.record, src.signature, victim);
    d.close();
    expect((await expectTampered(victim)).message).toMatch(/record of room/);
  });

  it('a version signed by a member who is not a manager', async () => {
    const id = await newRoom();
    const bob = await fresh();
    const u = tenant.users;
    await bob.streamApi.getStreamRoom(id);
    const v1 = await streamApiInternals(bob.streamApi).rooms.trustedHead(id);
    const forged = await successor(v1!, undefined, u.bob!, { users: [u.alice!, u.bob!], managers: [u.bob!] }, true);
    const d = db();
    d.prepare('INSERT INTO room_versions (room_id, version, record, signature, hash, author, created_at) VALUES (?, 2, ?, ?, ?, ?, 0)').run(
      id,
      forged.request.record,
      forged.request.signature,
      Buffer.from(recordHash(forged.request.record)),
      'bob',
    );
    d.prepare('UPDATE rooms SET version = 2, epoch = 2 WHERE id = ?').run(id);
    d.close();
    expect((await expectTampered(id)).message).toMatch(/not a manager of version 1/);
    expect((await expectTampered(id, bob)).message).toMatch(/not a manager/); // also for a client that trusted v1
  });

  it('a member made a manager by a forged version in the middle of a catch-up (docs/protocol/room-chain.md)', async () => {
    const id = await newRoom();
    const u = tenant.users;
    const bob = await fresh();
    await bob.streamApi.getStreamRoom(id); // bob trusts version 1
    const members = [pub(u.alice!), pub(u.bob!), pub(u.carol!)];
    for (const version of [1, 2])
      await alice.streamApi.updateStreamRoom(id, members, [pub(u.alice!)], new Uint8Array(), utf8(`v${version + 1}`), version, false, false);
    // The Bridge and carol: version 4 "by alice" makes carol a manager (alice never signed it), then carol writes version 5.
    const v3 = await streamApiInternals(alice.streamApi).rooms.trustedHead(id);
    const v4 = await successor(v3!, undefined, u.alice!, { users: [u.alice!, u.bob!, u.carol!], managers: [u.alice!, u.carol!] });
    const forged = { record: v4.request.record, signature: flipBase64(v4.request.signature, 10) };
    const v4Head = { signed: forged, record: v4.record, hash: recordHash(forged.record) };
    const v5 = await successor(v4Head, undefined, u.carol!, { users: [u.alice!, u.bob!, u.carol!], managers: [u.alice!, u.carol!] });
    const d = db();
    const insert = d.prepare('INSERT INTO room_versions (room_id, version, record, signature, hash, author, created_at) VALUES (?, ?, ?, ?, ?, ?, 0)');
    insert.run(id, 4, forged.record, forged.signature, Buffer.from(v4Head.hash), 'alice');
    insert.run(id, 5, v5.request.record, v5.request.signature, Buffer.from(recordHash(v5.request.record)), 'carol');
    d.prepare('UPDATE rooms SET version = 5, head_hash = ? WHERE id = ?').run(Buffer.from(recordHash(v5.request.record)), id);
    d.close();
    expect((await expectTampered(id, bob)).message).toMatch(/version 4: the author's signature does not verify/);
    expect((await expectTampered(id)).message).toMatch(/version 4: the author's signature does not verify/); // and from nothing
  });

  it('a wrapped key made by someone else (not in the signed key set)', async () => {
    const id = await newRoom();
    // A member who knows carol's public key wraps a key of its choosing for her.
    const chosen = new Uint8Array(32).fill(7);
    const wrapped = await wrapEpochKey({
      epochKey: chosen,
      roomId: id,
      epoch: 1,
      recipientId: 'carol',
      recipientPublicKey: decodePublicKey(tenant.users.carol!.publicKey),
    });
    const d = db();
    d.prepare("UPDATE room_keys SET wrapped = ? WHERE room_id = ? AND recipient_id = 'carol'").run(Buffer.from(encodeWrappedKey(wrapped)), id);
    d.close();
    await expectTampered(id, await fresh('carol'));
  });
});

describe('rollback', () => {
  it('serving an older version after a newer one was seen gives Rollback', async () => {
    const id = await newRoom();
    const u = tenant.users;
    const members = [pub(u.alice!), pub(u.bob!), pub(u.carol!)];
    await alice.streamApi.updateStreamRoom(id, members, [pub(u.alice!)], new Uint8Array(), utf8('v2'), 1, false, false);
    await alice.streamApi.updateStreamRoom(id, members, [pub(u.alice!)], new Uint8Array(), utf8('v3'), 2, false, false);
    const bob = await fresh();
    expect((await bob.streamApi.getStreamRoom(id)).version).toBe(3);

    const d = db();
    const v2 = d.prepare('SELECT hash FROM room_versions WHERE room_id = ? AND version = 2').get(id) as { hash: Buffer };
    d.prepare('DELETE FROM room_versions WHERE room_id = ? AND version = 3').run(id);
    d.prepare('UPDATE rooms SET version = 2, head_hash = ? WHERE id = ?').run(v2.hash, id);
    d.close();

    let error: unknown;
    try {
      await bob.streamApi.getStreamRoom(id);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ reason: 'Rollback', code: 'ERR_ENDPOINT_ROLLBACK' });
    const list = await bob.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 100, sortOrder: 'desc' });
    expect(list.readItems.find((r) => r.streamRoomId === id)?.statusCode).toBe('Rollback');
  });
});

describe('an update built on the trusted head', () => {
  it('is RoomTampered when the Bridge refuses it as out of date yet serves that version as its head', async () => {
    const id = await newRoom();
    const u = tenant.users;
    const members = [pub(u.alice!), pub(u.bob!), pub(u.carol!)];
    await alice.streamApi.updateStreamRoom(id, members, [pub(u.alice!)], utf8('{}'), utf8('v2'), 1, false, false);
    // The Bridge's head hash no longer matches the version 2 alice wrote and trusts: it refuses her
    // next update (its previous hash is alice's) while still serving version 2.
    const d = db();
    d.prepare('UPDATE rooms SET head_hash = ? WHERE id = ?').run(Buffer.alloc(32, 7), id);
    d.close();
    const error = await alice.streamApi.updateStreamRoom(id, members, [pub(u.alice!)], utf8('{}'), utf8('v3'), 2, false, false).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'RoomTampered' });
    expect((error as EndpointError).message).toMatch(/refused an update based on version 2 as out of date/);
  });
});

describe('a malformed room response', () => {
  it('is refused as BAD_RESPONSE naming the field', async () => {
    const id = await newRoom();
    const bob = await fresh();
    expect((await bob.streamApi.getStreamRoom(id)).version).toBe(1);
    const d = db();
    d.prepare("UPDATE room_keys SET proof = ? WHERE room_id = ? AND recipient_id = 'bob'").run(Buffer.alloc(33 * 32), id);
    d.close();
    const error = await bob.streamApi.getStreamRoom(id).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'BridgeRefused', bridgeCode: 'BAD_RESPONSE' });
    expect((error as EndpointError).message).toMatch(/unexpected response \(keys\.0\.proof: /);
  });
});
