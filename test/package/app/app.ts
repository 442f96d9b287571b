// A small app against the published types, typechecked by a strict NodeNext tsconfig with
// exactOptionalPropertyTypes and without skipLibCheck.
import { createBridge, ManageClient, type Bridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint, EndpointError } from 'sealroom/endpoint';

export async function quickStart(url?: string): Promise<string> {
  const bridge: Bridge | undefined = url === undefined ? await createBridge({ databaseFile: ':memory:', port: 0 }) : undefined;
  const base = bridge?.url ?? url ?? 'http://127.0.0.1:8080';
  const manage = bridge?.manage ?? new ManageClient(base, 'srk_example');
  const { solutionId } = await manage.createSolution('typed');
  const { contextId } = await manage.createContext(solutionId, 'team');
  const me = await generateKeyPair();
  await manage.addContextUser(contextId, 'me', me.publicKey);

  await Endpoint.setup();
  const connection = await Endpoint.connect(me.privateKey, solutionId, base);
  connection.on('reconnected', () => undefined);
  const eventApi = await Endpoint.createEventApi(connection);
  const streamApi = await Endpoint.createStreamApi(connection, eventApi);
  const self = { userId: connection.userId, pubKey: me.publicKey };
  const roomId = await streamApi.createStreamRoom(contextId, [self], [self], new Uint8Array(), new TextEncoder().encode('meta'));
  try {
    const room = await streamApi.getStreamRoom(roomId, { timeoutMs: 5_000 });
    const version: number = room.version;
    const epoch: number = room.epoch;
    const page = await streamApi.listStreamRooms(contextId, { skip: 0, limit: 10, sortOrder: 'desc' });
    return `${roomId} v${version} e${epoch} of ${page.totalAvailable}`;
  } catch (error) {
    if (error instanceof EndpointError) return `failed: ${error.reason}`;
    throw error;
  } finally {
    await connection.disconnect();
    await bridge?.close();
  }
}
