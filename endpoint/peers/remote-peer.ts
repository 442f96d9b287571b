/**
 * A direct connection to one other member of a room (Peerix's `RemotePeer`; README "Direct
 * connections"): labelled data channels, `send()` with awaitable progress, and streams in. Everything
 * on a channel is a sealed, signed stream (./direct-stream.ts); DTLS underneath is defence in depth.
 * Created by PeersApi (connectPeer, or accepting a `remotePeer` request); apps never construct one.
 */
import { toBase64, utf8 } from '../../crypto/bytes.ts';
import { backend } from '../../crypto/backend/index.ts';
import { base64ToUrl } from '../data-streams/ids.ts';
import { openSource } from '../data-streams/outgoing/send-file.ts';
import { receiptMessage } from '../data-streams/receipts/receipt.ts';
import { lazyTransfer } from '../data-streams/web-streams/lazy.ts';
import type { SendData, SendResult, Transfer, TransferProgress } from '../data-streams/web-streams/types.ts';
import { Emitter } from '../util/emitter.ts';
import { ChannelReader } from './channel-reader.ts';
import { type DirectStreamBudget, type OutgoingCredit, streamControl, type IncomingDirectStream } from './direct-stream.ts';
import type { StreamReaderKey } from '../data-streams/stream-crypto.ts';
import { PeerError } from './errors.ts';
import { trackedTransfer } from '../data-streams/web-streams/progress-feed.ts';
import type { Logger } from '../logger.ts';
import type { MediaE2ee } from '../media/e2ee.ts';
import { PeerMedia, RENEGOTIATE } from './peer-media.ts';
import { type AppStreamParams, PeerSender, STREAMS_CHANNEL, type StreamSending } from './peer-sender.ts';
import type { OpenChannelOptions, PeerConnectionState, PeerSendOptions, RemotePeerEventMap, RemotePeerJson } from './types.ts';

export const DEFAULT_CHANNEL = 'default';
/**
 * Data channels of one peer at most, either side's (the default and the streams channel included):
 * each has its own reader and SCTP stream, and the other side could otherwise open them without end.
 * Past it, `open()` fails with `Overloaded` and a channel the other side opens is closed at once.
 */
export const DIRECT_CHANNELS_MAX = 32;
const RESERVED_PREFIX = 'sealroom:';
const LABEL_MAX_CHARS = 64;
/** On the default channel: the sender closes the connection (docs/protocol/peer-signalling.md, "Lifetime"). */
const CLOSE_FRAME = new Uint8Array([0x06]);

/** What a RemotePeer needs from the Endpoint: keys, the room's verified head, the signer. */
export interface RemotePeerDeps {
  roomId: string;
  userId: string;
  selfId: string;
  metadata: unknown;
  pc: RTCPeerConnection;
  sign(message: Uint8Array): Promise<Uint8Array>;
  currentKey(): { epoch: number; key: Uint8Array } | undefined;
  epochKey(epoch: number): Uint8Array | undefined;
  /** This user's unwrap of a private stream's key (StreamApi streams on STREAMS_CHANNEL are private). */
  reader: StreamReaderKey;
  peerPublicKey(): Promise<Uint8Array | undefined>;
  head(): Promise<{ version: number; hash: string } | undefined>;
  /** The peer closed (any way): forget it, and tell the other side unless it told us. */
  closed(peer: RemotePeer, error: PeerError): void;
  /** A verified stream on STREAMS_CHANNEL: hand it to the app's handler for its topic; false: none (REJECT). */
  appStream(stream: IncomingDirectStream): boolean;
  /** The callee: it yields when both sides renegotiate at once (./peer-media.ts). */
  polite: boolean;
  /** The frame encryption of the forwarding unit's media (browsers; `Unsupported` elsewhere). */
  mediaE2ee(): Promise<MediaE2ee>;
  log: Logger;
}

/** What PeersApi drives on a RemotePeer; apps do not see it (STYLE.md rule 11). */
export interface PeerControl {
  /** The peer connection is up and its certificate checked against `fingerprints`, the signed ones. */
  connected(fingerprints: string[]): void;
  /** A channel made before the offer (the caller's default channel). */
  adopt(dc: RTCDataChannel): void;
  fail(error: PeerError): void;
  /** Sends a StreamApi stream on STREAMS_CHANNEL; resolves once it is under way (before the first byte). */
  appStream(params: AppStreamParams): Promise<StreamSending>;
}
const controls = new WeakMap<RemotePeer, PeerControl>();

/** The folder's handle on a peer. */
export function peerControl(peer: RemotePeer): PeerControl {
  return controls.get(peer)!;
}

