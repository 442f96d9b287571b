/**
 * Opening a stream: check the options once (the API boundary), pick the room's newest key and verified
 * head, build the header, sign and seal it (chunk 0), then open it on the Bridge (outgoing-stream.ts).
 *
 * A stream with `destinationIdentities` is private: its key is random and wrapped to those users' keys
 * in the verified room record (crypto/stream/keying.ts), so no other member can read it, whoever the
 * Bridge delivers it to. Without destinations, the key derives from the room's epoch key.
 */
import { backend } from '../../../crypto/backend/index.ts';
import { toBase64 } from '../../../crypto/bytes.ts';
import { decodePublicKey } from '../../../crypto/identity.ts';
import { membersOf, type VerifiedVersion } from '../../../protocol/room-chain.ts';
import { ROOM_ID_PATTERN, USER_ID_PATTERN } from '../../../protocol/room-record.ts';
import { CHUNK_HEADER_BYTES } from '../../../protocol/ws.ts';
import type { Connection } from '../../connection.ts';
import { connectionInternals } from '../../internal.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import { DataStreamError } from '../errors.ts';
import { encodeHeader, sendOptionsSchema, STREAM_HEADER_VERSION, type StreamHeader, type StreamKind } from '../header.ts';
import { streamIdToUrl } from '../ids.ts';
import { DESTINATIONS_MAX } from '../limits.ts';
import { createStreamEncryptor, STREAM_ID_BYTES, type StreamRecipients } from '../stream-crypto.ts';
import type { BaseStreamInfo, ChatFields } from '../types.ts';
import type { NewestKeys } from './newest-key.ts';
import { OutgoingStream, type OutgoingDeps } from './outgoing-stream.ts';
import { streamBackend } from '../../util/realtime-presence.ts';

export interface OpenDeps extends OutgoingDeps {
  connection: Connection;
  keys: NewestKeys;
  rooms: RoomApi;
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
  /** Ask receivers for delivery receipts (header.ts `receipts`). */
  receipts?: boolean;
  replyToStreamId?: string;
  attachedStreamIds?: string[];
  operationType?: 'create' | 'update' | 'delete' | 'reaction';
  version?: number;
}

export interface Opened {
  stream: OutgoingStream;
  info: BaseStreamInfo & ChatFields & { name?: string };
  /** The 16-byte stream id. */
  streamId: Uint8Array;
  /** Who the stream is for: the destinations, else the verified room's members but the sender. */
  intended: string[];
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
  // The head the key came from (current() verified the room): its version and hash go into the header.
  const head = await verifiedHead(d.rooms, roomId);
  const recipients = destinations.length === 0 ? undefined : await recipientKeys(d.rooms, roomId, head, destinations);
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
    roomId,
    roomVersion: head.record.version,
    headHash: toBase64(head.hash),
    ...(options.receipts === true ? { receipts: true as const } : {}),
  };
  const header: StreamHeader = kind === 'bytes' ? { kind, name: options.name ?? '', ...common } : { kind, ...common, ...chatFieldsOf(parsed.data) };
  const { signer } = connectionInternals(d.connection);
  const sign = (message: Uint8Array) => signer.sign(message);
  // Room for the CHUNK frame header before every sealed chunk: the frame is sent without another copy.
  // Sealed on the bulk thread while this process carries real-time tracks (docs/operations/realtime-priorities.md).
  const threaded = streamBackend();
  const keyless = {
    streamId,
    senderId: d.connection.userId,
    sign,
    header: encodeHeader(header),
    frameHeaderBytes: CHUNK_HEADER_BYTES,
    ...(threaded ? { backend: threaded } : {}),
  };
  let enc: ReturnType<typeof createStreamEncryptor>;
  try {
    enc = createStreamEncryptor(recipients === undefined ? { ...keyless, epochKey: key } : { ...keyless, recipients });
  } finally {
    key.fill(0); // this call's copy (NewestKey.current): the encryptor derived its own keys from it
  }
  const sealedHeader = await enc.header();
  const stream = new OutgoingStream(roomId, kind, enc, size, d);
  d.track(stream);
  await stream.open({ roomId, streamId: toBase64(streamId), epoch, destinationIdentities: destinations }, sealedHeader);
  const { v: _v, kind: _k, sender: _s, roomId: _r, roomVersion: _rv, headHash: _h, receipts: _rc, ...rest } = header;
  const intended = destinations.length > 0 ? destinations : [...membersOf(head.record).keys()].filter((id) => id !== d.connection.userId);
  return { stream, info: { id: streamIdToUrl(streamId), ...rest }, streamId, intended };
}

/** The chat fields that were given, and no empty keys (the header leaves unused keys out). */
function chatFieldsOf(o: ChatFields): ChatFields {
  const out: ChatFields = {};
  if (o.replyToStreamId !== undefined) out.replyToStreamId = o.replyToStreamId;
  if (o.attachedStreamIds !== undefined) out.attachedStreamIds = [...o.attachedStreamIds];
  if (o.operationType !== undefined) out.operationType = o.operationType;
  if (o.version !== undefined) out.version = o.version;
  return out;
}

async function verifiedHead(rooms: RoomApi, roomId: string): Promise<VerifiedVersion> {
  const head = await rooms.trustedHead(roomId);
  if (head === undefined) throw new DataStreamError('KeyUnavailable', `room "${roomId}": not verified`);
  return head;
}

/**
 * The destinations' keys, from the verified room record (read again once when one is missing: it may
 * have joined since). A destination that is not a member is refused: nobody else could read for it.
 */
async function recipientKeys(rooms: RoomApi, roomId: string, head: VerifiedVersion, destinations: string[]): Promise<StreamRecipients> {
  let members = membersOf(head.record);
  if (destinations.some((id) => !members.has(id))) {
    await rooms.getStreamRoom(roomId).catch(() => undefined);
    members = membersOf((await verifiedHead(rooms, roomId)).record);
  }
  const list = destinations.map((recipientId, i) => {
    const publicKey = members.get(recipientId);
    if (publicKey === undefined) throw DataStreamError.invalidArgument(`"destinationIdentities[${i}]": "${recipientId}" is not a member of room "${roomId}"`);
    return { recipientId, recipientPublicKey: decodePublicKey(publicKey) };
  });
  return { roomId, list };
}

/** Destinations as given, each once; at most `DESTINATIONS_MAX` (each gets a wrap of the stream key). */
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
