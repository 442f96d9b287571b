/**
 * BATCH frames (protocol 2, protocol/ws-frames.ts): what the Bridge writes to one socket in one turn of
 * its event loop goes as one message to a client that speaks protocol 2, and alone to one that says 1.
 * Either way every frame arrives, in order, and an event sent after frames arrives after them. Real
 * Bridge, raw WebSocket clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { createRoom, numbered, seqOf, TestClient } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  for (const id of ['alice', 'bob', 'carol']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

const u = (id: string) => tenant.users[id]!;

describe('BATCH frames', () => {
  it('carry a burst to a protocol 2 client in fewer messages, every frame alone to protocol 1, all in order, events after', async () => {
    const built = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob'), u('carol')], [u('alice')]);
    const roomId = built.record.roomId;
    const alice = await TestClient.connect(t.bridge.url, tokens.alice!);
    const bob = await TestClient.connect(t.bridge.url, tokens.bob!, 2);
    const carol = await TestClient.connect(t.bridge.url, tokens.carol!, 1);
    clients.push(alice, bob, carol);
    for (const c of [alice, bob, carol]) await c.request('join', { roomId });
    const { stream } = await alice.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'd', kind: 'data' }] });
    const trackNo = stream.tracks[0]!.trackNo;
    for (const c of [bob, carol]) await c.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });

    // 200 frames written at once: they reach the Bridge in a few reads, each read's frames in one turn.
    const N = 200;
    for (let i = 1; i <= N; i++) alice.sendData(trackNo, numbered(i, 200));
    await alice.request('unpublish', { roomId, streamId: 'cam' });
    for (const c of [bob, carol]) {
      await c.event('streamUnpublished');
      expect(c.dataFrames(trackNo).map((f) => seqOf(f.payload))).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      // Every frame before the event that followed them.
      const log = c.log.map((e) => (e.kind === 'frame' ? 'frame' : e.event.type));
      expect(log.lastIndexOf('frame')).toBeLessThan(log.indexOf('streamUnpublished'));
    }
    expect(bob.batches).toBeGreaterThan(0);
    expect(carol.batches).toBe(0);
  });

  it('are not the only change a client may ask for: a hello with an unknown protocol is refused', async () => {
    await expect(TestClient.connect(t.bridge.url, tokens.bob!, 4 as never)).rejects.toThrow();
  });
});
