/**
 * The page of bench/media-first-frame.ts. Two modes, each page in one of them for its whole life:
 *
 * - `e2ee`: the product path. `addStreamTrack` + `publishStream`; the subscriber subscribes on
 *   `streamPublished` and plays the `mediaTrack` of `onRemoteStreamTrack` (every frame SFrame-encrypted
 *   and decrypted in the frame worker).
 * - `plain`: the baseline, NOT a product path: the same Bridge requests (`publish`, `mediaJoin`,
 *   `mediaOffer`, `mediaAnswer`, `subscribeStreams`) made directly on the Connection, and plain
 *   RTCPeerConnections without any frame transform. The page hides `RTCPeerConnection` from the
 *   Endpoint so the Endpoint's own media never starts there.
 *
 * The first frame is the first `requestVideoFrameCallback` of the subscriber's `<video>`: decoded and
 * presented (in the e2ee mode, decrypted first). Times are `Date.now()`, the same clock for all pages.
 */
import { Endpoint, type Connection, type StreamApi } from '../endpoint/index.ts';
import { connectionInternals } from '../endpoint/internal.ts';
import type { MediaEvent } from '../protocol/ws.ts';

type Mode = 'e2ee' | 'plain';
const loopback = (sdp: string) =>
  sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || l.split(' ')[4]?.startsWith('127.'))
    .join('\r\n');

let mode: Mode = 'e2ee';
let PlainPC: typeof RTCPeerConnection;
let connection: Connection;
let api: StreamApi;
let firstFrameAt: number | undefined;
let publisherPc: RTCPeerConnection | undefined;
let receiverPc: RTCPeerConnection | undefined;
let camera: MediaStreamTrack | undefined;
let handle: string | undefined;
let stopListening: (() => void) | undefined;

function play(track: MediaStreamTrack): void {
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.srcObject = new MediaStream([track]);
  document.body.append(video);
  video.requestVideoFrameCallback(() => {
    firstFrameAt ??= Date.now();
  });
  video.play().catch(() => undefined);
}

/** A plain peer connection that trickles its loopback candidates once `ready()` says the unit holds the transport (as the Endpoint does). */
function plainPc(iceServers: RTCIceServer[], roomId: string, transport: 'publish' | 'receive'): { pc: RTCPeerConnection; ready(): void } {
  const pc = new PlainPC({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  const queued: RTCIceCandidate[] = [];
  let ready = false;
  const send = (c: RTCIceCandidate) =>
    connection
      .request('mediaCandidate', { roomId, transport, candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } })
      .catch(() => undefined);
  pc.onicecandidate = (e) => {
    if (e.candidate === null || !e.candidate.candidate.split(' ')[4]?.startsWith('127.')) return;
    if (ready) void send(e.candidate);
    else queued.push(e.candidate);
  };
  return {
    pc,
    ready() {
      ready = true;
      for (const c of queued.splice(0)) void send(c);
    },
  };
}

function vp8Only(transceiver: RTCRtpTransceiver): void {
  transceiver.setCodecPreferences((RTCRtpReceiver.getCapabilities('video')?.codecs ?? []).filter((c) => c.mimeType.toLowerCase() === 'video/vp8'));
}

async function cameraTrack(): Promise<MediaStreamTrack> {
  camera ??= (await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 15 } })).getVideoTracks()[0]!;
  return camera;
}

const bench = {
  async connect(a: { url: string; solutionId: string; privateKey: string; mode: Mode }): Promise<void> {
    mode = a.mode;
    if (mode === 'plain') {
      PlainPC = RTCPeerConnection;
      // The Endpoint then has no WebRTC: its media never starts in this page.
      Reflect.deleteProperty(window, 'RTCPeerConnection');
    }
    await Endpoint.setup();
    connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
    const eventApi = await Endpoint.createEventApi(connection);
    api = await Endpoint.createStreamApi(connection, eventApi, { media: { allowCandidate: (address) => address.startsWith('127.') } });
    eventApi.on('streamPublished', (e) => {
      api.subscribeToRemoteStreams(e.streamRoomId, [{ streamId: e.stream.streamId }]).catch(() => undefined);
    });
    if (mode === 'plain') {
      connectionInternals(connection).hooks.on('media', (event: MediaEvent) => {
        if (event.type === 'mediaReceiveOffer') void answerPlain(event);
      });
    }
  },

  /** Joins (and, as a plain subscriber, opens media); returns when it started. */
  async join(roomId: string, subscriber: boolean): Promise<number> {
    firstFrameAt = undefined;
    const t0 = Date.now();
    await api.joinStreamRoom(roomId);
    if (mode === 'e2ee') {
      stopListening = api.addRemoteStreamListener({ streamRoomId: roomId, onRemoteStreamTrack: (e) => e.mediaTrack !== undefined && play(e.mediaTrack) });
    } else if (subscriber) {
      await connection.request('mediaJoin', { roomId });
    }
    // Streams already there (join to first frame): subscribe at once.
    const streams = await api.listStreams(roomId);
    if (subscriber && streams.length > 0)
      await api.subscribeToRemoteStreams(
        roomId,
        streams.map((s) => ({ streamId: s.streamId })),
      );
    return t0;
  },

  /** Publishes the camera; returns when it started (before any request). */
  async publish(roomId: string): Promise<number> {
    const track = await cameraTrack();
    if (mode === 'e2ee') {
      handle = await api.createStream(roomId);
      await api.addStreamTrack(handle, { track });
      const t0 = Date.now();
      await api.publishStream(handle);
      return t0;
    }
    const t0 = Date.now();
    const streamId = `plain${Math.floor(Math.random() * 1e9)}`;
    const { stream } = await connection.request('publish', { roomId, streamId, tracks: [{ trackId: 'cam', kind: 'video' }] });
    const { iceServers } = await connection.request('mediaJoin', { roomId });
    const plain = plainPc(iceServers, roomId, 'publish');
    const pc = (publisherPc = plain.pc);
    const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
    vp8Only(transceiver);
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await connection.request('mediaOffer', {
      roomId,
      sdp: loopback(pc.localDescription!.sdp),
      tracks: [{ mid: transceiver.mid!, trackNo: stream.tracks[0]!.trackNo }],
    });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    plain.ready();
    return t0;
  },

  firstFrameAt: () => firstFrameAt,

  async leave(roomId: string): Promise<void> {
    publisherPc?.close();
    receiverPc?.close();
    publisherPc = receiverPc = undefined;
    receiver = undefined;
    stopListening?.();
    stopListening = undefined;
    for (const v of document.querySelectorAll('video')) v.remove();
    await api.leaveStreamRoom(roomId);
  },
};

let receiver: ReturnType<typeof plainPc> | undefined;

async function answerPlain(offer: Extract<MediaEvent, { type: 'mediaReceiveOffer' }>): Promise<void> {
  receiver ??= plainPc([], offer.roomId, 'receive');
  const pc = (receiverPc = receiver.pc);
  pc.ontrack = (e) => play(e.track);
  await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await connection.request('mediaAnswer', { roomId: offer.roomId, revision: offer.revision, sdp: loopback(pc.localDescription!.sdp) });
  receiver.ready();
}

declare global {
  interface Window {
    bench: typeof bench;
  }
}
window.bench = bench;
