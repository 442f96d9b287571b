// Run on plain node in a folder outside the repo where the packed tarball is installed: the quick
// start through the published entry points only.
import { createBridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint } from 'sealroom/endpoint';

const text = new TextEncoder();
const bridge = await createBridge({ databaseFile: ':memory:', port: 0, logLevel: 'warn' });
try {
  const { solutionId } = await bridge.manage.createSolution('consumer');
  const { contextId } = await bridge.manage.createContext(solutionId, 'team');
  const alice = await generateKeyPair();
  const bob = await generateKeyPair();
  await bridge.manage.addContextUser(contextId, 'alice', alice.publicKey);
  await bridge.manage.addContextUser(contextId, 'bob', bob.publicKey);

  await Endpoint.setup();
  const aliceConnection = await Endpoint.connect(alice.privateKey, solutionId, bridge.url);
  const aliceStreams = await Endpoint.createStreamApi(aliceConnection, await Endpoint.createEventApi(aliceConnection));
  const bobConnection = await Endpoint.connect(bob.privateKey, solutionId, bridge.url);
  const bobStreams = await Endpoint.createStreamApi(bobConnection, await Endpoint.createEventApi(bobConnection));

  const members = [
    { userId: 'alice', pubKey: alice.publicKey },
    { userId: 'bob', pubKey: bob.publicKey },
  ];
  const roomId = await aliceStreams.createStreamRoom(
    contextId,
    members,
    [members[0]],
    text.encode('{"name":"consumer"}'),
    text.encode('hello from the tarball'),
  );
  const room = await bobStreams.getStreamRoom(roomId);
  process.stdout.write(`${JSON.stringify({ roomId, version: room.version, epoch: room.epoch, privateMeta: new TextDecoder().decode(room.privateMeta) })}\n`);

  await aliceConnection.disconnect();
  await bobConnection.disconnect();
} finally {
  await bridge.close();
}
