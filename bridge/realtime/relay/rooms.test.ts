/**
 * The join race, made deterministic: a removal that commits while a join's membership check is
 * reading the store must not let the removed user in (docs/design.md: the Bridge drops a removed member
 * from the relay when the update commits, not later). Over HTTP the interleaving cannot be forced, so
 * this drives the relay directly with a store whose answers the test releases.
 */
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../protocol/policy.ts';
import { resolveConfig } from '../../config.ts';
import { BridgeEvents, type RoomUpdatedEvent } from '../../events.ts';
import type { BridgeServices } from '../../services.ts';
import type { RoomMemberRow, Store } from '../../store/types.ts';
import { RealtimeConnection } from '../connection.ts';
import { SealroomRelay } from '../relay.ts';

const ROOM_ID = 'room_race_0000000001';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A store that knows one room and lets the test answer each membership read. */
function raceStore() {
  const memberReads: Array<(row: RoomMemberRow | undefined) => void> = [];
  const room = { id: ROOM_ID, contextId: 'ctx', policy: DEFAULT_POLICY, creator: 'alice' };
  const store = {
    // The room and carol's standing in one read (Store.roomAccess); the test answers the membership part.
    roomAccess: async () => {
      const d = deferred<RoomMemberRow | undefined>();
      memberReads.push(d.resolve);
      return { room, solutionId: 'sol', contextUser: true, member: await d.promise };
    },
  };
  return { store: store as unknown as Store, memberReads };
}

function connection(id: string, userId: string): RealtimeConnection {
  const socket = { send: () => undefined, close: () => undefined, bufferedAmount: 0 } as unknown as WebSocket;
  const conn = new RealtimeConnection(
    id,
    socket,
    '127.0.0.1',
    { outboundBudgetBytes: 8 << 20, readPauseBytes: 1 << 20, maxRequestsInFlight: 32, maxHeldMessages: 4096 },
    { streamBytesInFlight: () => 0, overflowed: () => undefined, closing: () => undefined },
  );
  conn.session = { tokenHash: 'h', solutionId: 'sol', publicKey: 'k', userId, createdAt: 0, expiresAt: Number.MAX_SAFE_INTEGER };
  return conn;
}

const removal = (removed: string[]): RoomUpdatedEvent => ({
  roomId: ROOM_ID,
  contextId: 'ctx',
  version: 2,
  epoch: 2,
  previousEpoch: 1,
  removed,
  members: ['alice'],
  managers: ['alice'],
  creator: 'alice',
  policy: DEFAULT_POLICY,
  at: 0,
});

function relayWith(store: Store): SealroomRelay {
  const services: BridgeServices = {
    config: resolveConfig({ databaseFile: ':memory:' }),
    store,
    log: pino({ level: 'silent' }),
    events: new BridgeEvents(),
    now: Date.now,
  };
  return new SealroomRelay(services);
}

const join = (relay: SealroomRelay, conn: RealtimeConnection) => relay.join(conn, { kind: 'join', id: 1, roomId: ROOM_ID });
const tick = () => new Promise((r) => setImmediate(r));

describe('relay: join against a concurrent removal', () => {
  it('checks membership again when the room changed during the check, and refuses the removed user', async () => {
    const { store, memberReads } = raceStore();
    const relay = relayWith(store);
    const pending = join(relay, connection('c1', 'carol'));
    await tick();
    expect(memberReads).toHaveLength(1);
    // The removal commits while the first read is in flight; that read still saw carol as a member.
    relay.roomUpdated(removal(['carol']));
    memberReads[0]!({ userId: 'carol', publicKey: 'k', isManager: false });
    await tick();
    expect(memberReads).toHaveLength(2); // read again, after the change
    memberReads[1]!(undefined);
    await expect(pending).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(relay.stats()).toMatchObject({ rooms: 0 });
  });

  it('does not read twice when nothing changed', async () => {
    const { store, memberReads } = raceStore();
    const relay = relayWith(store);
    const pending = join(relay, connection('c2', 'carol'));
    await tick();
    memberReads[0]!({ userId: 'carol', publicKey: 'k', isManager: false });
    await expect(pending).resolves.toEqual({ participants: [], streams: [] });
    expect(memberReads).toHaveLength(1);
    expect(relay.stats().connections.map((c) => c.rooms)).toEqual([[ROOM_ID]]);
  });
});
