/**
 * Failover between Bridges of one cluster (docs/operations/failover.md), on a real PostgreSQL and a
 * real nats-server: Bridge A runs in a process of its own and is killed with SIGKILL; B runs here.
 * alice connects with [A, B] and lands on A, bob on B. When A dies, alice's connection logs in at B
 * afresh, rejoins her room, republishes her data track under the same handle and subscribes again:
 * bob's data reaches her, hers reaches bob, room events arrive. A room record older than one she saw
 * through A, served through B, is refused (`Rollback`). With every Bridge down the connection keeps
 * reconnecting, across the list, and comes back when one returns. A Bridge that hangs (SIGSTOP: its
 * sockets stay open) is noticed by the heartbeat, and left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../test/endpoint.ts';
import { startBridge, type TestBridge } from '../test/harness.ts';
import { startNats, type TestNats } from '../test/nats.ts';
import { startPostgres, type TestPostgres } from '../test/postgres.ts';
import { pattern, streamFailure } from './data-streams/test-kit.ts';
import { Endpoint } from './endpoint.ts';
import type { ConnectionEvents } from './connection.ts';
import type { EventMap } from './event-api.ts';
import { DataLog, publishDataTrack, refusal, startKit, until, utf8, type Client, type Kit } from './realtime/test-kit.ts';
import { MAX_BRIDGE_URLS } from './bridge-urls.ts';

let pgServer: TestPostgres;
let nats: TestNats;
let store: string;
let kit: Kit;
/** Bridge C, here: its member sees the failover from a third Bridge. */
let c: TestBridge;
/** Bridge A, in its own process. */
let a: { url: string; port: number; child: ChildProcess } | undefined;
const clients: Client[] = [];

/** Starts Bridge A as a child process on `port` (0: any). */
async function startBridgeA(port = 0): Promise<{ url: string; port: number; child: ChildProcess }> {
  const options = { store, nats: nats.url, port, host: '127.0.0.1', apiKey: kit.t.bridge.initialApiKey };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/procs/bridge-proc.ts', JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  // A test process that dies without its afterAll must not leave a Bridge running.
  const stopAtExit = () => child.kill('SIGKILL');
  process.once('exit', stopAtExit);
  child.once('exit', () => process.off('exit', stopAtExit));
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`Bridge A exited (${code}) before it listened`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return { url, port: Number(new URL(url).port), child };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The sessions the shared store holds for a key (the Bridges share them). */
async function sessionsOf(publicKey: string): Promise<number> {
  const db = new pg.Client({ connectionString: store });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: string }>('SELECT COUNT(*) AS n FROM sessions WHERE public_key = $1', [publicKey]);
    return Number(rows[0]!.n);
  } finally {
    await db.end();
  }
}

/** Records a connection's events in order. */
function connectionLog(client: Client): Array<{ type: keyof ConnectionEvents; event: ConnectionEvents[keyof ConnectionEvents] }> {
  const log: Array<{ type: keyof ConnectionEvents; event: ConnectionEvents[keyof ConnectionEvents] }> = [];
  for (const type of ['connectionLost', 'reconnecting', 'bridgeChanged', 'reconnected', 'disconnected'] as const) {
    client.connection.on(type, (event) => log.push({ type, event }));
  }
  return log;
}

beforeAll(async () => {
  [pgServer, nats] = await Promise.all([startPostgres(), startNats()]);
  store = await pgServer.createDatabase();
  kit = await startKit(['alice', 'bob', 'carol'], { store, nats: nats.url });
  c = await startBridge({ store, nats: nats.url, apiKey: kit.t.bridge.initialApiKey! });
  a = await startBridgeA();
}, 30_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  if (a !== undefined) await kill(a.child);
  await c?.close();
  // B was closed by the last test; closing it again is harmless, and the kit's clients log out.
  await kit?.close().catch(() => undefined);
  await Promise.all([nats?.destroy(), pgServer?.destroy()]);
});

