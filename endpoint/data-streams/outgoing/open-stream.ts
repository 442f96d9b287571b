/**
 * Opening a stream: check the options once (the API boundary), pick the room's newest key, build and
 * seal the header (chunk 0), then open it on the Bridge (outgoing-stream.ts).
 */
import { backend } from '../../../crypto/backend/index.ts';
import { toBase64 } from '../../../crypto/bytes.ts';
import { ROOM_ID_PATTERN, USER_ID_PATTERN } from '../../../protocol/room-record.ts';
import type { Connection } from '../../connection.ts';
import { connectionInternals } from '../../internal.ts';
import { DataStreamError } from '../errors.ts';
import { encodeHeader, sendOptionsSchema, STREAM_HEADER_VERSION, type StreamHeader, type StreamKind } from '../header.ts';
import { streamIdToUrl } from '../ids.ts';
import { createStreamEncryptor, STREAM_ID_BYTES } from '../stream-crypto.ts';
import type { BaseStreamInfo } from '../types.ts';
import type { NewestKeys } from './newest-key.ts';
import { OutgoingStream, type OutgoingDeps } from './outgoing-stream.ts';

/** Destination identities per stream at most (the Bridge's limit). */
const DESTINATIONS_MAX = 4096;

export interface OpenDeps extends OutgoingDeps {
  connection: Connection;
  keys: NewestKeys;
  /** Track the stream from before its open request, so leaving the room fails it even then. */
  track(stream: OutgoingStream): void;
}

export interface OpenOptions {
  roomId: string;
  topic: string;
  name?: string;
  mimeType: string;
  totalSize?: number;
  attributes?: Record<string, string>;
  destinationIdentities?: string[];
}

export interface Opened {
  stream: OutgoingStream;
  info: BaseStreamInfo & { name?: string };
}

export async function openStream(d: OpenDeps, kind: StreamKind, options: OpenOptions): Promise<Opened> {
  if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
  if (typeof options.roomId !== 'string' || !ROOM_ID_PATTERN.test(options.roomId)) {
    throw DataStreamError.invalidArgument(`"roomId" is not a valid room id: "${String(options.roomId).slice(0, 80)}"`);
  }
  const parsed = sendOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw DataStreamError.invalidArgument(`"${issue.path.join('.')}": ${issue.message}`);
  }
  const destinations = checkDestinations(options.destinationIdentities);
  const { roomId } = options;
  const { epoch, key } = await d.keys.current(roomId);
  const b = backend();
  const streamId = b.randomBytes(STREAM_ID_BYTES);
  const attributes = { ...parsed.data.attributes };
  const size = parsed.data.totalSize;
  const common: Omit<Extract<StreamHeader, { kind: 'text' }>, 'kind'> = {
    v: STREAM_HEADER_VERSION,
    topic: options.topic,
    mimeType: options.mimeType,
    ...(size === undefined ? {} : { size }),
    attributes,
    timestamp: Date.now(),
    sender: d.connection.userId,
  };
  const header: StreamHeader = kind === 'bytes' ? { kind, name: options.name ?? '', ...common } : { kind, ...common };
  const { signer } = connectionInternals(d.connection);
  const enc = createStreamEncryptor({ epochKey: key, streamId, senderId: d.connection.userId, sign: (message) => signer.sign(message), header: encodeHeader(header) });
  const sealedHeader = await enc.header();
  const stream = new OutgoingStream(roomId, kind, enc, size, d);
  d.track(stream);
  await stream.open({ roomId, streamId: toBase64(streamId), epoch, destinationIdentities: destinations }, sealedHeader);
  const { v: _v, kind: _k, sender: _s, ...rest } = header;
  return { stream, info: { id: streamIdToUrl(streamId), ...rest } };
}

function checkDestinations(list: unknown): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.length > DESTINATIONS_MAX) {
    throw DataStreamError.invalidArgument(`"destinationIdentities" expected an array of at most ${DESTINATIONS_MAX} user ids`);
  }
  for (const [i, id] of list.entries()) {
    if (typeof id !== 'string' || !USER_ID_PATTERN.test(id)) throw DataStreamError.invalidArgument(`"destinationIdentities[${i}]" is not a valid user id`);
  }
  return [...new Set(list as string[])];
}
