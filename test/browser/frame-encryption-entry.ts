/**
 * The page of endpoint/media/frame-encryption-browser.test.ts: two RTCPeerConnections in one page on
 * loopback (only 127.0.0.1 candidates are exchanged), a fake camera and microphone, the sender's tracks
 * protected by one frame encryption and the receiver's by another (two workers, as two clients would
 * have). Keys are fed directly (`startCall`, no Bridge), or come from a real room (`startRoomCall`:
 * two Endpoint connections in the page, `createMediaE2ee` wired to each one's KeyRing).
 */
import type { Connection } from '../../endpoint/connection.ts';
import { Endpoint } from '../../endpoint/index.ts';
import { streamApiInternals } from '../../endpoint/internal.ts';
import { createMediaE2ee, FrameEncryption, type MediaE2eeStats, type MediaTransformApi, mediaE2eePeerConnectionConfig } from '../../endpoint/media/e2ee.ts';
import { KeyRefresher } from '../../endpoint/realtime/key-refresh.ts';
import { MediaFrameCryptor } from '../../endpoint/media/frame-cryptor.ts';

const ROOM = 'room-1';
const STREAM = 'camera';

export interface CallOptions {
  api?: MediaTransformApi;
  /** Load the worker from this URL instead of the bundled Blob. */
  workerUrl?: string;
  /** 32-byte epoch-1 keys of the sender and the receiver (different keys: the receiver decodes nothing). */
  senderKey: number[];
  receiverKey: number[];
  /** Negotiate only this video codec (`video/H264`: one the frame encryption does not protect). */
  videoCodec?: string;
}

export interface CallSnapshot {
  videoWidth: number;
  currentTime: number;
  sender: MediaE2eeStats;
  receiver: MediaE2eeStats;
  /** inbound-rtp video at the receiver (what the decoder got). */
  framesDecoded: number;
  keyFramesDecoded: number;
  /** outbound-rtp video at the sender. */
  keyFramesEncoded: number;
  /** Keyframe requests (PLI) the sender got from the receiver. */
  pliCount: number;
  /** Every remote candidate either side was given: all on 127.0.0.1. */
  candidateAddresses: string[];
}

/** What a call needs of a frame encryption: FrameEncryption (keys fed here) or createMediaE2ee's (keys from rooms). */
type Protector = Pick<FrameEncryption, 'protectSender' | 'protectReceiver' | 'refreshStats' | 'close'>;

interface Call {
  sender: Protector;
  receiver: Protector;
  /** Endpoint connections of a room call, closed with it. */
  connections: Connection[];
  a: RTCPeerConnection;
  b: RTCPeerConnection;
  video: HTMLVideoElement;
  media: MediaStream;
  candidateAddresses: string[];
  roomId: string;
  publisher: string;
  /** The video sender and receiver, for protecting them again. */
  videoRtp: { sender: RTCRtpSender | undefined; receiver: RTCRtpReceiver | undefined };
}

const calls = new Map<number, Call>();
let nextCall = 1;

function roomKeys(userId: string, memberIndex: number, epochs: Array<{ epoch: number; key: number[] }>) {
  return { userId, memberIndex, epochs: epochs.map(({ epoch, key }) => ({ epoch, key: new Uint8Array(key) })), head: { version: 1, hash: new Uint8Array(12) } };
}

async function startCall(options: CallOptions): Promise<number> {
  const worker = options.workerUrl === undefined ? undefined : ({ kind: 'url', url: options.workerUrl } as const);
  const sender = new FrameEncryption({ api: options.api, worker });
  const receiver = new FrameEncryption({ api: options.api, worker });
  sender.setRoomKeys(ROOM, roomKeys('alice', 0, [{ epoch: 1, key: options.senderKey }]));
  receiver.setRoomKeys(ROOM, roomKeys('bob', 1, [{ epoch: 1, key: options.receiverKey }]));
  return wire({ sender, receiver, roomId: ROOM, publisher: 'alice', api: options.api, videoCodec: options.videoCodec, connections: [] });
}

export interface RoomCallOptions {
  bridgeUrl: string;
  solutionId: string;
  roomId: string;
  /** The publisher and the subscriber: members of the room. */
  alice: { userId: string; privateKey: string };
  bob: { userId: string; privateKey: string };
  /** bob's KeyRing grace (`epochGraceMs`), short so a test sees the old epoch go. */
  bobGraceMs: number;
}