const fast = { reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 200 };

describe('a list of Bridge URLs', () => {
  it('is checked: non-empty, at most MAX_BRIDGE_URLS, well-formed, distinct (InvalidArgument naming the entry)', async () => {
    const { solutionId, users } = kit.tenant;
    const connect = (urls: unknown) => refusal(Endpoint.connect(users.alice!.privateKey, solutionId, urls as string[]));
    const b = kit.t.bridge.url;
    const cases: Array<[unknown, string]> = [
      [[], 'got an empty list'],
      [Array.from({ length: MAX_BRIDGE_URLS + 1 }, (_, i) => `http://127.0.0.1:${1000 + i}`), `at most ${MAX_BRIDGE_URLS} URLs`],
      [[b, 'not a url'], '"bridgeUrl[1]" expected an http(s) URL'],
      [[b, 'ftp://127.0.0.1:21'], '"bridgeUrl[1]" expected an http(s) URL, got protocol ftp:'],
      [[b, 42], '"bridgeUrl[1]" expected an http(s) URL'],
      [[b, `${b}/`], '"bridgeUrl[1]" repeats bridgeUrl[0]'],
    ];
    for (const [urls, message] of cases) {
      const error = await connect(urls);
      expect(error.reason, message).toBe('InvalidArgument');
      expect(error.code).toBe('ERR_ENDPOINT_INVALID_ARGUMENT');
      expect(error.message).toContain(message);
    }
  });

  it('connects to the first Bridge that can be reached', async () => {
    const dead = 'http://127.0.0.1:9';
    const bob = await connectClient([dead, kit.t.bridge.url], kit.tenant.solutionId, kit.tenant.users.bob!, { connect: fast });
    clients.push(bob);
    expect(bob.connection.bridgeUrl).toBe(kit.t.bridge.url);
    expect(bob.connection.bridgeUrls).toEqual([dead, kit.t.bridge.url]);
  });
});

