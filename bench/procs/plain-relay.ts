/**
 * Baseline for byte-stream throughput: an equally minimal relay process. A plain WebSocket server
 * (ws, no auth, no crypto, no framing of its own) that forwards every binary message from the sender
 * (`/send`) to every receiver (`/recv`), with backpressure: while any receiver's socket holds more
 * than HIGH_WATER_BYTES, it stops reading from the sender, as sealroom's Bridge must.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { serve } from '../lib/worker.ts';

/** A receiver's socket may hold this much before the sender is paused. Bytes. */
const HIGH_WATER_BYTES = 1024 * 1024;
/** Largest message (a 64 KiB chunk with room to spare). */
const MAX_MESSAGE_BYTES = 1024 * 1024 + 1024;

const http = createServer();
const wss = new WebSocketServer({ server: http, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
const receivers = new Set<WebSocket>();
let sender: WebSocket | undefined;
let paused = false;

function congested(): boolean {
  for (const r of receivers) if (r.bufferedAmount > HIGH_WATER_BYTES) return true;
  return false;
}

/** Resumes the sender once every receiver has drained (called from send callbacks). */
function maybeResume(): void {
  if (paused && !congested()) {
    paused = false;
    sender?.resume();
  }
}

wss.on('connection', (ws, req) => {
  if (req.url === '/send') {
    sender = ws;
    ws.on('message', (data: RawData) => {
      for (const r of receivers) r.send(data as Buffer, maybeResume);
      if (!paused && congested()) {
        paused = true;
        ws.pause();
      }
    });
  } else {
    receivers.add(ws);
    ws.on('close', () => {
      receivers.delete(ws);
      maybeResume();
    });
  }
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address() as AddressInfo;
serve({}, { url: `ws://127.0.0.1:${port}`, pid: process.pid }, () => new Promise<void>((resolve) => wss.close(() => resolve())));