/** Connects alice and bob to a real Bridge in this page, joins both to the room, and wires createMediaE2ee to each. */
async function startRoomCall(options: RoomCallOptions): Promise<number> {
  await Endpoint.setup();
  const e2ee = async (user: { privateKey: string }, graceMs?: number) => {
    const connection = await Endpoint.connect(user.privateKey, options.solutionId, options.bridgeUrl);
    const eventApi = await Endpoint.createEventApi(connection);
    const streamApi = await Endpoint.createStreamApi(connection, eventApi, graceMs === undefined ? {} : { epochGraceMs: graceMs });
    await streamApi.joinStreamRoom(options.roomId);
    const { rooms, keys } = streamApiInternals(streamApi);
    return { connection, handle: createMediaE2ee({ connection, rooms, keys, refresher: new KeyRefresher(rooms, keys, connection.log) }) };
  };
  const alice = await e2ee(options.alice);
  const bob = await e2ee(options.bob, options.bobGraceMs);
  return wire({
    sender: alice.handle,
    receiver: bob.handle,
    roomId: options.roomId,
    publisher: options.alice.userId,
    api: undefined,
    videoCodec: undefined,
    connections: [alice.connection, bob.connection],
  });
}

interface Wiring {
  sender: Protector;
  receiver: Protector;
  roomId: string;
  publisher: string;
  api: MediaTransformApi | undefined;
  videoCodec: string | undefined;
  connections: Connection[];
}

async function wire(w: Wiring): Promise<number> {
  const { sender, receiver, roomId } = w;
  const config: RTCConfiguration = { iceServers: [], ...mediaE2eePeerConnectionConfig(w.api) };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const candidateAddresses: string[] = [];
  /** Candidates wait until both descriptions are set. */
  let negotiated = false;
  const waiting: Array<() => void> = [];
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.onicecandidate = (event) => {
      // Loopback only: no other address is ever given to the other side, so no check goes elsewhere.
      const candidate = event.candidate;
      if (candidate?.address !== '127.0.0.1') return;
      candidateAddresses.push(candidate.address);
      const add = () => void to.addIceCandidate(candidate);
      if (negotiated) add();
      else waiting.push(add);
    };
  }
  const videoRtp: Call['videoRtp'] = { sender: undefined, receiver: undefined };
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
  for (const track of media.getTracks()) {
    const kind = track.kind as 'audio' | 'video';
    const transceiver = a.addTransceiver(track, { direction: 'sendonly', streams: [media] });
    if (kind === 'video' && w.videoCodec !== undefined) {
      const codec = w.videoCodec.toLowerCase();
      transceiver.setCodecPreferences((RTCRtpReceiver.getCapabilities('video')?.codecs ?? []).filter((c) => c.mimeType.toLowerCase() === codec));
    }
    sender.protectSender(transceiver.sender, { roomId, streamId: STREAM, trackId: kind, kind });
    if (kind === 'video') videoRtp.sender = transceiver.sender;
  }
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.append(video);
  b.ontrack = (event) => {
    const kind = event.track.kind as 'audio' | 'video';
    receiver.protectReceiver(event.receiver, { roomId, streamId: STREAM, trackId: kind, kind, userId: w.publisher });
    if (kind === 'video') videoRtp.receiver = event.receiver;
    if (kind === 'video') video.srcObject = new MediaStream([event.track]);
  };
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription!);
  negotiated = true;
  for (const add of waiting.splice(0)) add();
  const id = nextCall++;
  calls.set(id, { sender, receiver, connections: w.connections, a, b, video, media, candidateAddresses, roomId, publisher: w.publisher, videoRtp });
  return id;
}

function call(id: number): Call {
  const found = calls.get(id);
  if (found === undefined) throw new Error(`no call ${id}`);
  return found;
}

/** Gives the sender, the receiver or both a new newest epoch (the old one stays, in grace). */
function rotate(id: number, who: 'sender' | 'receiver', epochs: Array<{ epoch: number; key: number[] }>): void {
  const target = who === 'sender' ? call(id).sender : call(id).receiver;
  if (!(target instanceof FrameEncryption)) throw new Error('keys are fed only to a FrameEncryption call');
  target.setRoomKeys(ROOM, who === 'sender' ? roomKeys('alice', 0, epochs) : roomKeys('bob', 1, epochs));
}

