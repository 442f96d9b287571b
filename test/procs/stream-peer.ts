/**
 * A byte-stream peer in its own process, for tests that need real separate senders and receivers
 * (endpoint/data-streams/data-streams-processes.test.ts). It connects through the Endpoint library,
 * joins a room, and reports on stdout as JSON lines.
 *
 *   node --import tsx test/procs/stream-peer.ts '<json config>'
 *
 * Roles:
 * - `receive`: handles byte streams on `topic`; with `dir`, writes each to a file (`writeToFile`) and
 *   reports its sha256, else reads it and reports the sha256 of what it read. Errors are reported
 *   with their reason. Prints `ready` once joined. Exits after `streams` streams. With `busyMs`,
 *   the process also busy-waits that long (synchronously) every `busyEveryMs`: a reader starved of
 *   CPU by its own process (endpoint/data-streams/data-streams-starved.test.ts).
 * - `send`: sends the file at `file` (`sendFile`, a path), reports `sent`, disconnects and exits.
 * - `stream`: writes pseudo-random blocks to one stream forever, reporting `writing` after each
 *   (the test kills it mid-stream).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Endpoint } from '../../endpoint/index.ts';
import type { DataStreamError } from '../../endpoint/data-streams/errors.ts';

export interface PeerConfig {
  url: string;
  solutionId: string;
  privateKey: string;
  roomId: string;
  topic: string;
  role: 'receive' | 'send' | 'stream';
  dir?: string;
  file?: string;
  streams?: number;
  busyMs?: number;
  busyEveryMs?: number;
}

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

function failure(error: unknown): Record<string, unknown> {
  const e = error as Partial<DataStreamError>;
  return { event: 'error', reason: e.reason ?? 'unknown', code: e.code, abortReason: e.abortReason, message: e.message };
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as PeerConfig;
  const connection = await Endpoint.connect(config.privateKey, config.solutionId, config.url, { reconnect: false });
  const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
  await streamApi.joinStreamRoom(config.roomId);

  switch (config.role) {
    case 'receive': {
      if (config.busyMs !== undefined) {
        const busyMs = config.busyMs;
        setInterval(
          () => {
            for (const until = performance.now() + busyMs; performance.now() < until; );
          },
          config.busyEveryMs ?? 2 * busyMs,
        ).unref();
      }
      let left = config.streams ?? 1;
      const finished = () => {
        if (--left === 0) void connection.disconnect().then(() => process.exit(0));
      };
      streamApi.registerByteStreamHandler(config.topic, async (reader, from) => {
        say({ event: 'opened', id: reader.info.id, name: reader.info.name, size: reader.info.size, from: from.identity });
        try {
          if (config.dir !== undefined) {
            const path = await reader.writeToFile(config.dir);
            say({ event: 'received', id: reader.info.id, path, sha256: await fileSha256(path) });
          } else {
            const hash = createHash('sha256');
            let bytes = 0;
            for await (const chunk of reader) {
              hash.update(chunk);
              bytes += chunk.length;
            }
            say({ event: 'received', id: reader.info.id, bytes, sha256: hash.digest('hex') });
          }
        } catch (error) {
          say({ ...failure(error), id: reader.info.id });
        }
        finished();
      });
      say({ event: 'ready' });
      return;
    }
    case 'send': {
      let lastReported = 0;
      const started = Date.now();
      const { id } = await streamApi.sendFile(config.file!, {
        roomId: config.roomId,
        topic: config.topic,
        onProgress: (p) => {
          if (p - lastReported >= 0.25 || p === 1) say({ event: 'progress', progress: (lastReported = p) });
        },
      });
      say({ event: 'sent', id, ms: Date.now() - started });
      await connection.disconnect();
      process.exit(0);
      return;
    }
    case 'stream': {
      const writer = await streamApi.streamBytes({ roomId: config.roomId, topic: config.topic, name: 'endless.bin' });
      say({ event: 'opened', id: writer.info.id });
      for (let bytes = 0; ; ) {
        const block = new Uint8Array(randomBytes(256 * 1024));
        await writer.write(block);
        bytes += block.length;
        say({ event: 'writing', bytes });
      }
    }
    default: {
      const never: never = config.role;
      throw new Error(`unknown role ${String(never)}`);
    }
  }
}

main().catch((error: unknown) => {
  say(failure(error));
  process.exit(1);
});
