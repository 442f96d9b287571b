/**
 * Time to first byte, measured from a fresh process: the modules are loaded (and, for sealroom, the
 * crypto backend set up by `Endpoint.setup()`) before `ready`, then each `run` times, on the shared
 * monotonic clock:
 *
 * - sealroom: `Endpoint.connect` (challenge, signed login, session, WebSocket, hello), the event and
 *   stream APIs, `joinStreamRoom` (event subscription, room fetched and verified, key unwrapped, join),
 *   `subscribeToRemoteStreams`, and the first `onRemoteData` (decrypted) of a publisher that is
 *   already streaming;
 * - socket.io: connect (websocket transport), `join` with its ack, the first `m` message.
 */
import { nowMs } from '../lib/clock.ts';
import type { BenchUser } from '../lib/tenant.ts';
import { serve, workerArgs } from '../lib/worker.ts';

export interface SealroomProbe {
  url: string;
  solutionId: string;
  user: BenchUser;
  roomId: string;
  streamId: string;
}

export interface TtfbPhases {
  /** ms from start to: connected (logged in, socket up) / joined / subscribed / first message. */
  connect: number;
  join: number;
  subscribe: number;
  first: number;
}

const FIRST_MESSAGE_TIMEOUT_MS = 10_000;

const { mode } = workerArgs<{ mode: 'sealroom' | 'socketio' }>();

function timeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} after ${FIRST_MESSAGE_TIMEOUT_MS} ms`)), FIRST_MESSAGE_TIMEOUT_MS)),
    ),
  ]).finally(() => clearTimeout(timer));
}

if (mode === 'sealroom') {
  const { Endpoint } = await import('../../endpoint/index.ts');
  await Endpoint.setup();
  serve({
    async run(p: SealroomProbe): Promise<TtfbPhases> {
      const t0 = nowMs();
      const connection = await Endpoint.connect(p.user.privateKey, p.solutionId, p.url, { reconnect: false });
      const eventApi = await Endpoint.createEventApi(connection);
      const streamApi = await Endpoint.createStreamApi(connection, eventApi);
      const connected = nowMs();
      await streamApi.joinStreamRoom(p.roomId);
      const joined = nowMs();
      let resolveFirst!: (at: number) => void;
      const first = new Promise<number>((resolve) => (resolveFirst = resolve));
      const stop = streamApi.addRemoteStreamListener({ streamRoomId: p.roomId, streamId: p.streamId, onRemoteData: () => resolveFirst(nowMs()) });
      await streamApi.subscribeToRemoteStreams(p.roomId, [{ streamId: p.streamId }]);
      const subscribed = nowMs();
      try {
        const at = await timeout(first, 'data-track message');
        return { connect: connected - t0, join: joined - t0, subscribe: subscribed - t0, first: at - t0 };
      } finally {
        stop();
        await connection.disconnect();
      }
    },
  });
} else {
  const { io } = await import('socket.io-client');
  serve({
    async run(p: { url: string }): Promise<TtfbPhases> {
      const t0 = nowMs();
      const socket = io(p.url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: FIRST_MESSAGE_TIMEOUT_MS });
      try {
        await timeout(
          new Promise<void>((resolve, reject) => {
            socket.once('connect', () => resolve());
            socket.once('connect_error', reject);
          }),
          'connection',
        );
        const connected = nowMs();
        const first = new Promise<number>((resolve) => socket.once('m', () => resolve(nowMs())));
        await timeout(new Promise<void>((resolve) => socket.emit('join', () => resolve())), 'join ack');
        const joined = nowMs();
        const at = await timeout(first, 'message');
        return { connect: connected - t0, join: joined - t0, subscribe: joined - t0, first: at - t0 };
      } finally {
        socket.disconnect();
      }
    },
  });
}
