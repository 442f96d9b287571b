/**
 * Reads of one room that run at once (endpoint/rooms/room-api.ts, `fetchVerified`): each starts from
 * the head this client trusts, so two at once both started from the same one, and a Bridge that
 * withheld the newest version from one of them had an older head accepted after a newer one: a
 * rollback no sequence of awaited reads lets through. Reads of a room now take their turn, so the later
 * read starts from what the earlier one trusted and the withheld version is a `Rollback`. A write of
 * this client is stored in the same turns: one the Bridge says it took while it served another version
 * of the same number to a read (a fork) is `RoomTampered`.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import type { RoomResponse } from '../../protocol/api.ts';
import { connectClient, outcome, pub, type Client } from '../../test/endpoint.ts';
import { streamApiInternals } from '../internal.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { gate, startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';

let t: TestBridge;
let tenant: Tenant;
let proxy: HttpProxy;
const clients: Client[] = [];

/**
 * Armed for `roomId`: the first read's answer is held until the second read has been answered (or 2 s
 * pass), and every later read (every read, with `spareFirst` false) is told the room ends at version
 * `upTo` (its newer records withheld). With `writeAnswer` set, the answer to the next write of a room
 * version waits at that gate.
 */
const trap = {
  roomId: '',
  upTo: 0,
  spareFirst: true,
  reads: [] as IncomingMessage[],
  firstAnswer: gate(0),
  writeAnswer: undefined as ReturnType<typeof gate> | undefined,
  /** Armed: the next write waits at this gate before it reaches the Bridge, and is answered as taken whatever the Bridge says. */
  forkWrite: undefined as ReturnType<typeof gate> | undefined,
  forkRequest: undefined as IncomingMessage | undefined,
  forkSeen: gate(0),
  /** Armed with a fork: the held write goes on to the Bridge as the next read of the room is answered. */
  forkOnRead: false,
};
const isRead = (req: IncomingMessage) => trap.roomId !== '' && req.method === 'GET' && (req.url ?? '').startsWith(`/v1/rooms/${trap.roomId}?`);
const isWrite = (req: IncomingMessage) => req.method === 'PUT' && (req.url ?? '').startsWith('/v1/rooms/');

beforeAll(async () => {
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    request: async (req) => {
      if (isRead(req)) trap.reads.push(req);
      if (isWrite(req) && trap.forkWrite !== undefined && trap.forkRequest === undefined) {
        trap.forkRequest = req;
        trap.forkSeen.open();
        await trap.forkWrite.opened;
      }
    },
    rewrite: (req, body) => {
      if (req === trap.forkRequest) {
        const roomId = decodeURIComponent((req.url ?? '').split('/')[3]!.split('?')[0]!);
        return { status: 200, body: Buffer.from(JSON.stringify({ roomId, version: 2 })) };
      }
      if (!isRead(req) || (trap.spareFirst && req === trap.reads[0])) return undefined;
      const reply = JSON.parse(body.toString('utf8')) as RoomResponse;
      return Buffer.from(JSON.stringify({ ...reply, version: trap.upTo, records: reply.records.filter((r) => r.version <= trap.upTo), hasMore: false }));
    },
    response: async (req) => {
      if (isWrite(req) && trap.writeAnswer !== undefined) {
        const held = trap.writeAnswer;
        trap.writeAnswer = undefined;
        await held.opened;
      }
      if (trap.forkOnRead && req.method === 'GET' && (req.url ?? '').startsWith('/v1/rooms/')) {
        trap.forkOnRead = false;
        trap.forkWrite?.open();
      }
      if (!isRead(req)) return;
      if (req === trap.reads[0]) await trap.firstAnswer.opened;
      else trap.firstAnswer.open();
    },
  });
  t = await startBridge({ publicUrl: proxy.url });
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  await proxy.close();
  await t.close();
});

/** alice and bob, both managers of a new room at version 1 that bob has read (so he trusts it). */
async function roomOfTwo(): Promise<{ alice: Client; bob: Client; members: Array<{ userId: string; pubKey: string }>; id: string }> {
  const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
  const bob = await connectClient(proxy.url, tenant.solutionId, tenant.users.bob!);
  clients.push(alice, bob);
  const members = [pub(alice.user), pub(bob.user)];
  const id = await alice.streamApi.createStreamRoom(tenant.contextId, members, members, utf8('{}'), utf8('v1'));
  expect((await bob.streamApi.getStreamRoom(id)).version).toBe(1);
  return { alice, bob, members, id };
}

const read = (call: Promise<{ version: number; privateMeta: Uint8Array }>) => outcome(call, (room) => `version ${room.version}: ${fromUtf8(room.privateMeta)}`);

