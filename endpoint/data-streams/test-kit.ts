/**
 * Helpers for the byte-stream tests in this folder (not part of the library): rooms joined by real
 * Endpoints on a real Bridge, recorders of incoming streams, and typed failures.
 */
import { backend } from '../../crypto/backend/index.ts';
import { toBase64, toHex } from '../../crypto/bytes.ts';
import { encodeChunkFrame, FRAME_CHUNK_UP, type ServerEvent } from '../../protocol/ws.ts';
import { createStreamEncryptor, type StreamEncryptor } from './stream-crypto.ts';
import { startKit, until, type Client, type Kit } from '../realtime/test-kit.ts';
import { DataStreamError } from './errors.ts';
import { STREAM_HEADER_VERSION, type StreamHeader } from './header.ts';
import type { ByteStreamReader, ParticipantInfo, TextStreamReader } from './types.ts';
import { connectionInternals, streamApiInternals } from '../internal.ts';

export { startKit, until, type Client, type Kit };

/** A room of `members` created by `owner`, joined by every member. */
export async function joinedRoom(kit: Kit, owner: Client, members: Client[]): Promise<string> {
  const roomId = await kit.room(owner, members);
  for (const c of members) await c.streamApi.joinStreamRoom(roomId);
  return roomId;
}

/** Awaits a promise that must fail with a DataStreamError, and returns it. */
export async function streamFailure(promise: Promise<unknown>): Promise<DataStreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DataStreamError) return error;
    throw error;
  }
  throw new Error('expected a DataStreamError, the call succeeded');
}

export interface Received {
  reader: ByteStreamReader;
  from: ParticipantInfo;
  /** Settles with every byte, or the stream's error. */
  done: Promise<Uint8Array>;
}

/** Registers a byte handler on `topic` that reads every stream to the end; returns what arrived. */
export function receiveBytes(client: Client, topic: string, maxBytes?: number): Received[] {
  const got: Received[] = [];
  client.streamApi.registerByteStreamHandler(topic, (reader, from) => {
    const done = reader.readAll({ maxBytes }).then((chunks) => Buffer.concat(chunks));
    done.catch(() => undefined);
    got.push({ reader, from, done });
  });
  return got;
}

export interface ReceivedText {
  reader: TextStreamReader;
  from: ParticipantInfo;
  done: Promise<string>;
}

export function receiveText(client: Client, topic: string, maxBytes?: number): ReceivedText[] {
  const got: ReceivedText[] = [];
  client.streamApi.registerTextStreamHandler(topic, (reader, from) => {
    const done = reader.readAll({ maxBytes });
    done.catch(() => undefined);
    got.push({ reader, from, done });
  });
  return got;
}

/** Deterministic bytes: `length` bytes of a counter pattern seeded by `seed`. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const sha256 = (bytes: Uint8Array) => toHex(backend().hash('sha256', bytes));

export interface RawStream {
  enc: StreamEncryptor;
  streamNo: number;
  /** Sends a payload as a CHUNK frame, as is. */
  send(chunk: { data: Uint8Array; last: boolean }): void;
}

/**
 * A sender that bypasses the library's writer, to send what an honest writer never would (a header
 * over the limit, a lying size, an oversized chunk). It still seals with the room's real key and signs
 * with the client's own key. `senderId` derives the key for another member, as a room member who
 * forges a stream in that member's name would (the Bridge must then name that member as the sender).
 */
export async function rawStream(
  client: Client,
  roomId: string,
  header: Uint8Array,
  options: { destinationIdentities?: string[]; senderId?: string } = {},
): Promise<RawStream & { streamId: Uint8Array }> {
  const { epoch, key } = streamApiInternals(client.streamApi).keys.current(roomId)!;
  const streamId = backend().randomBytes(16);
  const senderId = options.senderId ?? client.connection.userId;
  const enc = createStreamEncryptor({ epochKey: key, streamId, senderId, sign: connectionInternals(client.connection).signer.sign, header });
  const destinationIdentities = options.destinationIdentities ?? [];
  const { streamNo } = await client.connection.request('byteStreamOpen', { roomId, streamId: toBase64(streamId), epoch, destinationIdentities });
  return { enc, streamNo, streamId, send: (c) => client.connection.sendFrame(encodeChunkFrame(FRAME_CHUNK_UP, streamNo, c.last, c.data)) };
}

/**
 * A valid header for `rawStream` from `client` in `roomId`: its verified room view, the time now, and
 * `fields` over the defaults (a bytes stream named x with type a/b).
 */
export async function rawHeader(client: Client, roomId: string, fields: Record<string, unknown> & { topic: string }): Promise<StreamHeader> {
  const head = (await streamApiInternals(client.streamApi).rooms.trustedHead(roomId))!;
  return {
    v: STREAM_HEADER_VERSION,
    kind: 'bytes',
    name: 'x',
    mimeType: 'a/b',
    attributes: {},
    timestamp: Date.now(),
    sender: client.connection.userId,
    roomId,
    roomVersion: head.record.version,
    headHash: toBase64(head.hash),
    ...fields,
  } as StreamHeader;
}

/** Records the Bridge's events of one type that a client gets. */
export function bridgeEvents<T extends ServerEvent['type']>(client: Client, type: T): Array<Extract<ServerEvent, { type: T }>> {
  const got: Array<Extract<ServerEvent, { type: T }>> = [];
  connectionInternals(client.connection).hooks.on('event', (e) => {
    if (e.type === type) got.push(e as Extract<ServerEvent, { type: T }>);
  });
  return got;
}