describe('failover', () => {
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let roomId: string;
  let events: ReturnType<typeof connectionLog>;

  it('moves a member of a dead Bridge to the next one, where it resumes: data tracks both ways, room events', async () => {
    const b = kit.t.bridge.url;
    alice = await connectClient([a!.url, b], kit.tenant.solutionId, kit.tenant.users.alice!, { connect: fast });
    clients.push(alice);
    bob = await kit.connect('bob');
    carol = await kit.connect('carol', { url: c.bridge.url });
    expect(alice.connection.bridgeUrl).toBe(a!.url);
    expect(await sessionsOf(alice.user.publicKey)).toBe(1);
    events = connectionLog(alice);
    const resumed: Array<EventMap['streamRoomResumed']> = [];
    alice.eventApi.on('streamRoomResumed', (e) => resumed.push(e));
    const roomUpdates: Array<EventMap['streamRoomUpdated']> = [];
    alice.eventApi.on('streamRoomUpdated', (e) => roomUpdates.push(e));

    roomId = await kit.room(alice, [alice, bob, carol], [alice, bob]);
    await alice.eventApi.subscribeFor([alice.eventApi.buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', roomId)]);
    for (const member of [alice, bob, carol]) await member.streamApi.joinStreamRoom(roomId);
    const published = new Map<Client, Set<string>>();
    for (const member of [alice, bob, carol]) {
      const seen = new Set<string>();
      published.set(member, seen);
      member.eventApi.on('streamPublished', (e) => seen.add(e.stream.streamId));
    }
    const fromAlice = await publishDataTrack(alice, roomId);
    const fromBob = await publishDataTrack(bob, roomId);
    // Streams published on another Bridge are known here one NATS hop later.
    await until(
      () => published.get(bob)!.has(fromAlice.handle) && published.get(carol)!.has(fromAlice.handle) && published.get(alice)!.has(fromBob.handle),
      'the streams announced across the Bridges',
    );
    const atBob = new DataLog(bob, roomId, fromAlice.handle);
    const atCarol = new DataLog(carol, roomId, fromAlice.handle);
    await carol.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: fromAlice.handle }]);
    const atAlice = new DataLog(alice, roomId, fromBob.handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: fromAlice.handle }]);
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: fromBob.handle }]);
    // Only its own user takes a stream id over from another Bridge: bob's publish of alice's id is refused.
    const taken = await refusal(bob.connection.request('publish', { roomId, streamId: fromAlice.handle, tracks: [{ trackId: 'mine', kind: 'data' }] }));
    expect(taken.bridgeCode).toBe('STREAM_EXISTS');
    await alice.streamApi.sendData(fromAlice.trackId, utf8('before, from A'));
    await bob.streamApi.sendData(fromBob.trackId, utf8('before, from B'));
    await until(
      () => atBob.texts().includes('before, from A') && atCarol.texts().includes('before, from A') && atAlice.texts().includes('before, from B'),
      'data across the Bridges',
    );
    // A byte stream in flight when A dies fails with its usual reason.
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'files', name: 'x.bin', destinationIdentities: ['bob'] });
    await writer.write(pattern(16 * 1024, 1));

    await kill(a!.child);
    await until(() => alice.connection.state === 'connected' && alice.connection.bridgeUrl === b, 'alice on B', 10_000);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('connectionLost');
    expect(types.slice(-2)).toEqual(['bridgeChanged', 'reconnected']);
    expect(events.at(-2)!.event).toEqual({ bridgeUrl: b, previousBridgeUrl: a!.url });
    expect(events.at(-1)!.event).toEqual({ connectionId: alice.connection.connectionId, bridgeUrl: b });
    // The first attempt went back to A, the last one to B.
    const attempts = events.filter((e) => e.type === 'reconnecting').map((e) => (e.event as ConnectionEvents['reconnecting']).bridgeUrl);
    expect(attempts[0]).toBe(a!.url);
    expect(attempts.at(-1)).toBe(b);
    expect((await streamFailure(writer.write(pattern(16 * 1024, 2)))).reason).toBe('ConnectionLost');
    // A fresh login at B (B accepts only logins signed for its own URL): a second session, not A's token
    // reused (the Bridges share sessions, so it would work), nor sent to B to end it.
    expect(await sessionsOf(alice.user.publicKey)).toBe(2);

    await until(() => resumed.some((e) => e.streamRoomId === roomId), 'the resume report', 10_000);
    expect(resumed.find((e) => e.streamRoomId === roomId)).toMatchObject({
      status: 'restored',
      streams: [{ streamId: fromAlice.handle, status: 'republished' }],
      subscriptions: [{ streamId: fromBob.handle, status: 'restored' }],
    });
    // bob's data reaches alice on B; hers reaches bob once his Endpoint has subscribed again.
    await bob.streamApi.sendData(fromBob.trackId, utf8('after, from B'));
    await until(() => atAlice.texts().includes('after, from B'), "bob's data after the failover");
    // carol, on a third Bridge, gets it again too: C ends its mirror of A's stream when B announces hers.
    const delivered = (log: DataLog) => log.texts().some((t) => t.startsWith('after'));
    for (let i = 0; i < 60 && !(delivered(atBob) && delivered(atCarol)); i++) {
      await alice.streamApi.sendData(fromAlice.trackId, utf8(`after ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(delivered(atBob)).toBe(true);
    expect(delivered(atCarol)).toBe(true);
    // Room events: bob's update reaches alice's restored subscription.
    const room = await bob.streamApi.getStreamRoom(roomId);
    await bob.streamApi.updateStreamRoom(roomId, room.users, room.managers, utf8('{"v":2}'), room.privateMeta, room.version, false, false);
    await until(() => roomUpdates.some((e) => e.streamRoomId === roomId), 'streamRoomUpdated on alice');
    expect((await alice.streamApi.getStreamRoom(roomId)).version).toBe(room.version + 1);
  }, 30_000);

  it('refuses a room older than one seen through the Bridge that died (Rollback)', async () => {
    // B lies: its store goes back to the room's previous version (alice saw the newer one).
    const db = new pg.Client({ connectionString: store });
    await db.connect();
    try {
      const { rows } = await db.query<{ version: number; hash: Buffer }>('SELECT version, hash FROM room_versions WHERE room_id = $1 ORDER BY version', [
        roomId,
      ]);
      const previous = rows.at(-2)!;
      await db.query('DELETE FROM room_versions WHERE room_id = $1 AND version > $2', [roomId, previous.version]);
      await db.query('UPDATE rooms SET version = $2, head_hash = $3 WHERE id = $1', [roomId, previous.version, previous.hash]);
    } finally {
      await db.end();
    }
    const error = await refusal(alice.streamApi.getStreamRoom(roomId));
    expect(error.reason).toBe('Rollback');
  });

  it('with every Bridge down keeps reconnecting across the list, and comes back when one returns', async () => {
    const before = events.length;
    const aUrl = a!.url;
    await kit.t.bridge.close();
    await until(() => events.slice(before).filter((e) => e.type === 'reconnecting').length >= 4, 'attempts while all are down', 10_000);
    expect(alice.connection.state).toBe('reconnecting');
    const tried = new Set(events.slice(before).flatMap((e) => (e.type === 'reconnecting' ? [(e.event as ConnectionEvents['reconnecting']).bridgeUrl] : [])));
    expect(tried).toEqual(new Set([aUrl, kit.t.bridge.url]));
    expect(events.slice(before).some((e) => e.type === 'disconnected')).toBe(false);
    expect((await refusal(alice.streamApi.listStreamRooms(kit.tenant.contextId, { skip: 0, limit: 10, sortOrder: 'desc' }))).reason).toBe('ConnectionLost');

    a = await startBridgeA(a!.port);
    expect(a.url).toBe(aUrl);
    await until(() => alice.connection.state === 'connected', 'alice back', 10_000);
    expect(alice.connection.bridgeUrl).toBe(aUrl);
    expect(events.at(-1)).toEqual({ type: 'reconnected', event: { connectionId: alice.connection.connectionId, bridgeUrl: aUrl } });
  }, 30_000);

  it('notices a Bridge that hangs without closing its sockets (SIGSTOP) by its heartbeat, and fails over', async () => {
    await kit.t.restart({ port: Number(new URL(kit.t.bridge.url).port) });
    const b = kit.t.bridge.url;
    const options = { ...fast, heartbeatIntervalMs: 300, requestTimeoutMs: 1000 };
    const dave = await connectClient([a!.url, b], kit.tenant.solutionId, kit.tenant.users.carol!, { connect: options });
    clients.push(dave);
    expect(dave.connection.bridgeUrl).toBe(a!.url);
    const log = connectionLog(dave);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // idle: answered pings keep the socket
    expect(log).toEqual([]);
    const stoppedAt = performance.now();
    a!.child.kill('SIGSTOP'); // the kernel keeps its sockets open; nothing answers
    try {
      await until(() => dave.connection.state === 'connected' && dave.connection.bridgeUrl === b, 'dave on B', 10_000);
    } finally {
      await kill(a!.child);
    }
    console.log(`hung Bridge noticed and left in ${Math.round(performance.now() - stoppedAt)} ms (heartbeat 300 ms, request timeout 1000 ms)`);
    expect(log[0]).toEqual({ type: 'connectionLost', event: { code: 1006, reason: 'the Bridge stopped answering' } });
    // The Bridge that stopped answering is not tried first: the first attempt goes to B.
    expect(log[1]).toMatchObject({ type: 'reconnecting', event: { attempt: 1, bridgeUrl: b } });
    expect(log.at(-1)).toEqual({ type: 'reconnected', event: { connectionId: dave.connection.connectionId, bridgeUrl: b } });
  }, 30_000);
});