describe('two reads of one room at once', () => {
  it('never trust an older head after a newer one: the read the Bridge withheld a version from is a Rollback', async () => {
    const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
    const bob = await connectClient(proxy.url, tenant.solutionId, tenant.users.bob!);
    clients.push(alice, bob);
    const members = [pub(alice.user), pub(bob.user)];
    const id = await alice.streamApi.createStreamRoom(tenant.contextId, members, [pub(alice.user)], utf8('{}'), utf8('v1'));
    expect((await bob.streamApi.getStreamRoom(id)).version).toBe(1);
    for (const v of [1, 2]) await alice.streamApi.updateStreamRoom(id, members, [pub(alice.user)], utf8('{}'), utf8(`v${v + 1}`), v, false, false);

    Object.assign(trap, { roomId: id, upTo: 2, spareFirst: true, reads: [], firstAnswer: gate(2000) });
    const outcomes = await Promise.all([read(bob.streamApi.getStreamRoom(id)), read(bob.streamApi.getStreamRoom(id))]);
    trap.roomId = '';
    expect(outcomes).toEqual(['version 3: v3', 'Rollback']);
    // bob's trust stayed at version 3.
    expect(await read(bob.streamApi.getStreamRoom(id))).toBe('version 3: v3');
  });

  it('keep the head a read trusted when a write of this client answers after it: the trust never moves back', async () => {
    const { alice, bob, members, id } = await roomOfTwo();

    // alice writes version 2; the Bridge stores it, and its answer to her waits.
    trap.writeAnswer = gate(10_000);
    const held = trap.writeAnswer;
    const write = alice.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('v2'), 1, false, false);
    const giveUp = Date.now() + 5000;
    while ((await t.bridge.store.getRoom(id))?.version !== 2 && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 5));
    // Meanwhile bob writes version 3 and alice reads it: her trust moves to 3.
    expect((await bob.streamApi.getStreamRoom(id)).version).toBe(2);
    await bob.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('v3'), 2, false, false);
    expect(await read(alice.streamApi.getStreamRoom(id))).toBe('version 3: v3');
    // Her write's answer comes now: storing version 2 would move her trust back.
    held.open();
    await write;
    // So a Bridge that withholds version 3 from her next read is caught.
    Object.assign(trap, { roomId: id, upTo: 2, spareFirst: false, reads: [], firstAnswer: gate(0) });
    const withheld = await read(alice.streamApi.getStreamRoom(id));
    trap.roomId = '';
    expect(withheld).toBe('Rollback');
  });

  it('refuse a write the Bridge says it took while it served another version of that number (a fork): RoomTampered', async () => {
    const { alice, bob, members, id } = await roomOfTwo();

    // alice's version 2 is held before the Bridge sees it; bob's version 2 is stored meanwhile.
    Object.assign(trap, { forkWrite: gate(10_000), forkRequest: undefined, forkSeen: gate(10_000) });
    const held = trap.forkWrite!;
    const write = outcome(alice.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('alice v2'), 1, false, false), () => 'written');
    await trap.forkSeen.opened;
    await bob.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('bob v2'), 1, false, false);
    // alice reads bob's version 2, which verifies: her trust moves to it.
    expect(await read(alice.streamApi.getStreamRoom(id))).toBe('version 2: bob v2');
    // The Bridge refuses her write (a conflict), and the proxy tells her it took it.
    held.open();
    expect(await write).toBe('RoomTampered');
    trap.forkWrite = undefined;
    // Her trust stayed on the version she read.
    expect(await read(alice.streamApi.getStreamRoom(id))).toBe('version 2: bob v2');
  });

  it("never take the key of a write the Bridge says it took once the trusted head is past it: the chain's key is used", async () => {
    const { alice, bob, members, id } = await roomOfTwo();

    // alice's version 2 (a new key, epoch 2) is held; bob writes his version 2 (his epoch 2) and 3.
    Object.assign(trap, { forkWrite: gate(10_000), forkRequest: undefined, forkSeen: gate(10_000) });
    const write = outcome(alice.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('alice v2'), 1, false, true), () => 'written');
    await trap.forkSeen.opened;
    await bob.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('bob v2'), 1, false, true);
    await bob.streamApi.updateStreamRoom(id, members, members, utf8('{}'), utf8('bob v3'), 2, false, false);
    // alice reads bob's chain; her held write goes on as that read is answered, and is told it was taken.
    trap.forkOnRead = true;
    expect(await read(alice.streamApi.getStreamRoom(id))).toBe('version 3: bob v3');
    expect(await write).toBe('written');
    trap.forkWrite = undefined;
    // Her epoch 2 is the chain's (bob's), not the one her write made and the Bridge did not keep.
    const key = (c: Client) => streamApiInternals(c.streamApi).keys.get(id, 2);
    expect(key(bob)).toBeDefined();
    expect(key(alice)).toEqual(key(bob));
    expect(await read(alice.streamApi.getStreamRoom(id))).toBe('version 3: bob v3');
  });
});
