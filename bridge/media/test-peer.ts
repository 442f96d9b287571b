/**
 * A werift peer for the forwarding unit's tests: a Node stand-in for a browser that publishes or
 * receives RTP. Everything stays on 127.0.0.1: no STUN or TURN server, no interface address but
 * loopback, and candidates the peer hears of are dropped unless they are loopback (the unit does
 * the same on its side). Every wait has a timeout.
 */
import dgram from 'node:dgram';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RtpHeader,
  RtpPacket,
  useOPUS,
  useSdesMid,
  useVP8,
  type PeerConfig,
  type RTCIceCandidate,
  type RTCRtpTransceiver,
} from 'werift';

const DEFAULT_TIMEOUT_MS = 5000;

/** werift options that keep a peer on loopback: no public STUN default, no other interface. */
export function loopbackPeerConfig(): Partial<PeerConfig> {
  return {
    // werift's default is a public STUN server: never here.
    iceServers: [],
    // No address from os.networkInterfaces(); only the one listed below.
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    codecs: { audio: [useOPUS()], video: [useVP8()] },
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
  };
}

/** Only `candidate:` lines with a loopback IPv4 address pass (the tests' allowed set). */
export function isLoopbackCandidate(candidate: string): boolean {
  const fields = candidate.replace(/^a=/, '').split(' ');
  return fields.length >= 8 && /^127\.\d+\.\d+\.\d+$/.test(fields[4] ?? '');
}

/** Drops every `a=candidate` line of an SDP whose address is not loopback. */
export function loopbackOnlySdp(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || isLoopbackCandidate(line))
    .join('\r\n');
}

/** Resolves once `check` holds (polled every 5 ms), or rejects after the timeout. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One RTP packet with the given payload; the sender rewrites SSRC, payload type and numbering. */
export function rtpPacket(seq: number, payload: Uint8Array, marker = true): RtpPacket {
  const header = new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: (seq * 3000) >>> 0, marker, payloadType: 96 });
  return new RtpPacket(header, Buffer.from(payload.buffer, payload.byteOffset, payload.length));
}

/** A received RTP payload, with the transceiver's mid it came on. */
export interface ReceivedRtp {
  mid: string | null;
  ssrc: number;
  seq: number;
  payload: Uint8Array;
}

/** A werift peer connection on loopback, with helpers to send and record RTP. */
export class TestPeer {
  readonly pc: RTCPeerConnection;
  readonly received: ReceivedRtp[] = [];
  /** Keyframe requests (PLI) this peer received as a sender. */
  keyframeRequests = 0;
  /** Candidates this peer gathered (loopback only), for trickling to the other side. */
  readonly candidates: RTCIceCandidate[] = [];

  constructor(config: Partial<PeerConfig> = {}) {
    this.pc = new RTCPeerConnection({ ...loopbackPeerConfig(), ...config });
    this.pc.onIceCandidate.subscribe((c) => {
      if (c !== undefined && isLoopbackCandidate(c.candidate)) this.candidates.push(c);
    });
    this.pc.onTransceiverAdded.subscribe((t) => this.record(t));
  }

  /** Adds a send-only track; returns what writes RTP into it. */
  addSendTrack(kind: 'audio' | 'video'): { track: MediaStreamTrack; transceiver: RTCRtpTransceiver } {
    const track = new MediaStreamTrack({ kind });
    const transceiver = this.pc.addTransceiver(track, { direction: 'sendonly' });
    transceiver.sender.onPictureLossIndication.subscribe(() => this.keyframeRequests++);
    return { track, transceiver };
  }

  /** Creates an offer and sets it locally; the SDP carries this peer's loopback candidates. */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return loopbackOnlySdp(this.pc.localDescription!.sdp);
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: loopbackOnlySdp(sdp) });
  }

  /** Sets a remote offer and answers it; the answer carries this peer's loopback candidates. */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: loopbackOnlySdp(offerSdp) });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return loopbackOnlySdp(this.pc.localDescription!.sdp);
  }

  /** Waits until ICE and DTLS are up. */
  connected(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    return waitFor(() => this.pc.connectionState === 'connected', 'the peer connection to connect', timeoutMs);
  }

  payloads(mid?: string): Uint8Array[] {
    return this.received.filter((r) => mid === undefined || r.mid === mid).map((r) => r.payload);
  }

  close(): Promise<void> {
    return this.pc.close();
  }

  private record(transceiver: RTCRtpTransceiver): void {
    transceiver.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        this.received.push({ mid: transceiver.mid, ssrc: rtp.header.ssrc, seq: rtp.header.sequenceNumber, payload: new Uint8Array(rtp.payload) });
      });
    });
  }
}

/**
 * Watches every UDP send and bind in this process (werift's ICE, DTLS and SRTP all go through
 * node:dgram) and records any that is not on loopback, so a test can assert that none happened.
 * `restore()` puts the originals back.
 */
export function guardLoopbackUdp(): { violations: string[]; readonly sends: number; restore(): void } {
  const proto = dgram.Socket.prototype as unknown as {
    send: (...args: unknown[]) => void;
    bind: (...args: unknown[]) => unknown;
  };
  const { send, bind } = proto;
  const violations: string[] = [];
  let sends = 0;
  const loopback = (address: unknown) => typeof address === 'string' && /^127\./.test(address);
  proto.send = function (this: unknown, ...args: unknown[]) {
    // send(msg, port, address, cb) or send(msg, offset, length, port, address, cb)
    const address = typeof args[2] === 'string' ? args[2] : args[4];
    sends++;
    if (!loopback(address)) violations.push(`send to ${String(address)}`);
    return send.apply(this, args);
  };
  proto.bind = function (this: unknown, ...args: unknown[]) {
    const first = args[0] as { address?: unknown } | number | undefined;
    const address = typeof first === 'object' && first !== null ? first.address : args[1];
    if (!loopback(address)) violations.push(`bind to ${String(address)}`);
    return bind.apply(this, args);
  };
  return {
    violations,
    get sends() {
      return sends;
    },
    restore() {
      proto.send = send;
      proto.bind = bind;
    },
  };
}