async function rtpStat(pc: RTCPeerConnection, type: string, field: string): Promise<number> {
  let value = 0;
  (await pc.getStats()).forEach((report: Record<string, unknown>) => {
    if (report.type === type && report.kind === 'video' && typeof report[field] === 'number') value += report[field] as number;
  });
  return value;
}

async function snapshot(id: number): Promise<CallSnapshot> {
  const c = call(id);
  return {
    videoWidth: c.video.videoWidth,
    currentTime: c.video.currentTime,
    sender: await c.sender.refreshStats(),
    receiver: await c.receiver.refreshStats(),
    framesDecoded: await rtpStat(c.b, 'inbound-rtp', 'framesDecoded'),
    keyFramesDecoded: await rtpStat(c.b, 'inbound-rtp', 'keyFramesDecoded'),
    keyFramesEncoded: await rtpStat(c.a, 'outbound-rtp', 'keyFramesEncoded'),
    pliCount: await rtpStat(c.a, 'outbound-rtp', 'pliCount'),
    candidateAddresses: [...c.candidateAddresses],
  };
}

async function endCall(id: number): Promise<void> {
  const c = call(id);
  for (const connection of c.connections) await connection.disconnect();
  for (const track of c.media.getTracks()) track.stop();
  c.a.close();
  c.b.close();
  c.sender.close();
  c.receiver.close();
  c.video.remove();
  calls.delete(id);
}

/**
 * The cost of the frame crypto in this browser (WebCrypto, as in the worker): `count` VP8 delta frames
 * of each size encrypted by one cryptor and decrypted by another, one at a time. Microseconds per frame.
 */
async function measureCrypto(sizes: number[], count: number): Promise<Array<{ bytes: number; encryptUs: number; decryptUs: number }>> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const sender = new MediaFrameCryptor();
  const receiver = new MediaFrameCryptor();
  sender.setRoomKeys(ROOM, { userId: 'alice', memberIndex: 0, epochs: [{ epoch: 1, key }], head: { version: 1, hash: new Uint8Array(12) } });
  receiver.setRoomKeys(ROOM, { userId: 'bob', memberIndex: 1, epochs: [{ epoch: 1, key }], head: { version: 1, hash: new Uint8Array(12) } });
  const track = { roomId: ROOM, streamId: STREAM, trackId: 'video', kind: 'video' as const };
  const decryptor = receiver.receiver({ ...track, userId: 'alice' });
  const results = [];
  for (const bytes of sizes) {
    const frame = crypto.getRandomValues(new Uint8Array(bytes));
    frame[0] = frame[0]! | 1;
    const sealed: Uint8Array[] = [];
    let t = performance.now();
    for (let i = 0; i < count; i++) {
      const out = await sender.encrypt(track, { kind: 'video', data: frame });
      if (!out.ok) throw new Error(out.reason);
      sealed.push(out.data);
    }
    const encryptUs = ((performance.now() - t) * 1000) / count;
    t = performance.now();
    for (const data of sealed) {
      const out = await decryptor.decrypt({ kind: 'video', data });
      if (!out.ok) throw new Error(out.reason);
    }
    results.push({ bytes, encryptUs, decryptUs: ((performance.now() - t) * 1000) / count });
  }
  return results;
}

/** Protects the video sender, receiver or both again, now as track `trackId` (the fallback retargets its streams). */
function reprotectVideo(id: number, who: 'sender' | 'receiver' | 'both', trackId: string): void {
  const c = call(id);
  const { sender, receiver } = c.videoRtp;
  if (sender === undefined || receiver === undefined) throw new Error('no video yet');
  if (who !== 'receiver') c.sender.protectSender(sender, { roomId: c.roomId, streamId: STREAM, trackId, kind: 'video' });
  if (who !== 'sender') c.receiver.protectReceiver(receiver, { roomId: c.roomId, streamId: STREAM, trackId, kind: 'video', userId: c.publisher });
}

const api = { startCall, startRoomCall, rotate, snapshot, endCall, measureCrypto, reprotectVideo };
declare global {
  interface Window {
    frameEncryptionTest: typeof api;
  }
}
window.frameEncryptionTest = api;
