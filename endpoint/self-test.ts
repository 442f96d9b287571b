/**
 * Run by `Endpoint.setup()`: one throwaway room version built, signed and verified, its key proved and
 * unwrapped, its private meta sealed and opened, and the main wire messages parsed. It fails setup at
 * once if this runtime's crypto is broken, and it takes the first-use costs (zod compiling its schemas,
 * OpenSSL's first cipher and key set-up, the first signature) out of the first connection: measured on
 * the time to first byte of a fresh process.
 */
import { backend } from '../crypto/backend/index.ts';
import { fromBase64, toBase64 } from '../crypto/bytes.ts';
import { decodePrivateKey, generateKeyPair, sign } from '../crypto/identity.ts';
import { buildKeySet, verifyInclusion } from '../crypto/key-set.ts';
import { decodeWrappedKey, unwrapEpochKey } from '../crypto/key-wrap.ts';
import { contextUsersResponseSchema, listRoomsResponseSchema, roomResponseSchema, sessionResponseSchema } from '../protocol/api.ts';
import { DEFAULT_POLICY } from '../protocol/policy.ts';
import { verifyGenesis } from '../protocol/room-chain.ts';
import { serverMessageSchema } from '../protocol/ws.ts';
import { EndpointError } from './errors.ts';
import { openPrivateMeta, sealPrivateMeta } from './rooms/meta.ts';
import { buildGenesis } from './rooms/record-builder.ts';

const ROOM_ID = 'selftest00000000000000';

export async function selfTest(): Promise<void> {
  try {
    const pair = await generateKeyPair();
    const seed = decodePrivateKey(pair.privateKey);
    const author = { userId: 'self', publicKey: pair.publicKey, sign: (message: Uint8Array) => sign(seed, message) };
    const meta = backend().randomBytes(16);
    const built = await buildGenesis(
      { roomId: ROOM_ID, contextId: 'self' },
      {
        users: [{ userId: 'self', publicKey: pair.publicKey }],
        managers: [{ userId: 'self', publicKey: pair.publicKey }],
        policy: { ...DEFAULT_POLICY },
        publicMeta: new Uint8Array(),
        sealPrivateMeta: (binding) => sealPrivateMeta(binding, meta),
      },
      author,
    );
    const verified = await verifyGenesis(built.request);
    const upload = built.request.keys[0]!;
    const wrapped = fromBase64(upload.wrapped);
    const entry = { roomId: ROOM_ID, epoch: 1, recipientId: 'self', wrapped };
    const { entries } = buildKeySet([entry]);
    const proof = entries[0]!.proof;
    if (!verifyInclusion(entry, proof, fromBase64(verified.record.keySetRoot))) throw new Error('key-set proof');
    const epochKey = await unwrapEpochKey({ wrapped: decodeWrappedKey(wrapped), roomId: ROOM_ID, epoch: 1, recipientId: 'self', recipientSeed: seed });
    const opened = await openPrivateMeta({ roomId: ROOM_ID, version: 1, epoch: 1, epochKey }, fromBase64(verified.record.privateMeta));
    if (toBase64(opened) !== toBase64(meta)) throw new Error('meta round trip');

    const room = {
      roomId: ROOM_ID,
      contextId: 'self',
      version: 1,
      epoch: 1,
      records: [{ version: 1, record: built.request.record, signature: built.request.signature }],
      hasMore: false,
      keys: [{ epoch: 1, version: 1, wrapped: upload.wrapped, leafIndex: 0, treeSize: 1, proof: [] }],
    };
    roomResponseSchema.parse(room);
    listRoomsResponseSchema.parse({ totalAvailable: 1, readItems: [room] });
    contextUsersResponseSchema.parse({ users: [{ userId: 'self', publicKey: pair.publicKey }], formerUsers: [] });
    sessionResponseSchema.parse({ token: 'srt_x', expiresAt: 1, userId: 'self', solutionId: 'self', contextIds: ['self'] });
    serverMessageSchema.parse({ kind: 'result', id: 1, result: {} });
    serverMessageSchema.parse({
      kind: 'event',
      event: { type: 'streamRoomUpdated', roomId: ROOM_ID, contextId: 'self', version: 2, epoch: 2, subscriptionIds: [] },
    });
  } catch (cause) {
    throw new EndpointError('Unsupported', `Endpoint.setup(): the crypto self-test failed in this runtime (${(cause as Error).message})`, { cause });
  }
}
