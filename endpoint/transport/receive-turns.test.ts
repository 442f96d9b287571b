/**
 * Bounded receive turns (receive-turns.ts; docs/operations/realtime-priorities.md, "Receive turns"):
 * Node sockets of the Endpoint's transport, flooded by a plain `ws` server on loopback, with work per
 * message, still let the process's timers run, and every message arrives once, in order.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { joinReceiveTurns, RECEIVE_TURN_BUDGET_MS, receiveTurnStats } from './receive-turns.ts';
import { createSocket } from './websocket-node.ts';
import type { SocketLike } from './websocket.ts';

const SOCKETS = 16;
const MESSAGES = 4000;
const MESSAGE_BYTES = 1024;
/** Work per message, as a data-track frame's decryption takes on a loaded core. */
const WORK_US = 40;

let server: WebSocketServer;
let url: string;

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function busy(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

async function open(): Promise<SocketLike> {
  const socket = createSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', resolve);
    socket.addEventListener('error', reject);
  });
  return socket;
}

describe('receive turns (Node transport)', () => {
  it('a flood on many sockets leaves timers their turn, and every message arrives in order', async () => {
    const connected = new Promise<void>((resolve) => {
      let n = 0;
      server.on('connection', () => {
        if (++n === SOCKETS) resolve();
      });
    });
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, open));
    await connected;
    const before = receiveTurnStats();

    const next = sockets.map(() => 0);
    let outOfOrder = 0;
    let left = SOCKETS * MESSAGES;
    const done = new Promise<void>((resolve) => {
      sockets.forEach((socket, i) => {
        socket.addEventListener('message', ({ data }) => {
          const index = (data as Buffer).readUInt32BE(0);
          if (index !== next[i]) outOfOrder++;
          next[i] = index + 1;
          busy(WORK_US);
          if (--left === 0) resolve();
        });
      });
    });

    // Every server socket writes its whole flood at once: the kernel and ws's buffers hold what the
    // client has not read, as a Bridge's do for a member that is behind.
    const payload = Buffer.alloc(MESSAGE_BYTES);
    for (const client of server.clients) {
      for (let m = 0; m < MESSAGES; m++) {
        const message = Buffer.from(payload);
        message.writeUInt32BE(m, 0);
        client.send(message);
      }
    }

    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    await done;
    clearInterval(ticker);

    expect(outOfOrder).toBe(0);
    expect(next).toEqual(sockets.map(() => MESSAGES));
    const after = receiveTurnStats();
    expect(after.paused).toBeGreaterThan(before.paused);
    // The flood is about 2.6 s of work. Without the bound, one poll phase reads every socket's backlog
    // (up to 2 MiB each) before a timer runs; with it, a timer waits about the budget plus one read
    // per socket. 400 ms is far from both, so a slow machine does not make this flaky.
    expect(RECEIVE_TURN_BUDGET_MS).toBeLessThan(100);
    expect(longestGap).toBeLessThan(400);
    for (const socket of sockets) socket.close();
  }, 60_000);

  it('resumes the sockets not served in a turn first, and ends turns on the real setImmediate under fake timers', async () => {
    const resumed: string[] = [];
    const socket = (name: string) => ({ pause: () => undefined, resume: () => resumed.push(name) });
    const [a, b, c] = [socket('a'), socket('b'), socket('c')];
    const joined = [a, b, c].map((s) => joinReceiveTurns(s));
    const handle = joined.map((j) => j.handle(() => busy((RECEIVE_TURN_BUDGET_MS / 2 + 1) * 1000)));
    // An app's fake timers, installed after the module loaded, must not keep the turn from ending.
    vi.useFakeTimers({ toFake: ['setImmediate'] });
    try {
      const paused = receiveTurnStats().paused;
      handle[0]!(); // a, then c: past the budget, every socket pauses
      handle[2]!();
      expect(receiveTurnStats().paused).toBe(paused + 1);
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
      // b was not served: it reads first; a and c follow in the order they were served.
      expect(resumed).toEqual(['b', 'a', 'c']);
    } finally {
      vi.useRealTimers();
      for (const j of joined) j.release();
    }
  });
});
