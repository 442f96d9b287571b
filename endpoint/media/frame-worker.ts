/**
 * The frame worker (docs/media/frame-encryption.md "The worker"): runs every encoded frame of the
 * protected senders and receivers through frame-cryptor.ts. Transforms arrive as `rtctransform` events
 * (`RTCRtpScriptTransform`) or, in the encoded-streams fallback, as transferred streams. Keys arrive by
 * message. A frame is passed on only after it was encrypted (sending) or authenticated (receiving);
 * every other frame is dropped and counted.
 *
 * Bundled on its own (scripts/build-frame-worker.mjs) into frame-worker-bundle.ts; it is not imported
 * by any module of the library.
 */
import { MediaFrameCryptor, type MediaSendRefusal } from './frame-cryptor.ts';
import { NEWER_EPOCH_NOTICE_MS, STATS_PUSH_MS, type FromWorker, type ToWorker, type TransformOptions } from './frame-worker-protocol.ts';

/** The parts of the encoded-transform API used here (not in TypeScript's DOM library yet). */
interface EncodedFrame {
  data: ArrayBuffer;
  getMetadata(): { mimeType?: string };
}
interface ScriptTransformer {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options: TransformOptions;
  /** In the spec and in some browsers; Chromium 156 has none (the main thread then asks the encoder). */
  generateKeyFrame?: () => Promise<unknown>;
}
interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  onrtctransform: ((event: { transformer: ScriptTransformer }) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
const cryptor = new MediaFrameCryptor();
/** Senders now attached, by id: asked for a keyframe when their room's epoch changes. */
const senders = new Map<number, { roomId: string; kind: 'audio' | 'video'; transformer: ScriptTransformer | undefined }>();
const refusalNoted = new Set<number>();
/** The options of each attached transform, by id (the fallback's retarget replaces them). */
const routes = new Map<number, TransformOptions>();
const newerNoticeAt = new Map<string, number>();

function attach(
  readable: ReadableStream<EncodedFrame>,
  writable: WritableStream<EncodedFrame>,
  options: TransformOptions,
  transformer?: ScriptTransformer,
): void {
  const { id } = options;
  routes.set(id, options);
  let transform: (frame: EncodedFrame, controller: TransformStreamDefaultController<EncodedFrame>) => Promise<void>;
  if (options.role === 'send') {
    senders.set(id, { roomId: options.track.roomId, kind: options.track.kind, transformer });
    transform = async (frame, controller) => {
      const { track } = routes.get(id) as Extract<TransformOptions, { role: 'send' }>;
      const mimeType = frame.getMetadata().mimeType;
      let reason: MediaSendRefusal;
      try {
        const out = await cryptor.encrypt(track, { kind: track.kind, mimeType, data: new Uint8Array(frame.data) });
        if (out.ok) {
          frame.data = out.data.buffer;
          controller.enqueue(frame);
          return;
        }
        reason = out.reason;
      } catch {
        // A frame the SFrame context refuses (over its size limit): never sent in clear.
        reason = 'malformed';
        cryptor.counters.sendRefused.malformed++;
      }
      if (!refusalNoted.has(id)) {
        refusalNoted.add(id);
        scope.postMessage({ type: 'refused', id, reason, mimeType });
      }
    };
  } else {
    let current = options;
    let decryptor = cryptor.receiver(options.track);
    transform = async (frame, controller) => {
      const route = routes.get(id) as Extract<TransformOptions, { role: 'receive' }>;
      if (route !== current) {
        // Retargeted (the receiver now carries another track): a fresh decryptor, keys and windows.
        current = route;
        decryptor = cryptor.receiver(route.track);
      }
      const { roomId } = route.track;
      try {
        const out = await decryptor.decrypt({ kind: route.track.kind, mimeType: frame.getMetadata().mimeType, data: new Uint8Array(frame.data) });
        if (out.ok) {
          frame.data = out.data.buffer;
          controller.enqueue(frame);
          // The publisher's room head, when it changed or once a second (frame-cryptor.ts): for split views.
          if (out.head !== undefined) scope.postMessage({ type: 'head', roomId, userId: route.track.userId, version: out.head.version, hash: out.head.hash });
        } else if (out.newerEpoch !== undefined) {
          const now = Date.now();
          if ((newerNoticeAt.get(roomId) ?? 0) + NEWER_EPOCH_NOTICE_MS <= now) {
            newerNoticeAt.set(roomId, now);
            scope.postMessage({ type: 'newerEpoch', roomId, epoch: out.newerEpoch });
          }
        }
      } catch {
        cryptor.counters.dropped.malformed++;
      }
    };
  }
  readable
    .pipeThrough(new TransformStream<EncodedFrame, EncodedFrame>({ transform }))
    .pipeTo(writable)
    .catch(() => undefined)
    .finally(() => {
      routes.delete(id);
      senders.delete(id);
      refusalNoted.delete(id);
    });
}

/** The encoded-streams fallback: a sender or receiver protected again (its streams exist once) now carries another track. */
function retarget(options: TransformOptions): void {
  const known = routes.get(options.id);
  if (known === undefined || known.role !== options.role) return;
  routes.set(options.id, options);
  refusalNoted.delete(options.id);
  const sender = senders.get(options.id);
  if (sender !== undefined) senders.set(options.id, { ...sender, roomId: options.track.roomId, kind: options.track.kind });
}

/** The room's epoch changed: every video sender of it asks its encoder for a keyframe. */
function keyframes(roomId: string): void {
  for (const [id, sender] of senders) {
    if (sender.roomId !== roomId || sender.kind !== 'video') continue;
    if (typeof sender.transformer?.generateKeyFrame === 'function') {
      sender.transformer.generateKeyFrame().then(
        () => void cryptor.counters.keyframesOnRotation++,
        () => scope.postMessage({ type: 'keyframe', id }),
      );
    } else scope.postMessage({ type: 'keyframe', id });
  }
}

scope.onrtctransform = (event) => {
  const { transformer } = event;
  attach(transformer.readable, transformer.writable, transformer.options, transformer);
};

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case 'keys':
      if (cryptor.setRoomKeys(message.roomId, message.keys)) keyframes(message.roomId);
      break;
    case 'dropRoom':
      cryptor.dropRoom(message.roomId);
      break;
    case 'streams':
      attach(message.readable as ReadableStream<EncodedFrame>, message.writable as WritableStream<EncodedFrame>, message.options);
      break;
    case 'retarget':
      retarget(message.options);
      break;
    case 'stats':
      scope.postMessage({ type: 'stats', stats: cryptor.counters, requestId: message.requestId });
      break;
    default:
      message satisfies never;
  }
};

let lastPushed = '';
setInterval(() => {
  const now = JSON.stringify(cryptor.counters);
  if (now === lastPushed) return;
  lastPushed = now;
  scope.postMessage({ type: 'stats', stats: cryptor.counters });
}, STATS_PUSH_MS);
