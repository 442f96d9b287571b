/**
 * What a Bridge can make a subscriber hold with room events (endpoint/event-api.ts,
 * docs/operations/limits.md "What the Endpoint reads"): each event is a verified room read when its turn
 * comes, and the Bridge decides how fast events come and how long reads take. A WebSocket man in the
 * middle (test/procs/ws-mitm.ts) plays the Bridge: it holds room reads and sends events far faster than
 * they are read. Updates of a room still waiting join into one, and past ROOM_EVENTS_PENDING_MAX
 * waiting events the rest are dropped and counted. Before, every event waited in a promise chain with
 * no bound, and one event whose handling threw stopped every later one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import type { ServerEvent } from '../../protocol/ws.ts';
import { startWsMitm, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { holdRoomReads, type HeldRoomReads } from '../../test/rooms.ts';
import { ROOM_EVENTS_PENDING_MAX } from '../event-api.ts';
import { pub, startKit, until, type Client, type Kit } from '../realtime/test-kit.ts';
import type { StreamRoomEvent } from '../types.ts';

type UpdatedEvent = Extract<ServerEvent, { type: 'streamRoomUpdated' }>;

let kit: Kit;
let mitm: WsMitm;
let alice: Client;
let bob: Client;
let roomId: string;
/** The last room event the Bridge sent bob, as it sent it. */
let seen: UpdatedEvent | undefined;
let reads: HeldRoomReads;
const got: Array<Extract<StreamRoomEvent, { type: 'streamRoomUpdated' }>> = [];

beforeAll(async () => {
  mitm = await startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
    {
      downText: (text) => {
        const message = JSON.parse(text) as { kind: string; event?: ServerEvent };
        if (message.kind === 'event' && message.event?.type === 'streamRoomUpdated') seen = message.event;
        return text;
      },
    },
  );
  kit = await startKit(['alice', 'bob'], { loginUrls: [mitm.url] });
  alice = await kit.connect('alice');
  bob = await kit.connect('bob', { url: mitm.url });
  roomId = await kit.room(alice, [alice, bob]);
  await bob.eventApi.subscribeFor([bob.eventApi.buildSubscriptionQuery('streamRoomUpdated', 'contextId', kit.tenant.contextId)]);
  bob.eventApi.on('streamRoomUpdated', (e) => got.push(e));
  reads = holdRoomReads(kit.t.bridge.store);
});
afterAll(async () => {
  reads?.release();
  await kit?.close();
  await mitm?.close();
});

const update = (event: UpdatedEvent, roomId: string, version: number) => mitm.inject(JSON.stringify({ kind: 'event', event: { ...event, roomId, version } }));
const madeUpRoom = (i: number) => `room_madeup_${String(i).padStart(8, '0')}`;

describe('a Bridge that sends room events faster than they can be read', () => {
  it('joins the updates of a waiting room into one, drops and counts what is past the bound, and delivers the rest', async () => {
    await alice.streamApi.updateStreamRoom(roomId, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('2'), 1, false, false);
    await until(() => got.length === 1 && seen !== undefined, "bob's first event");
    const event = seen!;

    reads.hold(30_000);
    // The first is taken and waits for its read; the next 100 wait behind it as one.
    const started = reads.started;
    update(event, roomId, 3);
    await until(() => reads.started > started, 'the first read to reach the Bridge');
    for (let v = 4; v <= 103; v++) update(event, roomId, v);
    const over = 50;
    for (let i = 0; i < ROOM_EVENTS_PENDING_MAX - 2 + over; i++) update(event, madeUpRoom(i), 1);
    await until(() => bob.eventApi.stats().droppedRoomEvents === over, 'the events past the bound to be dropped', 15_000);
    expect(bob.eventApi.stats()).toEqual({ pendingRoomEvents: ROOM_EVENTS_PENDING_MAX, coalescedRoomEvents: 99, droppedRoomEvents: over });

    reads.release();
    await until(() => bob.eventApi.stats().pendingRoomEvents === 0, 'the waiting events to be read', 60_000);
    const ours = got.filter((e) => e.streamRoomId === roomId);
    // The first update, then one for the hundred that waited: the newest version, read as it is now.
    expect(ours.map((e) => e.version)).toEqual([2, 3, 103]);
    expect(ours[2]!.room?.version).toBe(2);
    // Rooms the Bridge made up arrive as events whose read failed; none past the bound.
    const madeUp = got.filter((e) => e.streamRoomId.startsWith('room_madeup_'));
    expect(madeUp).toHaveLength(ROOM_EVENTS_PENDING_MAX - 2);
    expect(madeUp.every((e) => e.room === undefined && e.error !== undefined)).toBe(true);
    expect(madeUp.at(-1)!.streamRoomId).toBe(madeUpRoom(ROOM_EVENTS_PENDING_MAX - 3));
  });

  it('handles events again as usual once the queue is empty', async () => {
    const before = got.length;
    await alice.streamApi.updateStreamRoom(roomId, [pub(alice.user), pub(bob.user)], [pub(alice.user)], new Uint8Array(), utf8('3'), 2, false, false);
    await until(() => got.length === before + 1, "bob's event");
    expect(got.at(-1)).toMatchObject({ streamRoomId: roomId, version: 3, room: { version: 3 } });
    expect(bob.eventApi.stats().droppedRoomEvents).toBe(50);
  });
});
