/**
 * Direct transfer: alice sends a file to bob over a direct WebRTC connection (werift in Node), and the
 * same call to carol goes over the relay because carol's app does not accept direct connections. Both
 * get the same result: the receiver's byte-stream handler, and alice's `{ id, delivered, failed }` with
 * a delivery receipt signed by the reader. The Bridge carries the signed signalling but relays none of
 * the direct stream's bytes: its own /metrics counter says so.
 *
 *   npx tsx examples/direct-transfer.ts [--mb 8]
 *
 * It starts its own throwaway Bridge in this process (SQLite in memory). Both ends run on this machine,
 * so ICE uses 127.0.0.1 only. Between real devices, give the Endpoint STUN/TURN servers instead
 * (README "Direct connections"):
 *
 *   Endpoint.createStreamApi(connection, eventApi, { peers: { iceServers: [
 *     { urls: 'stun:stun.example.org:3478' },
 *     { urls: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp'], username, credential },
 *   ] } });
 */
import { createHash } from 'node:crypto';
import { createBridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint, type StreamApi } from 'sealroom/endpoint';

const print = (line: string) => process.stdout.write(`${line}\n`);
const MiB = 1024 * 1024;

/** Direct connections on this machine only: loopback candidates, werift bound to 127.0.0.1. */
const loopbackPeers = {
  iceServers: [],
  allowCandidate: (address: string) => address.startsWith('127.'),
  node: { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } },
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

async function main(): Promise<void> {
  const at = process.argv.indexOf('--mb');
  const megabytes = at >= 0 ? Number(process.argv[at + 1]) : 8;
  const bridge = await createBridge({ databaseFile: ':memory:', port: 0, logLevel: 'warn' });
  const { solutionId } = await bridge.manage.createSolution('direct-transfer');
  const { contextId } = await bridge.manage.createContext(solutionId, 'direct-transfer');
  const names = ['alice', 'bob', 'carol'];
  const keys = await Promise.all(names.map(() => generateKeyPair()));
  for (const [i, name] of names.entries()) await bridge.manage.addContextUser(contextId, name, keys[i]!.publicKey);
  const members = names.map((userId, i) => ({ userId, pubKey: keys[i]!.publicKey }));
  const apis: StreamApi[] = [];
  for (const key of keys) {
    const connection = await Endpoint.connect(key.privateKey, solutionId, bridge.url);
    apis.push(await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection), { peers: loopbackPeers }));
  }
  const [alice, bob, carol] = apis as [StreamApi, StreamApi, StreamApi];
  const roomId = await alice.createStreamRoom(contextId, members, [members[0]!], new TextEncoder().encode('{"app":"direct"}'), new Uint8Array());
  await alice.joinStreamRoom(roomId);
  // A direct connection goes to a member's connection in the room: alice waits until she has seen both join.
  const othersJoined = new Promise<void>((resolve) => {
    const seen = new Set<string>();
    alice.eventApi.on('streamRoomJoined', (e) => {
      if (e.userId !== 'alice') seen.add(e.userId);
      if (seen.size === 2) resolve();
    });
  });
  for (const api of [bob, carol]) await api.joinStreamRoom(roomId);
  await othersJoined;
  print('1. a room of alice, bob and carol; bob accepts direct connections from members, carol does not');

  // bob's app accepts direct connections (carol registers no listener: her Endpoint declines them).
  bob.addRemotePeerListener((request) => {
    print(`   bob: ${request.id} asks for a direct connection`);
    // accept() fails if the connection ends before it is up on bob's side: alice closes the peer of
    // step 3 as soon as her side is connected, which on a busy machine can come first.
    request.accept().catch((error: unknown) => print(`   bob: ${request.id} ended before it was up (${(error as Error).message})`));
  });
  // Both read files the same way, whichever path a stream takes.
  const received: Array<Promise<string>> = [];
  for (const api of [bob, carol]) {
    api.registerByteStreamHandler('files', (reader, from) => {
      received.push(
        reader.readAll().then((chunks) => {
          const bytes = Buffer.concat(chunks);
          return `${api.connection.userId} got "${reader.info.name}" from ${from.identity}: ${bytes.length} bytes, sha256 ${sha256(bytes)}`;
        }),
      );
    });
  }

  const file = new Uint8Array(megabytes * MiB).map((_, i) => i % 251);
  const relayed = async () => {
    const text = await (await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${bridge.initialApiKey}` } })).text();
    return Number(/sealroom_relayed_bytes_total\{kind="chunk"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  print(`2. alice sends ${megabytes} MB (sha256 ${sha256(file)}) to bob, then to carol, with the same call`);
  for (const to of ['bob', 'carol']) {
    const before = await relayed();
    const started = performance.now();
    // `path` defaults to 'auto': direct if a connection is up or comes up within directTimeoutMs (2 s by
    // default; this demo waits longer for the first one, which can take seconds on a busy machine), else the relay.
    const { id, delivery } = await alice.sendFile(file, { roomId, topic: 'files', name: 'photos.zip', destinationIdentities: [to], directTimeoutMs: 15_000 });
    const { delivered, failed } = await delivery!;
    const path = alice.peerStats().streams.find((s) => s.id === id)?.path;
    print(
      `   to ${to}: path ${path}, ${((performance.now() - started) / 1000).toFixed(2)} s; delivered (signed receipt): ${delivered.map((d) => d.userId).join(', ') || '-'}; failed: ${failed.map((f) => f.reason).join(', ') || '-'}; the Bridge relayed ${(await relayed()) - before} stream bytes`,
    );
  }
  for (const line of await Promise.all(received)) print(`   ${line}`);

  // The connection is a RemotePeer too (Peerix's shape): labelled channels, progress, close.
  const peer = await alice.connectPeer(roomId, 'bob', { metadata: { why: 'notes' } });
  print(`3. alice's peer to bob: ${peer.connectionState}`);
  peer.close();

  for (const api of apis) await api.connection.disconnect();
  await bridge.close();
  print('4. done');
}

main().catch((error: unknown) => {
  process.stderr.write(`direct-transfer failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
