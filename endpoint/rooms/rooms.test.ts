/** Issue 4: room management through the Endpoint, against a real Bridge. */
import diagnostics from 'node:diagnostics_channel';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { decodeWrappedKey, unwrapEpochKey } from '../../crypto/key-wrap.ts';
import { connectClient, pub, until, type Client } from '../../test/endpoint.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { EndpointError } from '../errors.ts';
import type { StreamRoomEvent } from '../types.ts';
import { streamApiInternals } from '../internal.ts';

let t: TestBridge;
let tenant: Tenant;
let alice: Client;
let bob: Client;
let carol: Client;
let dave: Client;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol', 'dave']);
  const u = tenant.users;
  const connect = (id: string) => connectClient(t.bridge.url, tenant.solutionId, u[id]!);
  [alice, bob, carol, dave] = await Promise.all([connect('alice'), connect('bob'), connect('carol'), connect('dave')]);
});
afterAll(async () => {
  await Promise.all([alice, bob, carol, dave].map((c) => c?.connection.disconnect()));
  await t.close();
});

async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EndpointError) return error;
    throw error;
  }
  throw new Error('expected an EndpointError');
}

async function room(users = [alice, bob, carol], managers = [alice], meta = 'secret plan') {
  return alice.streamApi.createStreamRoom(
    tenant.contextId,
    users.map((c) => pub(c.user)),
    managers.map((c) => pub(c.user)),
    utf8(JSON.stringify({ title: 'standup' })),
    utf8(meta),
  );
}

