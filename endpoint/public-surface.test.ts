/**
 * What apps can touch (STYLE.md rule 11): the Connection, EventApi and StreamApi an app gets carry only
 * the documented API. The private key's seed, the socket hooks, the REST client, `emit`, the room-event
 * transformer (which could replace the verification of room events) and StreamApi's parts are neither
 * properties at runtime (own, inherited, string- or symbol-keyed) nor members of the types: each
 * `@ts-expect-error` below fails `tsc --noEmit` if its member comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type Client } from '../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../test/harness.ts';
import { decodePublicKey, verify } from '../crypto/identity.ts';
import { MemoryTrustStore, StreamApi } from './index.ts';
import { connectionInternals } from './internal.ts';

const CONNECTION_API = [
  'bridgeUrl',
  'bridgeUrls',
  'solutionId',
  'publicKey',
  'log',
  'userId',
  'connectionId',
  'contextIds',
  'state',
  'on',
  'getContextUsers',
  'listContextUsers',
  'request',
  'notify',
  'sendFrame',
  'bufferedAmount',
  'priorityBufferedAmount',
  'drained',
  'disconnect',
];
const EVENT_API = ['connection', 'buildSubscriptionQuery', 'subscribeFor', 'unsubscribeFrom', 'on', 'stats'];
const STREAM_API = [
  'connection',
  'eventApi',
  'createStreamRoom',
  'getStreamRoom',
  'listStreamRooms',
  'updateStreamRoom',
  'deleteStreamRoom',
  'safetyNumber',
  'verifyUser',
  'acceptKeyChange',
  'joinStreamRoom',
  'leaveStreamRoom',
  'createStream',
  'addStreamTrack',
  'removeStreamTrack',
  'publishStream',
  'updateStream',
  'unpublishStream',
  'listStreams',
  'subscribeToRemoteStreams',
  'modifyRemoteStreamsSubscriptions',
  'unsubscribeFromRemoteStreams',
  'addRemoteStreamListener',
  'sendData',
  'dataTrackStats',
  'mediaStats',
  'addAudioLevelStatsListener',
  'dataStreamStats',
  'sendFile',
  'streamBytes',
  'sendText',
  'streamText',
  'registerByteStreamHandler',
  'unregisterByteStreamHandler',
  'registerTextStreamHandler',
  'unregisterTextStreamHandler',
  'createBroadcastStream',
  'broadcastStream',
  'broadcastFile',
  'broadcastBlob',
  'receiveBroadcasts',
  'onBroadcastEvent',
  'send',
  'connectPeer',
  'addRemotePeerListener',
  'peerStats',
];

/** Every property key reachable on `object`: its own and its prototypes', enumerable or not, symbols too. */
function reachable(object: object): string[] {
  const names = new Set<string>();
  for (let p: object | null = object; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const key of Reflect.ownKeys(p)) if (key !== 'constructor') names.add(String(key));
  }
  return [...names].sort();
}

let t: TestBridge;
let tenant: Tenant;
let alice: Client;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  alice = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!);
});
afterAll(async () => {
  await alice?.connection.disconnect();
  await t?.close();
});

describe('the objects an app gets', () => {
  it('reach only the documented API at runtime', () => {
    const undocumented = (object: object, api: string[]) => reachable(object).filter((name) => !api.includes(name));
    expect(undocumented(alice.connection, CONNECTION_API)).toEqual([]);
    expect(undocumented(alice.eventApi, EVENT_API)).toEqual([]);
    expect(undocumented(alice.streamApi, STREAM_API)).toEqual([]);
    expect(reachable(alice.connection)).toContain('disconnect'); // the walk does see the prototype
  });

  it('do not hand out the seed, the hooks, the REST client, emit, the transformer or the parts', () => {
    const { connection, eventApi, streamApi } = alice;
    for (const name of ['signingSeed', 'seed', 'hooks', 'http', 'token']) expect(name in connection).toBe(false);
    for (const name of ['emit', 'setRoomEventTransformer', 'transformer']) expect(name in eventApi).toBe(false);
    for (const name of ['rooms', 'keys', 'realtime', 'dataStreams']) expect(name in streamApi).toBe(false);
    // Nothing of 32 bytes (a seed) hangs off the connection under any key.
    const values = Reflect.ownKeys(connection).map((key) => (connection as unknown as Record<PropertyKey, unknown>)[key]);
    expect(values.filter((v) => v instanceof Uint8Array)).toEqual([]);
  });

  it('let no second StreamApi take over the verification of room events', () => {
    expect(() => new StreamApi(alice.connection, alice.eventApi, { trustStore: new MemoryTrustStore() })).toThrow('"eventApi" already has a StreamApi');
  });

  it('have types without them', () => {
    const { connection, eventApi, streamApi } = alice;
    // @ts-expect-error the private key's seed is not part of the API
    expect(connection.signingSeed).toBeUndefined();
    // @ts-expect-error internal socket hooks
    expect(connection.hooks).toBeUndefined();
    // @ts-expect-error the internal REST client
    expect(connection.http).toBeUndefined();
    // @ts-expect-error apps cannot emit events
    expect(eventApi.emit).toBeUndefined();
    // @ts-expect-error apps cannot replace the verification of room events
    expect(eventApi.setRoomEventTransformer).toBeUndefined();
    // @ts-expect-error StreamApi's parts
    expect(streamApi.rooms).toBeUndefined();
    // @ts-expect-error StreamApi's parts
    expect(streamApi.keys).toBeUndefined();
    // @ts-expect-error StreamApi's parts
    expect(streamApi.realtime).toBeUndefined();
    // @ts-expect-error StreamApi's parts
    expect(streamApi.dataStreams).toBeUndefined();
  });
});

describe('the private key inside the library', () => {
  it('signs through the connection, which refuses once disconnected (its seed wiped)', async () => {
    const bob = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    const { signer } = connectionInternals(bob.connection);
    const message = new TextEncoder().encode('hello');
    expect(await verify(await signer.sign(message), message, decodePublicKey(bob.user.publicKey))).toBe(true);
    await bob.connection.disconnect();
    await expect(signer.sign(message)).rejects.toMatchObject({ reason: 'ConnectionLost' });
  });
});
