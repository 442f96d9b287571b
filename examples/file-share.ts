/**
 * File share: send a file from one process to another as an end-to-end encrypted byte stream, with a
 * progress bar on both sides. The Bridge relays ciphertext only; the receiver writes the file through
 * a temporary file that becomes the real one only once the sender's signature has been checked.
 *
 *   # terminal 1: sets up two users and a room, waits for one file
 *   SEALROOM_URL=http://127.0.0.1:8080 SEALROOM_API_KEY=srk_... npx tsx examples/file-share.ts receive --out ./downloads
 *   # terminal 2: reads the setup the receiver wrote, sends the file
 *   npx tsx examples/file-share.ts send ./photo.jpg
 *
 * With no SEALROOM_API_KEY the receiver starts its own throwaway Bridge in its process. The two sides
 * meet through a small state file (`--state`, default in the temp folder) holding the Bridge's URL,
 * the room, and the sender's key: a demo shortcut; real apps give each user its own key.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createBridge, ManageClient, type Bridge } from 'sealroom/bridge';
import { generateKeyPair } from 'sealroom/crypto';
import { Endpoint } from 'sealroom/endpoint';

const TOPIC = 'files';

interface State {
  url: string;
  solutionId: string;
  roomId: string;
  senderPrivateKey: string;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

/** A one-line progress bar: redrawn in place on a terminal, a line per 10% otherwise. */
function progressBar(label: string): (fraction: number | undefined, bytes: number) => void {
  const started = Date.now();
  let lastTenth = -1;
  return (fraction, bytes) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = `${(bytes / seconds / 1e6).toFixed(1)} MB/s`;
    const width = 30;
    const filled = fraction === undefined ? 0 : Math.round(fraction * width);
    const bar =
      fraction === undefined ? `${(bytes / 1e6).toFixed(1)} MB` : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(fraction * 100)}%`;
    const line = `${label} ${bar} ${rate}`;
    if (process.stdout.isTTY) {
      process.stdout.write(`\r${line}${fraction === 1 ? '\n' : ''}`);
    } else {
      const tenth = fraction === undefined ? lastTenth : Math.floor(fraction * 10);
      if (tenth !== lastTenth) print(line);
      lastTenth = tenth;
    }
  };
}

function option(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function receive(statePath: string, outDir: string): Promise<void> {
  let bridge: Bridge | undefined;
  let url = process.env.SEALROOM_URL ?? 'http://127.0.0.1:8080';
  let manage: ManageClient;
  if (process.env.SEALROOM_API_KEY !== undefined) {
    manage = new ManageClient(url, process.env.SEALROOM_API_KEY);
  } else {
    bridge = await createBridge({ databaseFile: ':memory:', port: 0, logLevel: 'warn' });
    url = bridge.url;
    manage = bridge.manage;
    print(`no SEALROOM_API_KEY: started a throwaway Bridge on ${url}`);
  }
  const { solutionId } = await manage.createSolution('file-share');
  const { contextId } = await manage.createContext(solutionId, 'file-share');
  const me = await generateKeyPair();
  const sender = await generateKeyPair();
  await manage.addContextUser(contextId, 'receiver', me.publicKey);
  await manage.addContextUser(contextId, 'sender', sender.publicKey);

  const connection = await Endpoint.connect(me.privateKey, solutionId, url);
  const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
  const members = [
    { userId: 'receiver', pubKey: me.publicKey },
    { userId: 'sender', pubKey: sender.publicKey },
  ];
  const roomId = await streamApi.createStreamRoom(contextId, members, [members[0]!], new TextEncoder().encode('{"app":"file-share"}'), new Uint8Array());
  await streamApi.joinStreamRoom(roomId);

  const saved = new Promise<string>((resolveSaved, reject) => {
    streamApi.registerByteStreamHandler(TOPIC, (reader, { identity }) => {
      print(`receiving "${reader.info.name}" (${reader.info.size ?? '?'} bytes, ${reader.info.mimeType}) from ${identity}`);
      const bar = progressBar('received');
      let bytes = 0;
      const size = reader.info.size;
      reader.onProgress = (fraction) => {
        bytes = fraction === undefined || size === undefined ? bytes : Math.round(fraction * size);
        bar(fraction, bytes);
      };
      reader.writeToFile(outDir).then(resolveSaved, reject);
    });
  });
  const state: State = { url, solutionId, roomId, senderPrivateKey: sender.privateKey };
  writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
  print(`waiting for a file; in another terminal: npx tsx examples/file-share.ts send <file> --state ${statePath}`);

  try {
    const path = await saved;
    print(`saved ${path} (sha256 ${await sha256(path)})`);
  } finally {
    await connection.disconnect();
    await bridge?.close();
  }
}

async function send(statePath: string, file: string): Promise<void> {
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as State;
  const connection = await Endpoint.connect(state.senderPrivateKey, state.solutionId, state.url);
  const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
  await streamApi.joinStreamRoom(state.roomId);
  const bar = progressBar('sent');
  const size = statSync(file).size;
  try {
    const { id } = await streamApi.sendFile(resolve(file), {
      roomId: state.roomId,
      topic: TOPIC,
      onProgress: (fraction) => bar(fraction, Math.round(fraction * size)),
    });
    print(`sent ${basename(file)} as stream ${id} (sha256 ${await sha256(file)})`);
  } finally {
    await connection.disconnect();
  }
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const statePath = resolve(option(args, '--state', join(tmpdir(), 'sealroom-file-share.json')));
  if (mode === 'receive') return receive(statePath, resolve(option(args, '--out', '.')));
  if (mode === 'send' && args[0] !== undefined && !args[0].startsWith('--')) return send(statePath, args[0]);
  process.stderr.write('usage: file-share.ts receive [--out DIR] [--state FILE] | send <file> [--state FILE]\n');
  process.exitCode = 2;
}

main().catch((error: unknown) => {
  process.stderr.write(`file-share failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