describe('Endpoint room management', () => {
  it('knows who it is', () => {
    expect(alice.connection.userId).toBe('alice');
    expect(alice.connection.contextIds).toEqual([tenant.contextId]);
    expect(alice.connection.state).toBe('connected');
  });

  it('round-trips create, get, list and update of public and private meta', async () => {
    const id = await room();
    const asBob = await bob.streamApi.getStreamRoom(id);
    expect(asBob).toMatchObject({
      streamRoomId: id,
      contextId: tenant.contextId,
      creator: 'alice',
      lastModifier: 'alice',
      version: 1,
      epoch: 1,
      statusCode: 0,
      users: [pub(alice.user), pub(bob.user), pub(carol.user)],
      managers: [pub(alice.user)],
      policy: { get: 'user', list: 'user', update: 'manager', delete: 'manager', updatePolicy: 'manager' },
    });
    expect(fromUtf8(asBob.privateMeta)).toBe('secret plan');
    expect(JSON.parse(fromUtf8(asBob.publicMeta))).toEqual({ title: 'standup' });
    expect(asBob.createDate).toBeGreaterThan(0);

    await alice.streamApi.updateStreamRoom(
      id,
      [pub(alice.user), pub(bob.user), pub(carol.user)],
      [pub(alice.user)],
      utf8('{"title":"retro"}'),
      utf8('new plan'),
      1,
      false,
      false,
    );
    const updated = await carol.streamApi.getStreamRoom(id);
    expect(updated).toMatchObject({ version: 2, epoch: 1, lastModifier: 'alice' });
    expect(fromUtf8(updated.privateMeta)).toBe('new plan');
    expect(fromUtf8(updated.publicMeta)).toBe('{"title":"retro"}');

    const list = await bob.streamApi.listStreamRooms(tenant.contextId, {
      skip: 0,
      limit: 100,
      sortOrder: 'desc',
      queryAsJson: { title: 'retro' },
    });
    expect(list.readItems.map((r) => r.streamRoomId)).toContain(id);
    const item = list.readItems.find((r) => r.streamRoomId === id)!;
    expect(item.statusCode).toBe(0);
    expect(fromUtf8(item.privateMeta)).toBe('new plan');
  });

  it('a user outside the room cannot read it, through the API or the raw REST routes', async () => {
    const id = await room([alice, bob], [alice]);
    expect((await refusal(dave.streamApi.getStreamRoom(id))).reason).toBe('AccessDenied');
    const list = await dave.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 100, sortOrder: 'asc' });
    expect(list.readItems.map((r) => r.streamRoomId)).not.toContain(id);
    const token = await login(t.bridge.url, tenant.solutionId, tenant.users.dave!);
    const raw = await rest(t.bridge.url, token).get(`/v1/rooms/${id}`);
    expect(raw.status).toBe(403);
    expect(JSON.stringify(raw.body)).not.toContain('record');
  });

  it('rotates on removal: the removed user cannot unwrap any key of the new epoch', async () => {
    const id = await room([alice, bob, carol], [alice]);
    const v1 = await alice.streamApi.getStreamRoom(id);
    await alice.streamApi.updateStreamRoom(
      id,
      [pub(alice.user), pub(bob.user)],
      [pub(alice.user)],
      v1.publicMeta,
      utf8('after carol'),
      v1.version,
      false,
      false,
    );
    const v2 = await bob.streamApi.getStreamRoom(id);
    expect(v2.epoch).toBe(2);
    expect(fromUtf8(v2.privateMeta)).toBe('after carol');
    expect((await refusal(carol.streamApi.getStreamRoom(id))).reason).toBe('AccessDenied');

    // With its own private key, carol tries every wrapped key of the new epoch in the Bridge database.
    const db = new Database(`${t.dataDir}/sealroom.db`, { readonly: true });
    const rows = db.prepare('SELECT recipient_id, wrapped FROM room_keys WHERE room_id = ? AND epoch = 2').all(id) as Array<{
      recipient_id: string;
      wrapped: Buffer;
    }>;
    db.close();
    expect(rows.map((r) => r.recipient_id).sort()).toEqual(['alice', 'bob']);
    for (const row of rows) {
      for (const asId of [row.recipient_id, 'carol']) {
        await expect(
          unwrapEpochKey({ wrapped: decodeWrappedKey(new Uint8Array(row.wrapped)), roomId: id, epoch: 2, recipientId: asId, recipientSeed: carol.user.seed }),
        ).rejects.toMatchObject({ reason: 'DecryptFailed' });
      }
    }
  });

  it('forceGenerateNewKey rotates; added users get the current key without rotation', async () => {
    const id = await room([alice, bob], [alice]);
    await alice.streamApi.updateStreamRoom(id, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('m'), 1, false, true);
    expect((await bob.streamApi.getStreamRoom(id)).epoch).toBe(2);
    await alice.streamApi.updateStreamRoom(
      id,
      [pub(alice.user), pub(bob.user), pub(dave.user)],
      [pub(alice.user)],
      new Uint8Array(),
      utf8('m2'),
      2,
      false,
      false,
    );
    const asDave = await dave.streamApi.getStreamRoom(id);
    expect(asDave).toMatchObject({ version: 3, epoch: 2 });
    expect(fromUtf8(asDave.privateMeta)).toBe('m2');
  });

  it('concurrent updates conflict with VersionConflict; force overrides', async () => {
    const id = await room([alice, bob], [alice, bob]);
    const members = [pub(alice.user), pub(bob.user)];
    const managers = members;
    await bob.streamApi.getStreamRoom(id); // bob trusts version 1 and holds its key
    await alice.streamApi.updateStreamRoom(id, members, managers, new Uint8Array(), utf8('alice wins'), 1, false, false);
    // bob's update is built on the head he trusts without a read; the Bridge refuses it, and the
    // version bob hears is the one he then verifies.
    const conflict = await refusal(bob.streamApi.updateStreamRoom(id, members, managers, new Uint8Array(), utf8('bob'), 1, false, false));
    expect(conflict).toMatchObject({ reason: 'VersionConflict', code: 'ERR_ENDPOINT_VERSION_CONFLICT', details: { currentVersion: 2 } });
    expect(conflict.bridgeCode).toBeUndefined();
    await bob.streamApi.updateStreamRoom(id, members, managers, new Uint8Array(), utf8('bob forced'), 1, true, false);
    const final = await alice.streamApi.getStreamRoom(id);
    expect(final.version).toBe(3);
    expect(fromUtf8(final.privateMeta)).toBe('bob forced');
  });

  it('updates a room whose trusted head is current with one request, and reads it first otherwise', async () => {
    const id = await room([alice, bob], [alice, bob]);
    const members = [pub(alice.user), pub(bob.user)];
    const requests: string[] = [];
    const count = (message: unknown) => {
      const { request } = message as { request: { method: string; url: string } };
      if (request.url.startsWith(`/v1/rooms/${id}`)) requests.push(request.method);
    };
    await bob.streamApi.getStreamRoom(id);
    diagnostics.subscribe('http.server.request.start', count);
    try {
      await alice.streamApi.updateStreamRoom(id, members, members, new Uint8Array(), utf8('v2'), 1, false, false);
      await alice.streamApi.updateStreamRoom(id, members, members, new Uint8Array(), utf8('v3'), 2, false, false);
      expect(requests).toEqual(['PUT', 'PUT']);
      // bob trusts version 1, not 3: he reads, then writes.
      requests.length = 0;
      await bob.streamApi.updateStreamRoom(id, members, members, new Uint8Array(), utf8('v4'), 3, false, false);
      expect(requests).toEqual(['GET', 'PUT']);
    } finally {
      diagnostics.unsubscribe('http.server.request.start', count);
    }
    expect(fromUtf8((await alice.streamApi.getStreamRoom(id)).privateMeta)).toBe('v4');
  });

  it('refuses bad arguments with a clear error before touching the Bridge', async () => {
    expect((await refusal(alice.streamApi.getStreamRoom('nope'))).message).toMatch(/"streamRoomId" is not a valid id/);
    expect(
      (await refusal(alice.streamApi.createStreamRoom(tenant.contextId, [{ userId: 'x y', pubKey: '' }], [], new Uint8Array(), new Uint8Array()))).reason,
    ).toBe('InvalidArgument');
    expect((await refusal(alice.streamApi.createStreamRoom(tenant.contextId, [], [], new Uint8Array(), new Uint8Array(), { update: 'all' }))).message).toMatch(
      /policy\.update/,
    );
    expect((await refusal(alice.streamApi.getStreamRoom('room_unknown_000000000'))).reason).toBe('NotFound');
  });

  it('deletes a room', async () => {
    const id = await room([alice, bob], [alice]);
    await alice.streamApi.deleteStreamRoom(id);
    expect((await refusal(bob.streamApi.getStreamRoom(id))).reason).toBe('NotFound');
  });
});

