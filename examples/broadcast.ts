/**
 * Broadcast: alice pipes a ReadableStream to everyone in a room as one end-to-end encrypted byte
 * stream (a standard WritableStream, PeerPigeon's shape), then sends a file with `send()` and watches
 * its progress (Peerix's shape). Each receiver that read the whole stream and checked alice's
 * signature sends a delivery receipt signed with its own key; alice learns who proved delivery and why
 * the others did not (dave is a member who never connects). The Bridge relays ciphertext and receipts
 * and can forge neither.
 *
 *   npx tsx examples/broadcast.ts [--mb 20]
 *
 * It starts its own throwaway Bridge in this process (SQLite in memory) and connects four users to it.
 */
import { createHash } from 'node:crypto';
import { createBridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint, type StreamApi } from 'sealroom/endpoint';

const print = (line: string) => process.stdout.write(`${line}\n`);
const MiB = 1024 * 1024;

/** A ReadableStream of `total` bytes made on demand (pull-based), and the SHA-256 of what it made. */
function generated(total: number): { stream: ReadableStream<Uint8Array>; sha256: () => string } {
  const hash = createHash('sha256');
  let made = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (made >= total) return controller.close();
        const chunk = new Uint8Array(Math.min(MiB, total - made)).map((_, i) => (made + i) % 251);
        hash.update(chunk);
        made += chunk.length;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, sha256: () => hash.digest('hex') };
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--mb');
  const megabytes = at >= 0 ? Number(process.argv[at + 1]) : 20;
  const bridge = await createBridge({ databaseFile: ':memory:', port: 0, logLevel: 'warn' });
  const { solutionId } = await bridge.manage.createSolution('broadcast');
  const { contextId } = await bridge.manage.createContext(solutionId, 'broadcast');
  const names = ['alice', 'bob', 'carol', 'dave'];
  const keys = await Promise.all(names.map(() => generateKeyPair()));
  for (const [i, name] of names.entries()) await bridge.manage.addContextUser(contextId, name, keys[i]!.publicKey);
  const members = names.map((userId, i) => ({ userId, pubKey: keys[i]!.publicKey }));

  // alice, bob and carol connect; dave stays offline.
  const apis: StreamApi[] = [];
  for (const i of [0, 1, 2]) {
    const connection = await Endpoint.connect(keys[i]!.privateKey, solutionId, bridge.url);
    apis.push(await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection)));
  }
  const [alice, ...receivers] = apis as [StreamApi, StreamApi, StreamApi];
  const roomId = await alice.createStreamRoom(contextId, members, [members[0]!], new TextEncoder().encode('{"app":"broadcast"}'), new Uint8Array());
  for (const api of apis) await api.joinStreamRoom(roomId);
  print(`1. a room of ${names.join(', ')}; dave is offline`);

  // Receivers: each stream on 'media' arrives as a pull-based ReadableStream.
  const hashes: Array<Promise<string>> = [];
  for (const api of receivers) {
    api.receiveBroadcasts('media');
    api.onBroadcastEvent('streamReceived', (e) => {
      hashes.push(
        (async () => {
          const hash = createHash('sha256');
          const reader = e.stream.getReader();
          for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
          return `${api.connection.userId} got "${e.metadata.name}" from ${e.peerId}: sha256 ${hash.digest('hex').slice(0, 16)}`;
        })(),
      );
    });
  }

  // alice: pipeTo into a WritableStream that follows the slowest receiver.
  const source = generated(megabytes * MiB);
  const started = performance.now();
  const done = new Promise<void>((resolve) =>
    alice.onBroadcastEvent('broadcastStreamComplete', (e) => {
      print(`3. alice: ${e.totalBytes} bytes in ${e.totalChunks} writes, ${((performance.now() - started) / 1000).toFixed(1)} s`);
      print(`   delivered (signed receipts): ${e.delivered!.map((d) => d.userId).join(', ')}`);
      print(`   failed: ${e.failed!.map((f) => `${f.userId} (${f.reason})`).join(', ')}`);
      resolve();
    }),
  );
  await source.stream.pipeTo(alice.createBroadcastStream(roomId, { topic: 'media', name: 'talk.webm', totalSize: megabytes * MiB }));
  print(`2. alice sent ${megabytes} MB (sha256 ${source.sha256().slice(0, 16)})`);
  await done;
  for (const line of await Promise.all(hashes)) print(`   ${line}`);

  // send(): a progress ReadableStream that is also awaitable.
  for (const api of receivers) api.registerByteStreamHandler('files', (reader) => void reader.readAll());
  const transfer = alice.send(new Uint8Array(3 * MiB).fill(7), { roomId, topic: 'files', name: 'notes.bin', info: { album: 'trip' } });
  let steps = 0;
  for await (const step of transfer) {
    steps++;
    if (step.done) print(`4. send(): ${steps} progress steps, ${step.current} of ${step.total} bytes`);
  }
  const { delivered, failed } = await transfer;
  print(`   delivered: ${delivered.map((d) => d.userId).join(', ')}; failed: ${failed.map((f) => `${f.userId} (${f.reason})`).join(', ')}`);

  for (const api of apis) await api.connection.disconnect();
  await bridge.close();
  print('5. done');
}

main().catch((error: unknown) => {
  process.stderr.write(`broadcast failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
