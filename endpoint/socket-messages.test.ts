/**
 * What a Connection does with the binary messages a Bridge sends (socket-messages.ts): a BATCH
 * (protocol 2) is routed frame by frame, in order, as if each had come alone; a malformed batch, an
 * up frame inside one, or a batch inside a batch is dropped whole and logged, and the next message is
 * handled as usual. The Bridge is the adversary here (docs/security/bridge-adversary.md): framing it
 * gets wrong must not confuse the Endpoint.
 */
import { describe, expect, it } from 'vitest';
import {
  DOWN_MESSAGE_MAX_BYTES,
  type DecodedFrame,
  encodeBatch,
  encodeCreditFrame,
  encodeDataFrame,
  FRAME_ALLOWANCE_DOWN,
  FRAME_DATA_DOWN,
  FRAME_DATA_UP,
} from '../protocol/ws.ts';
import type { ConnectionHooks } from './internal.ts';
import type { Logger } from './logger.ts';
import { PendingRequests } from './pending-requests.ts';
import { SocketMessages } from './socket-messages.ts';
import { Emitter } from './util/emitter.ts';

function setup(): { messages: SocketMessages; frames: DecodedFrame[]; warnings: string[]; events: unknown[] } {
  const warnings: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (a: unknown, b?: unknown) => void warnings.push(String(b ?? a)),
    error: (a: unknown, b?: unknown) => void warnings.push(String(b ?? a)),
  };
  const hooks = new Emitter<ConnectionHooks>();
  const frames: DecodedFrame[] = [];
  hooks.on('frame', (frame) => frames.push(frame));
  const events: unknown[] = [];
  hooks.on('event', (event) => events.push(event));
  return { messages: new SocketMessages(log, hooks, new PendingRequests()), frames, warnings, events };
}

const batchOf = (frames: Uint8Array[]) =>
  encodeBatch(
    frames,
    frames.reduce((n, f) => n + f.length, 0),
  );

describe('SocketMessages and BATCH frames', () => {
  it('routes a batch frame by frame, in order, the same as frames sent alone', () => {
    const alone = setup();
    const batched = setup();
    const frames = [
      encodeDataFrame(FRAME_DATA_DOWN, 4, new Uint8Array([1, 2])),
      encodeCreditFrame(FRAME_ALLOWANCE_DOWN, 9, 65536),
      encodeDataFrame(FRAME_DATA_DOWN, 5, new Uint8Array([3])),
    ];
    for (const f of frames) alone.messages.handle(f);
    batched.messages.handle(batchOf(frames));
    expect(batched.frames).toEqual(alone.frames);
    expect(batched.frames.map((f) => f.type)).toEqual(['data', 'credit', 'data']);
    expect(batched.warnings).toEqual([]);
    // In a browser the message is an ArrayBuffer.
    const fromBuffer = setup();
    const bytes = batchOf(frames);
    fromBuffer.messages.handle(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    expect(fromBuffer.frames).toEqual(alone.frames);
  });

  it('drops a malformed batch whole and logs it, then handles the next message', () => {
    const { messages, frames, warnings } = setup();
    const good = encodeDataFrame(FRAME_DATA_DOWN, 4, new Uint8Array([7]));
    const batch = batchOf([good, good]);
    messages.handle(batch.subarray(0, batch.length - 1));
    messages.handle(batchOf([batch]));
    expect(frames).toEqual([]);
    expect(warnings.filter((w) => w.includes('malformed batch'))).toHaveLength(2);
    // A frame sent up has no business inside a batch down: it is dropped like one sent alone.
    messages.handle(batchOf([good, encodeDataFrame(FRAME_DATA_UP, 4, new Uint8Array([8]))]));
    expect(frames).toHaveLength(1);
    expect(warnings.some((w) => w.includes('malformed binary frame'))).toBe(true);
    messages.handle(good);
    expect(frames).toHaveLength(2);
  });

  it("drops a message larger than any the Bridge sends, unparsed, in either form (browsers' sockets have no bound)", () => {
    const { messages, frames, warnings, events } = setup();
    const event = { type: 'streamRoomDeleted', roomId: 'room_0123456789abcdef', contextId: 'ctx', subscriptionIds: ['s'] };
    const text = JSON.stringify({ kind: 'event', event });
    messages.handle(text + ' '.repeat(DOWN_MESSAGE_MAX_BYTES + 1 - text.length));
    const frame = encodeDataFrame(FRAME_DATA_DOWN, 4, new Uint8Array(DOWN_MESSAGE_MAX_BYTES));
    messages.handle(frame);
    messages.handle(frame.buffer);
    expect(events).toEqual([]);
    expect(frames).toEqual([]);
    expect(warnings.filter((w) => w.includes('larger than any'))).toHaveLength(3);
    // At the bound, the same message is taken.
    messages.handle(text + ' '.repeat(DOWN_MESSAGE_MAX_BYTES - text.length));
    expect(events).toEqual([event]);
  });
});
