/**
 * The order a BATCH keeps (bridge/realtime/connection.ts, docs/protocol/data-tracks.md "Batches"):
 * binary frames written in one turn go as one message at its end, but a text message or a byte-stream
 * chunk written after them in the same turn goes after them, never before, and closing the socket
 * sends what is pending first. A real ws server and client on 127.0.0.1; the RealtimeConnection wraps
 * the server's socket as the hub does.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeChunkFrame, encodeDataFrame, FRAME_BATCH_DOWN, FRAME_CHUNK_DOWN, FRAME_DATA_DOWN, splitBatch } from '../../protocol/ws.ts';
import { RealtimeConnection } from './connection.ts';

type Seen = { kind: 'batch'; frames: number[] } | { kind: 'frame'; first: number; type: number } | { kind: 'text'; text: string };

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** A server-side RealtimeConnection and what its client receives, in order. */
async function pair(batching: boolean): Promise<{ conn: RealtimeConnection; seen: Seen[]; closed: Promise<unknown> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  cleanup.push(() => {
    client.terminate();
    server.close();
  });
  const [socket] = await accepted;
  const seen: Seen[] = [];
  client.on('message', (data: Buffer, isBinary: boolean) => {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!isBinary) seen.push({ kind: 'text', text: data.toString() });
    else if (bytes[0] === FRAME_BATCH_DOWN) seen.push({ kind: 'batch', frames: (splitBatch(bytes) ?? []).map((f) => f[f.length - 1]!) });
    else seen.push({ kind: 'frame', first: bytes[bytes.length - 1]!, type: bytes[0]! });
  });
  const closed = once(client, 'close');
  const conn = new RealtimeConnection(
    'c1',
    socket,
    '127.0.0.1',
    { outboundBudgetBytes: 8 << 20, readPauseBytes: 1 << 20, maxRequestsInFlight: 32, maxHeldMessages: 64 },
    { streamBytesInFlight: () => 0, overflowed: () => undefined, closing: () => undefined },
  );
  conn.batching = batching;
  return { conn, seen, closed };
}

/** A DATA frame whose last byte is `n`, so the client can tell frames apart. */
const data = (n: number) => encodeDataFrame(FRAME_DATA_DOWN, 7, new Uint8Array([0, 0, n]));

async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(predicate()).toBe(true);
}

describe('BATCH order at the Bridge', () => {
  it('sends the frames of one turn as one batch, before a text message or chunk written after them', async () => {
    const { conn, seen } = await pair(true);
    let written = 0;
    const done = () => void written++;
    conn.binary(data(1), done);
    conn.binary(data(2), done);
    conn.event({ type: 'dataDropped', trackNo: 7, count: 1, cause: 'slow' });
    conn.binary(data(3), done);
    conn.binary(data(4), done);
    conn.bulk(9, encodeChunkFrame(FRAME_CHUNK_DOWN, 9, false, new Uint8Array([0, 5])));
    conn.binary(data(6), done);
    await until(() => seen.length === 5);
    expect(seen.slice(0, 3)).toEqual([
      { kind: 'batch', frames: [1, 2] },
      { kind: 'text', text: JSON.stringify({ kind: 'event', event: { type: 'dataDropped', trackNo: 7, count: 1, cause: 'slow' } }) },
      { kind: 'batch', frames: [3, 4] },
    ]);
    // The chunk went after the frames before it; frame 6 may overtake it (data goes ahead of bulk).
    expect(seen.slice(3)).toEqual(
      expect.arrayContaining([
        { kind: 'frame', first: 5, type: FRAME_CHUNK_DOWN },
        { kind: 'frame', first: 6, type: FRAME_DATA_DOWN },
      ]),
    );
    // Every frame's write callback ran, one per frame, batched or not.
    await until(() => written === 5);
  });

  it('sends what is pending before the close frame, and every frame alone to a protocol 1 client', async () => {
    const batched = await pair(true);
    batched.conn.binary(data(1));
    batched.conn.binary(data(2));
    batched.conn.close(1000, 'bye');
    await batched.closed;
    expect(batched.seen).toEqual([{ kind: 'batch', frames: [1, 2] }]);

    const alone = await pair(false);
    alone.conn.binary(data(1));
    alone.conn.binary(data(2));
    await until(() => alone.seen.length === 2);
    expect(alone.seen).toEqual([
      { kind: 'frame', first: 1, type: FRAME_DATA_DOWN },
      { kind: 'frame', first: 2, type: FRAME_DATA_DOWN },
    ]);
  });

  it('sends a batch at once when it reaches 256 frames or 64 KiB', async () => {
    const byCount = await pair(true);
    for (let i = 0; i < 300; i++) byCount.conn.binary(data(i % 256));
    await until(() => byCount.seen.length === 2);
    expect(byCount.seen.map((m) => (m.kind === 'batch' ? m.frames.length : m.kind))).toEqual([256, 44]);

    // 40 KiB frames: the second takes a batch past 64 KiB, so it goes with two; the fifth goes alone.
    const bySize = await pair(true);
    const big = (n: number) => encodeDataFrame(FRAME_DATA_DOWN, 7, new Uint8Array(40 * 1024).fill(n));
    for (let i = 1; i <= 5; i++) bySize.conn.binary(big(i));
    await until(() => bySize.seen.length === 3);
    expect(bySize.seen).toEqual([
      { kind: 'batch', frames: [1, 2] },
      { kind: 'batch', frames: [3, 4] },
      { kind: 'frame', first: 5, type: FRAME_DATA_DOWN },
    ]);
  });
});
