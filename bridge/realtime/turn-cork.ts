/**
 * Text messages written to one socket in one turn of the event loop leave in one write
 * (docs/operations/realtime-priorities.md, "One write per socket per turn"). A join is announced to
 * every other participant of its room, and each announcement was a `writev` of its own: on loopback
 * each such call also runs the receiver's TCP path, so a burst of joins cost the Bridge more in
 * system calls than in everything else. Corking a socket at its first text message and uncorking every
 * corked socket once the turn's I/O callbacks have run (`setImmediate`) sends a burst as one write.
 *
 * Binary frames flush at once (`flushTurn`): data-track batches already go as one message per turn,
 * and the bulk lane pumps chunks from write callbacks, which a cork would hold back a turn each.
 */
import type { Duplex } from 'node:stream';

const corked = new Set<Duplex>();
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/** Holds the socket's writes until the end of this turn (once per socket per turn). */
export function corkForTurn(socket: Duplex): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
}

/** Sends what the socket holds from this turn now, ahead of a write that must not wait. */
export function flushTurn(socket: Duplex): void {
  if (!corked.delete(socket)) return;
  socket.uncork();
}
