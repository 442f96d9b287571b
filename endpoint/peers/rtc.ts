/**
 * The WebRTC implementation under a direct peer: the browser's own `RTCPeerConnection`, or in Node the
 * `werift` package (an optional peer of this package, docs/package.md), loaded on first use only.
 * Both are driven through the standard API (`onicecandidate`, `ondatachannel`, `getStats`, ...).
 */
import { filterCandidates } from '../media/sdp.ts';
import { PeerError } from './errors.ts';
import type { PeerOptions } from './types.ts';

type PeerConnectionCtor = new (config: Record<string, unknown>) => RTCPeerConnection;

let weriftCtor: Promise<PeerConnectionCtor> | undefined;

async function nodeCtor(): Promise<PeerConnectionCtor> {
  // A variable specifier keeps bundlers from pulling werift into a browser build.
  const name = 'werift';
  weriftCtor ??= (import(/* @vite-ignore */ name) as Promise<{ RTCPeerConnection: PeerConnectionCtor }>).then(
    (m) => m.RTCPeerConnection,
    (error: unknown) => {
      weriftCtor = undefined;
      throw new PeerError('Unsupported', 'direct connections in Node need the "werift" package (npm install werift@0.25.2)', { cause: error });
    },
  );
  return weriftCtor;
}

/**
 * Browsers whose frame transforms go through encoded streams need `encodedInsertableStreams` at
 * construction, so that media shared later (./peer-media.ts) can be encrypted; the same test as
 * endpoint/media/frame-encryption.ts `mediaE2eePeerConnectionConfig`, kept here so that the peers chunk
 * does not carry the frame worker.
 */
function encodedStreamsConfig(): Record<string, unknown> {
  if (typeof (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform === 'function') return {};
  const sender = (globalThis as { RTCRtpSender?: { prototype: object } }).RTCRtpSender;
  return sender !== undefined && 'createEncodedStreams' in sender.prototype ? { encodedInsertableStreams: true } : {};
}

/** A new peer connection with the app's ICE servers (no default STUN server: none unless configured). */
export async function createPeerConnection(options: PeerOptions): Promise<RTCPeerConnection> {
  const iceServers = options.iceServers ?? [];
  const native = (globalThis as { RTCPeerConnection?: PeerConnectionCtor }).RTCPeerConnection;
  if (native !== undefined) return new native({ iceServers, ...encodedStreamsConfig() });
  const Ctor = await nodeCtor();
  return new Ctor({ iceServers, ...(options.node ?? {}) });
}

/** ICE gathering is cut short after this; the description goes with the candidates it has. */
const GATHER_TIMEOUT_MS = 3000;

/** Creates the local description, waits for ICE gathering (bounded), returns its SDP (allowed candidates only). */
export async function describeLocal(pc: RTCPeerConnection, allow: PeerOptions['allowCandidate'], type: 'offer' | 'answer'): Promise<string> {
  const description = type === 'offer' ? await pc.createOffer() : await pc.createAnswer();
  await pc.setLocalDescription(description);
  if (pc.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      const check = () => {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      };
      pc.onicegatheringstatechange = check;
      check();
    });
  }
  return filterCandidates(pc.localDescription!.sdp, allow);
}
