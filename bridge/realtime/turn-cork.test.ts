/**
 * One write per socket per turn (./turn-cork.ts): what a turn writes to a corked socket leaves in one
 * `writev`, in order, once the turn's I/O callbacks have run; `flushTurn` sends it at once. A Node
 * Duplex that records each write it is handed stands for the TCP socket.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { corkForTurn, flushTurn } from './turn-cork.ts';

/** A socket that records each write the stream machinery hands it (one entry per system call it would make). */
function recordingSocket(): { socket: Duplex; writes: string[][] } {
  const writes: string[][] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      writes.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      done();
    },
  });
  return { socket, writes };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('one write per socket per turn', () => {
  it('sends what a turn wrote to each corked socket as one write, in order, after the turn', async () => {
    const a = recordingSocket();
    const b = recordingSocket();
    for (const [s, text] of [
      [a, 'a1'],
      [b, 'b1'],
      [a, 'a2'],
      [a, 'a3'],
      [b, 'b2'],
    ] as const) {
      corkForTurn(s.socket);
      s.socket.write(text);
    }
    expect(a.writes).toEqual([]);
    await nextTurn();
    expect(a.writes).toEqual([['a1', 'a2', 'a3']]);
    expect(b.writes).toEqual([['b1', 'b2']]);
  });

  it('corks again in a later turn: each turn is its own write', async () => {
    const s = recordingSocket();
    corkForTurn(s.socket);
    s.socket.write('x');
    await nextTurn();
    corkForTurn(s.socket);
    s.socket.write('y');
    s.socket.write('z');
    await nextTurn();
    expect(s.writes).toEqual([['x'], ['y', 'z']]);
  });

  it('flushTurn sends what is held at once, with the write that must not wait', async () => {
    const s = recordingSocket();
    corkForTurn(s.socket);
    s.socket.write('event');
    s.socket.write('chunk');
    flushTurn(s.socket);
    expect(s.writes).toEqual([['event', 'chunk']]);
    // Not corked any more: a later write in the same turn goes alone, and the turn's end leaves it be.
    s.socket.write('after');
    await nextTurn();
    expect(s.writes).toEqual([['event', 'chunk'], ['after']]);
    // A socket that was never corked is left as it is.
    flushTurn(recordingSocket().socket);
  });
});
