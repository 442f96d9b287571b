// An Endpoint-only app (a browser app or a bot) against the published types: strict, NodeNext,
// exactOptionalPropertyTypes, no skipLibCheck, and no @types packages at all.
import { generateKeyPair, publicKeyOf } from 'sealroom/crypto';
import { Endpoint, EndpointError } from 'sealroom/endpoint';

export async function openRoom(bridgeUrl: string, solutionId: string, contextId: string): Promise<string> {
  const me = await generateKeyPair();
  const pubKey: string = await publicKeyOf(me.privateKey);
  await Endpoint.setup();
  const connection = await Endpoint.connect(me.privateKey, solutionId, bridgeUrl, { requestTimeoutMs: 5_000 });
  connection.on('reconnecting', () => undefined);
  const eventApi = await Endpoint.createEventApi(connection);
  const streamApi = await Endpoint.createStreamApi(connection, eventApi);
  const self = { userId: connection.userId, pubKey };
  try {
    const roomId = await streamApi.createStreamRoom(contextId, [self], [self], new Uint8Array(), new TextEncoder().encode('meta'));
    const room = await streamApi.getStreamRoom(roomId, { timeoutMs: 5_000 });
    const page = await streamApi.listStreamRooms(contextId, { skip: 0, limit: 10, sortOrder: 'desc' });
    return `${roomId} v${room.version} e${room.epoch} of ${page.totalAvailable}`;
  } catch (error) {
    if (error instanceof EndpointError) return `failed: ${error.reason}`;
    throw error;
  } finally {
    await connection.disconnect();
  }
}
