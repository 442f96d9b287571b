/**
 * Quick start: against a running Bridge, create a context and two users through the management API,
 * have Alice create a room with Bob, have Bob read the private meta, rotate the key, and print each step.
 *
 *   make run                                   # in one terminal: prints SEALROOM_API_KEY once
 *   SEALROOM_URL=http://127.0.0.1:8080 SEALROOM_API_KEY=srk_... npx tsx examples/quickstart.ts
 *
 * With no SEALROOM_API_KEY it starts its own throwaway Bridge in this process instead.
 */
import { createBridge, ManageClient, type Bridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint } from 'sealroom/endpoint';

const text = new TextEncoder();
const read = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const step = (n: number, message: string) => process.stdout.write(`${n}. ${message}\n`);

async function main(): Promise<void> {
  let bridge: Bridge | undefined;
  let url = process.env.SEALROOM_URL ?? 'http://127.0.0.1:8080';
  let manage: ManageClient;
  if (process.env.SEALROOM_API_KEY !== undefined) {
    manage = new ManageClient(url, process.env.SEALROOM_API_KEY);
  } else {
    bridge = await createBridge({ databaseFile: ':memory:', port: 0, logLevel: 'warn' });
    url = bridge.url;
    manage = bridge.manage;
    step(0, `no SEALROOM_API_KEY: started a throwaway Bridge on ${url}`);
  }

  const { solutionId } = await manage.createSolution('quickstart');
  const { contextId } = await manage.createContext(solutionId, 'team');
  const alice = await generateKeyPair();
  const bob = await generateKeyPair();
  await manage.addContextUser(contextId, 'alice', alice.publicKey);
  await manage.addContextUser(contextId, 'bob', bob.publicKey);
  step(1, `operator created solution ${solutionId}, context ${contextId}, users alice and bob`);

  await Endpoint.setup();
  const aliceConnection = await Endpoint.connect(alice.privateKey, solutionId, url);
  const aliceStreams = await Endpoint.createStreamApi(aliceConnection, await Endpoint.createEventApi(aliceConnection));
  const bobConnection = await Endpoint.connect(bob.privateKey, solutionId, url);
  const bobEvents = await Endpoint.createEventApi(bobConnection);
  const bobStreams = await Endpoint.createStreamApi(bobConnection, bobEvents);
  step(2, 'alice and bob connected (challenge-response login with their Ed25519 keys)');

  const members = [
    { userId: 'alice', pubKey: alice.publicKey },
    { userId: 'bob', pubKey: bob.publicKey },
  ];
  const roomId = await aliceStreams.createStreamRoom(
    contextId,
    members,
    [members[0]!],
    text.encode('{"name":"design review"}'),
    text.encode('agenda: ship v1'),
  );
  step(3, `alice created room ${roomId}: epoch-1 key wrapped for both, private meta sealed, version 1 signed`);

  const asBob = await bobStreams.getStreamRoom(roomId);
  step(4, `bob read and verified it: version ${asBob.version}, epoch ${asBob.epoch}, private meta "${read(asBob.privateMeta)}"`);

  await bobEvents.subscribeFor([bobEvents.buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', roomId)]);
  const updated = new Promise<void>((resolve) =>
    bobEvents.on('streamRoomUpdated', (event) => {
      step(6, `bob got streamRoomUpdated: version ${event.version}, epoch ${event.epoch}, meta "${event.room ? read(event.room.privateMeta) : '?'}"`);
      resolve();
    }),
  );
  await aliceStreams.updateStreamRoom(roomId, members, [members[0]!], asBob.publicMeta, text.encode('agenda: ship v1, then v2'), asBob.version, false, true);
  step(5, 'alice rotated the key (forceGenerateNewKey): a new epoch, wrapped for both members');
  await updated;

  await aliceConnection.disconnect();
  await bobConnection.disconnect();
  await bridge?.close();
  step(7, 'done');
}

main().catch((error: unknown) => {
  process.stderr.write(`quickstart failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
