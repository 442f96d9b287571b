/**
 * WebSocket fuzz: 10,000 generated frames at a real Bridge (random and truncated binary, wrong kinds,
 * malformed and oversized JSON, frames for rooms not joined and tracks or streams not owned), from fixed
 * seeds plus a random one printed on failure (replay with FUZZ_SEED=<seed>). Asserts: the Bridge never
 * crashes or answers INTERNAL, every socket it closes gets a protocol close code (never 1006 from a
 * crash or 1011), and two healthy Endpoints keep exchanging data-track messages throughout.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE, WS_PATH, WS_PROTOCOL_VERSION } from '../../protocol/ws.ts';
import { connectClient, pub, until, type Client } from '../endpoint.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../harness.ts';
import { Gen, fuzzSeeds } from './gen.ts';

const FRAMES = 10_000;
const MAX_MESSAGE_BYTES = 64 * 1024;
const CODES: number[] = Object.values(CLOSE);
let t: TestBridge;
let tenant: Tenant;
let fuzzToken: string;
let alice: Client;
let bob: Client;
let roomId: string;

beforeAll(async () => {
  t = await startBridge({ realtime: { maxMessageBytes: MAX_MESSAGE_BYTES } as never });
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'fuzz']);
  fuzzToken = await login(t.bridge.url, tenant.solutionId, tenant.users.fuzz!);
  alice = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  bob = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.bob!);
  roomId = await alice.streamApi.createStreamRoom(
    tenant.contextId,
    [pub(tenant.users.alice!), pub(tenant.users.bob!), pub(tenant.users.fuzz!)],
    [pub(tenant.users.alice!)],
    new TextEncoder().encode('{}'),
    new TextEncoder().encode('private'),
  );
});
afterAll(async () => {
  await alice.connection.disconnect();
  await bob.connection.disconnect();
  await t.close();
});

/** One generated message: text (JSON or not) or binary. */
function message(g: Gen): { data: string | Uint8Array; binary: boolean } {
  const id = g.pick([0, 1, 7, -1, 2 ** 53, 1.5]);
  const room = g.pick([roomId, 'room_0123456789abcdef', g.text(20)]);
  switch (g.int(0, 9)) {
    case 0:
      return { data: g.text(200), binary: false };
    case 1: {
      const kinds = [
        'hello',
        'ping',
        'subscribe',
        'unsubscribe',
        'join',
        'leave',
        'publish',
        'updateStream',
        'unpublish',
        'listStreams',
        'subscribeStreams',
        'byteStreamOpen',
        'byteStreamCredit',
        'byteStreamReject',
        'nope',
        '',
      ];
      const extra = g.json(3);
      return {
        data: JSON.stringify({ ...(typeof extra === 'object' && extra !== null && !Array.isArray(extra) ? extra : {}), kind: g.pick(kinds), id, roomId: room }),
        binary: false,
      };
    }
    case 2:
      return {
        data: JSON.stringify({
          kind: 'publish',
          id,
          roomId: room,
          streamId: g.text(10) || 's',
          tracks: [{ trackId: 'd', kind: g.pick(['data', 'audio', 'video', 'x']) }],
        }),
        binary: false,
      };
    case 3:
      return {
        data: JSON.stringify({
          kind: 'byteStreamOpen',
          id,
          roomId: room,
          streamId: 'AAAAAAAAAAAAAAAAAAAAAA==',
          epoch: g.pick([1, 0, 99]),
          destinationIdentities: [g.text(10)],
        }),
        binary: false,
      };
    case 4:
      return {
        data: JSON.stringify({ kind: g.pick(['byteStreamCredit', 'byteStreamReject']), streamNo: g.int(-1, 50), offset: g.pick([0, -5, 1e20, 12]) }),
        binary: false,
      };
    case 5:
      // DATA, CHUNK or CREDIT up frames for track and stream numbers this socket does not own.
      return { data: new Uint8Array([g.pick([0x01, 0x02, 0x03]), 0, 0, 0, g.int(0, 20), ...g.bytes(g.int(0, 64))]), binary: true };
    case 6:
      return { data: g.bytes(g.int(0, 6)), binary: true };
    case 7:
      return { data: new Uint8Array([g.pick([0x81, 0x82, 0x00, 0xff]), ...g.bytes(g.int(0, 100))]), binary: true };
    case 8:
      return {
        data: g.chance(0.5) ? g.bytes(MAX_MESSAGE_BYTES + g.int(1, 1000)) : `{"kind":"ping","id":1,"x":"${'a'.repeat(MAX_MESSAGE_BYTES)}"}`,
        binary: g.chance(0.5),
      };
    default:
      return { data: g.deep(g.int(50, 3000)), binary: false };
  }
}

/** A fuzz socket: hello first (most of the time), then generated messages until it closes. */
async function fuzzSocket(g: Gen, frames: number, seed: number): Promise<number> {
  const ws = new WebSocket(`${t.bridge.url.replace(/^http/, 'ws')}${WS_PATH}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  const internal: string[] = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString().includes('"INTERNAL"')) internal.push(data.toString().slice(0, 200));
  });
  if (g.chance(0.9)) {
    ws.send(JSON.stringify({ kind: 'hello', id: 0, token: fuzzToken, protocol: WS_PROTOCOL_VERSION }));
    if (g.chance(0.7)) ws.send(JSON.stringify({ kind: 'join', id: 1, roomId }));
  }
  let sent = 0;
  while (sent < frames && ws.readyState === WebSocket.OPEN) {
    const m = message(g);
    ws.send(m.data, { binary: m.binary });
    sent++;
    if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000))]);
  expect(internal, `seed ${seed} (replay: FUZZ_SEED=${seed}): the Bridge answered INTERNAL`).toEqual([]);
  expect([1000, 1005, ...CODES], `seed ${seed} (replay: FUZZ_SEED=${seed}): closed with ${code}`).toContain(code);
  return Math.max(sent, 1);
}

describe('WebSocket fuzz', () => {
  it(`${FRAMES} generated frames: no crash, every bad socket closed with a code, healthy clients go on`, async () => {
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const received: string[] = [];
    bob.streamApi.addRemoteStreamListener({ streamRoomId: roomId, onRemoteData: (data) => received.push(new TextDecoder().decode(data)) });
    const handle = await alice.streamApi.createStream(roomId);
    const trackId = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    await alice.streamApi.publishStream(handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);

    const seeds = fuzzSeeds([11, 12, 13]);
    const perSeed = Math.ceil(FRAMES / seeds.length);
    let healthChecks = 0;
    for (const seed of seeds) {
      const g = new Gen(seed);
      for (let sent = 0; sent < perSeed; ) {
        sent += await fuzzSocket(g, Math.min(perSeed - sent, g.int(1, 400)), seed);
        const text = `health ${seed} ${healthChecks++}`;
        await alice.streamApi.sendData(trackId, new TextEncoder().encode(text));
        await until(() => received.includes(text), `seed ${seed}: a healthy data-track message during the fuzz`);
      }
    }
    expect(healthChecks).toBeGreaterThan(10);
    expect((await fetch(`${t.bridge.url}/healthz`)).status).toBe(200);
  }, 120_000);
});