interface Channel {
  dc: RTCDataChannel;
  reader: ChannelReader;
  opened: Promise<void>;
}

export class RemotePeer {
  readonly #d: RemotePeerDeps;
  readonly #channels = new Map<string, Channel>();
  readonly #credits = new Map<string, OutgoingCredit>();
  readonly #events = new Emitter<RemotePeerEventMap>();
  /** Removers by event type and listener, for `off`. */
  readonly #unsubscribe = new Map<string, Map<unknown, () => void>>();
  readonly #stop = new AbortController();
  /** Streams that arrived before any `stream` listener; given to the first one. */
  readonly #unheard: IncomingDirectStream[] = [];
  /** Incoming streams over all channels, until the app read, cancelled or lost each (DIRECT_STREAMS_MAX). */
  readonly #streamBudget: DirectStreamBudget = { open: 0 };
  #state: PeerConnectionState = 'connecting';
  #error: PeerError | undefined;
  /** The signed fingerprints, once the connection's certificate was checked against them. */
  #signed!: (fingerprints: string[]) => void;
  readonly #fingerprints = new Promise<string[]>((resolve, reject) => {
    this.#signed = resolve;
    // A peer that ends before it connected: what waits for the check fails with its reason.
    this.#stop.signal.addEventListener('abort', () => reject(this.#stop.signal.reason), { once: true });
  });
  readonly #media: PeerMedia;
  readonly #sender: PeerSender;

  /** @hideconstructor Made by `StreamApi.connectPeer` or by accepting a `remotePeer` request. */
  constructor(deps: RemotePeerDeps) {
    this.#d = deps;
    this.#fingerprints.catch(() => undefined); // nobody may be waiting when the peer ends
    controls.set(this, {
      connected: (fingerprints) => {
        this.#signed(fingerprints);
        this.#setState('connected');
      },
      adopt: (dc) => void this.#adopt(dc),
      fail: (error) => this.#fail(error),
      appStream: (p) => this.#appStream(p),
    });
    this.#media = new PeerMedia({
      pc: deps.pc,
      roomId: deps.roomId,
      userId: deps.userId,
      polite: deps.polite,
      fingerprints: () => this.#fingerprints,
      control: (frame) => {
        const dc = this.#channels.get(DEFAULT_CHANNEL)?.dc;
        if (dc?.readyState === 'open') dc.send(frame as Uint8Array<ArrayBuffer>);
      },
      e2ee: () => deps.mediaE2ee(),
      track: (event) => this.#events.emit('track', event),
      fail: (error) => this.#fail(error),
      log: deps.log,
    });
    this.#sender = new PeerSender({
      peer: deps,
      credits: this.#credits,
      stop: this.#stop.signal,
      channel: (label) => this.#channels.get(label)?.dc,
      error: () => this.#error,
    });
    const pc = deps.pc as RTCPeerConnection & { ondatachannel: ((e: RTCDataChannelEvent) => void) | null };
    pc.ondatachannel = (e) => {
      try {
        this.#adopt(e.channel);
      } catch (error) {
        deps.log.warn({ userId: deps.userId, error: String(error) }, 'a direct channel the other side opened was closed');
      }
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === 'failed' || state === 'closed') this.#fail(new PeerError('ConnectionFailed', `the direct connection to "${deps.userId}" ${state}`));
      else if (state === 'connected') this.#setState('connected');
    };
  }

  /** The remote user's id. */
  get id(): string {
    return this.#d.userId;
  }

  /** The room both users are members of. */
  get room(): string {
    return this.#d.roomId;
  }

  /** The caller's metadata (signed with its offer). */
  get metadata(): unknown {
    return this.#d.metadata;
  }

  get connectionState(): PeerConnectionState {
    return this.#state;
  }

  /** Labels of the open data channels. */
  get channels(): string[] {
    return [...this.#channels.keys()].filter((label) => label !== STREAMS_CHANNEL);
  }

  /** Media streams the other member shares with this side (the `track` event tells of each track). */
  get streams(): MediaStream[] {
    return this.#media.streams;
  }

  /** Why the peer closed, once it has. */
  get error(): PeerError | undefined {
    return this.#error;
  }

  /**
   * Opens a channel by label (reused if it exists, from either side); resolves once it is open.
   * @example await peer.open('files');
   */
  async open(options: string | OpenChannelOptions = DEFAULT_CHANNEL): Promise<string> {
    const label = typeof options === 'string' ? options : options?.label;
    if (typeof label !== 'string' || label.length === 0 || label.length > LABEL_MAX_CHARS || label.startsWith(RESERVED_PREFIX)) {
      throw new PeerError(
        'InvalidArgument',
        `"label" expected 1 to ${LABEL_MAX_CHARS} characters not starting with "${RESERVED_PREFIX}", got ${JSON.stringify(label)}`,
      );
    }
    return this.#open(label);
  }

  async #open(label: string): Promise<string> {
    if (this.#error !== undefined) throw this.#error;
    const channel = this.#channels.get(label) ?? this.#adopt(this.#d.pc.createDataChannel(label, { ordered: true }));
    await channel.opened;
    return label;
  }

  /**
   * Sends data on a channel as one sealed, signed stream; the result streams progress and is awaitable.
   * @example
   * const transfer = peer.send(file, { label: 'files', info: { kind: 'photo' } });
   * for await (const { current, total } of transfer) showProgress(current, total);
   */
  send(data: SendData, options: string | PeerSendOptions = {}): Transfer {
    const o: PeerSendOptions = typeof options === 'string' ? { label: options } : (options ?? {});
    return lazyTransfer(Promise.resolve(this.#transfer(data, o)));
  }

  /**
   * Shares a MediaStream's tracks with the other member (browsers), each frame encrypted with the same
   * SFrame transform as through the forwarding unit; the other side gets a `track` event per track.
   * @example await peer.share(await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
   */
  async share(options: MediaStream | { stream: MediaStream }): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state !== 'connected') throw new PeerError('InvalidArgument', 'share() expected a connected peer');
    await this.#media.share(options instanceof Object && 'stream' in options ? options.stream : (options as MediaStream));
  }

  /** Stops sharing a stream shared with `share` (its tracks end at the other side). */
  unshare(options: MediaStream | { stream: MediaStream }): void {
    this.#media.unshare(options instanceof Object && 'stream' in options ? options.stream : (options as MediaStream));
  }

  on<K extends keyof RemotePeerEventMap>(type: K, listener: (payload: RemotePeerEventMap[K]) => void): this {
    let byListener = this.#unsubscribe.get(type);
    if (byListener === undefined) this.#unsubscribe.set(type, (byListener = new Map()));
    byListener.get(listener)?.();
    byListener.set(listener, this.#events.on(type, listener));
    if (type === 'stream') for (const stream of this.#unheard.splice(0)) this.#events.emit('stream', stream);
    return this;
  }

  off<K extends keyof RemotePeerEventMap>(type: K, listener: (payload: RemotePeerEventMap[K]) => void): this {
    this.#unsubscribe.get(type)?.get(listener)?.();
    this.#unsubscribe.get(type)?.delete(listener);
    return this;
  }

  /** Closes the connection and frees everything; the other side gets `Closed`. */
  close(): void {
    this.#fail(new PeerError('Closed', `the direct connection to "${this.#d.userId}" was closed`));
  }

  toJSON(): RemotePeerJson {
    return { id: this.id, room: this.room, metadata: this.metadata, connectionState: this.#state, channels: this.channels };
  }

  /** Ends the peer for `error` (once; never reopened). */
  #fail(error: PeerError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    // Tell the other side over the direct path too (DTLS authenticates it), so it learns at once even
    // when the Bridge is out of reach; the signalled bye may not get through.
    const control = this.#channels.get(DEFAULT_CHANNEL)?.dc;
    if (control?.readyState === 'open') {
      try {
        control.send(CLOSE_FRAME);
      } catch {
        // closing anyway
      }
    }
    this.#stop.abort(error);
    this.#media.close();
    for (const c of this.#channels.values()) {
      c.reader.failAll(error);
      try {
        c.dc.close();
      } catch {
        // already closed
      }
    }
    for (const credit of this.#credits.values()) credit.reject();
    for (const stream of this.#unheard.splice(0)) streamControl(stream).fail(error);
    void Promise.resolve(this.#d.pc.close()).catch(() => undefined);
    this.#setState(error.reason === 'Closed' ? 'closed' : 'failed');
    this.#d.closed(this, error);
    this.#events.emit('close', error);
  }

  #setState(state: PeerConnectionState): void {
    if (this.#state === state || this.#state === 'closed' || this.#state === 'failed') return;
    this.#state = state;
    this.#events.emit('connectionState', state);
  }

  #adopt(dc: RTCDataChannel): Channel {
    const existing = this.#channels.get(dc.label);
    if (existing !== undefined) return existing;
    if (this.#channels.size >= DIRECT_CHANNELS_MAX) {
      dc.close();
      throw new PeerError('Overloaded', `a direct connection has at most ${DIRECT_CHANNELS_MAX} channels`);
    }
    dc.binaryType = 'arraybuffer';
    const reader = new ChannelReader(
      dc.label,
      {
        budget: this.#streamBudget,
        roomId: this.#d.roomId,
        senderId: this.#d.userId,
        senderPublicKey: () => this.#d.peerPublicKey(),
        epochKey: (epoch) => this.#d.epochKey(epoch),
        reader: this.#d.reader,
        opened: (stream: IncomingDirectStream) => {
          if (dc.label === STREAMS_CHANNEL) return this.#d.appStream(stream);
          // Until the app listens (it may add its listener after accept() resolves), streams wait
          // here; each holds at most DIRECT_STREAM_HELD_MAX, and the peer at most DIRECT_STREAMS_MAX
          // streams over all channels until the app has read them (direct-stream.ts).
          if (this.#events.count('stream') === 0) this.#unheard.push(stream);
          else this.#events.emit('stream', stream);
          return true;
        },
        send: (frame) => {
          if (dc.readyState === 'open') dc.send(frame as Uint8Array<ArrayBuffer>);
        },
        signReceipt: (streamId, contentHash, contentBytes, at) =>
          this.#d.sign(
            receiptMessage({ roomId: this.#d.roomId, streamId, contentHash, contentBytes, senderId: this.#d.userId, receiverId: this.#d.selfId, at }),
          ),
      },
      this.#credits,
    );
    const opened = new Promise<void>((resolve, reject) => {
      if (dc.readyState === 'open') return resolve();
      dc.onopen = () => resolve();
      this.#stop.signal.addEventListener('abort', () => reject(this.#stop.signal.reason), { once: true });
    });
    opened.then(
      () => dc.label !== STREAMS_CHANNEL && this.#events.emit('channel', { label: dc.label }),
      () => undefined,
    );
    dc.onmessage = (e: MessageEvent) => {
      const raw: unknown = e.data;
      // Text frames are not part of the format: only sealed streams travel on a channel.
      if (typeof raw === 'string') return;
      const bytes =
        raw instanceof ArrayBuffer
          ? new Uint8Array(raw)
          : new Uint8Array((raw as Uint8Array).buffer, (raw as Uint8Array).byteOffset, (raw as Uint8Array).byteLength);
      if (dc.label === DEFAULT_CHANNEL && bytes.length === 1 && bytes[0] === CLOSE_FRAME[0]) {
        this.#fail(new PeerError('Closed', `"${this.#d.userId}" closed the connection`));
        return;
      }
      if (dc.label === DEFAULT_CHANNEL && bytes[0] === RENEGOTIATE) return this.#media.message(bytes);
      reader.message(bytes).catch(() => undefined);
    };
    dc.onclose = () => {
      const error = new PeerError('ConnectionFailed', `the "${dc.label}" channel to "${this.#d.userId}" closed`);
      reader.failAll(error);
      this.#channels.delete(dc.label);
      // The default channel lives as long as the connection: its end is the connection's.
      if (dc.label === DEFAULT_CHANNEL) this.#fail(error);
    };
    const channel = { dc, reader, opened };
    this.#channels.set(dc.label, channel);
    return channel;
  }

  async #transfer(data: SendData, o: PeerSendOptions): Promise<{ source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> }> {
    return trackedTransfer(async () => {
      const label = o.label ?? DEFAULT_CHANNEL;
      await this.open(label);
      const text = typeof data === 'string';
      const source = await openSource(text ? utf8(data) : data);
      const streamId = backend().randomBytes(16);
      return {
        first: { id: base64ToUrl(toBase64(streamId)), label, topic: label, current: 0, total: source.size, done: false },
        source,
        start: (onProgress) =>
          this.#sender.stream(
            label,
            streamId,
            (common) => (text ? { kind: 'text', ...common } : { kind: 'bytes', name: o.name ?? source.name ?? 'unnamed', ...common }),
            {
              topic: label,
              mimeType: text ? 'text/plain' : 'application/octet-stream',
              attributes: o.info ?? {},
              size: source.size,
              receipts: o.receipts !== false,
              receiptTimeoutMs: o.receiptTimeoutMs,
              source: source.blocks(),
              signal: o.signal,
              onProgress,
            },
          ),
      };
    });
  }

  async #appStream(p: AppStreamParams): Promise<StreamSending> {
    await this.#open(STREAMS_CHANNEL);
    return this.#sender.stream(STREAMS_CHANNEL, p.streamId, (common) => ({ kind: 'bytes', name: p.name, ...common }), p);
  }
}