describe('events', () => {
  it('reach subscribed and permitted users only, verified, with the new key already in place', async () => {
    const id = await room([alice, bob], [alice]);
    const seen: Record<string, StreamRoomEvent[]> = { bob: [], carol: [], dave: [] };
    for (const [name, client] of [
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      const q = client.eventApi.buildSubscriptionQuery('streamRoomUpdated', 'contextId', tenant.contextId);
      await client.eventApi.subscribeFor([q]);
      client.eventApi.on('streamRoomUpdated', (e) => seen[name]!.push(e));
    }
    dave.eventApi.on('streamRoomUpdated', (e) => seen.dave!.push(e)); // listening, not subscribed

    await alice.streamApi.updateStreamRoom(id, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('rotated'), 1, false, true);
    await until(() => seen.bob!.some((e) => e.streamRoomId === id), "bob's event");
    const event = seen.bob!.find((e) => e.streamRoomId === id)!;
    expect(event).toMatchObject({ type: 'streamRoomUpdated', version: 2, epoch: 2 });
    if (event.type !== 'streamRoomUpdated') throw new Error('unexpected');
    expect(fromUtf8(event.room!.privateMeta)).toBe('rotated');
    // The key cache moved to epoch 2 with no call from the app.
    expect(streamApiInternals(bob.streamApi).keys.current(id)?.epoch).toBe(2);

    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.carol!.filter((e) => e.streamRoomId === id)).toEqual([]); // context user outside the room
    expect(seen.dave!).toEqual([]);
  });

  it('room-scoped subscriptions need read access, and unsubscribe stops delivery', async () => {
    const id = await room([alice, bob], [alice]);
    const q = dave.eventApi.buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', id);
    expect((await refusal(dave.eventApi.subscribeFor([q]))).reason).toBe('AccessDenied');
    const got: StreamRoomEvent[] = [];
    const [sub] = await bob.eventApi.subscribeFor([bob.eventApi.buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', id)]);
    // bob also has a context-wide subscription from the test above: count this subscription's events.
    bob.eventApi.on('streamRoomUpdated', (e) => e.subscriptionIds.includes(sub!) && got.push(e));
    await alice.streamApi.updateStreamRoom(id, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('1'), 1, false, false);
    await until(() => got.length === 1, 'first event');
    await bob.eventApi.unsubscribeFrom([sub!]);
    await alice.streamApi.updateStreamRoom(id, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('2'), 2, false, false);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(got).toHaveLength(1);
    expect(() => bob.eventApi.buildSubscriptionQuery('nope' as never, 'contextId', 'x')).toThrow(/eventType/);
  });

  it('created and deleted events', async () => {
    const created: StreamRoomEvent[] = [];
    const deleted: StreamRoomEvent[] = [];
    await bob.eventApi.subscribeFor([
      bob.eventApi.buildSubscriptionQuery('streamRoomCreated', 'contextId', tenant.contextId),
      bob.eventApi.buildSubscriptionQuery('streamRoomDeleted', 'contextId', tenant.contextId),
    ]);
    bob.eventApi.on('streamRoomCreated', (e) => created.push(e));
    bob.eventApi.on('streamRoomDeleted', (e) => deleted.push(e));
    const id = await room([alice, bob], [alice], 'hello');
    await until(() => created.some((e) => e.streamRoomId === id), 'created');
    const c = created.find((e) => e.streamRoomId === id)!;
    expect(c.type === 'streamRoomCreated' && fromUtf8(c.room!.privateMeta)).toBe('hello');
    await alice.streamApi.deleteStreamRoom(id);
    await until(() => deleted.some((e) => e.streamRoomId === id), 'deleted');
  });
});
