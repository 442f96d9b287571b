/**
 * Reads of one room that run at once (endpoint/rooms/room-api.ts, `fetchVerified`): each starts from
 * the head this client trusts, so two at once both started from the same one, and a Bridge that
 * withheld the newest version from one of them had an older head accepted after a newer one: a
 * rollback no sequence of awaited reads lets through. Reads of a room now take their turn, so the later
 * read starts from what the earlier one trusted and the withheld version is a `Rollback`.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import type { RoomResponse } from '../../protocol/api.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { gate, startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';
import { EndpointError } from '../errors.ts';

let t: TestBridge;
let tenant: Tenant;
let proxy: HttpProxy;
const clients: Client[] = [];

/**
 * Armed for `roomId`: the first read's answer is held until the second read has been answered (or 2 s
 * pass), and every later read is told the room ends at version `upTo` (its newer records withheld).
 */
const trap = { roomId: '', upTo: 0, reads: [] as IncomingMessage[], firstAnswer: gate(0) };
const isRead = (req: IncomingMessage) => trap.roomId !== '' && req.method === 'GET' && (req.url ?? '').startsWith(`/v1/rooms/${trap.roomId}?`);

beforeAll(async () => {
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    request: (req) => {
      if (isRead(req)) trap.reads.push(req);
    },
    rewrite: (req, body) => {
      if (!isRead(req) || req === trap.reads[0]) return undefined;
      const reply = JSON.parse(body.toString('utf8')) as RoomResponse;
      return Buffer.from(JSON.stringify({ ...reply, version: trap.upTo, records: reply.records.filter((r) => r.version <= trap.upTo), hasMore: false }));
    },
    response: async (req) => {
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

async function outcome(read: Promise<{ version: number; privateMeta: Uint8Array }>): Promise<string> {
  try {
    const room = await read;
    return `version ${room.version}: ${fromUtf8(room.privateMeta)}`;
  } catch (error) {
    if (error instanceof EndpointError) return error.reason;
    throw error;
  }
}

describe('two reads of one room at once', () => {
  it('never trust an older head after a newer one: the read the Bridge withheld a version from is a Rollback', async () => {
    const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
    const bob = await connectClient(proxy.url, tenant.solutionId, tenant.users.bob!);
    clients.push(alice, bob);
    const members = [pub(alice.user), pub(bob.user)];
    const id = await alice.streamApi.createStreamRoom(tenant.contextId, members, [pub(alice.user)], utf8('{}'), utf8('v1'));
    expect((await bob.streamApi.getStreamRoom(id)).version).toBe(1);
    for (const v of [1, 2]) await alice.streamApi.updateStreamRoom(id, members, [pub(alice.user)], utf8('{}'), utf8(`v${v + 1}`), v, false, false);

    Object.assign(trap, { roomId: id, upTo: 2, reads: [], firstAnswer: gate(2000) });
    const outcomes = await Promise.all([outcome(bob.streamApi.getStreamRoom(id)), outcome(bob.streamApi.getStreamRoom(id))]);
    trap.roomId = '';
    expect(outcomes).toEqual(['version 3: v3', 'Rollback']);
    // bob's trust stayed at version 3.
    expect(await outcome(bob.streamApi.getStreamRoom(id))).toBe('version 3: v3');
  });
});
