/**
 * A direct connection to one other member of a room (Peerix's `RemotePeer`; README "Direct
 * connections"): labelled data channels, `send()` with awaitable progress, and streams in. Everything
 * on a channel is a sealed, signed stream (./direct-stream.ts); DTLS underneath is defence in depth.
 * Created by PeersApi (connectPeer, or accepting a `remotePeer` request); apps never construct one.
 */
import { toBase64, utf8 } from '../../crypto/bytes.ts';
import { backend } from '../../crypto/backend/index.ts';
import { encodeHeader, STREAM_HEADER_VERSION, type StreamHeader } from '../data-streams/header.ts';
import { base64ToUrl } from '../data-streams/ids.ts';
import { openSource } from '../data-streams/outgoing/send-file.ts';
import { receiptMessage, verifyReceipt } from '../data-streams/receipts/receipt.ts';
import { lazyTransfer } from '../data-streams/web-streams/lazy.ts';
import type { SendData, SendResult, Transfer, TransferProgress } from '../data-streams/web-streams/types.ts';
import { Emitter } from '../util/emitter.ts';
import { ChannelReader, OutgoingCredit, sendStream, streamControl, type ChannelLike, type IncomingDirectStream } from './direct-stream.ts';
import { PeerError } from './errors.ts';
import { progressFeed } from '../data-streams/web-streams/progress-feed.ts';
import type { OpenChannelOptions, PeerConnectionState, PeerSendOptions, RemotePeerEventMap, RemotePeerJson } from './types.ts';

export const DEFAULT_CHANNEL = 'default';
/** How long `send` waits for the reader's signed receipt after the end, by default. Milliseconds. */
export const DEFAULT_RECEIPT_TIMEOUT_MS = 10_000;
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
  peerPublicKey(): Promise<Uint8Array | undefined>;
  head(): Promise<{ version: number; hash: string } | undefined>;
  /** The peer closed (any way): forget it, and tell the other side unless it told us. */
  closed(peer: RemotePeer, error: PeerError): void;
}

/** What PeersApi drives on a RemotePeer; apps do not see it (STYLE.md rule 11). */
export interface PeerControl {
  /** The peer connection is up and its certificate checked. */
  connected(): void;
  /** A channel made before the offer (the caller's default channel). */
  adopt(dc: RTCDataChannel): void;
  fail(error: PeerError): void;
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
  #state: PeerConnectionState = 'connecting';
  #error: PeerError | undefined;

  /** @hideconstructor Made by `StreamApi.connectPeer` or by accepting a `remotePeer` request. */
  constructor(deps: RemotePeerDeps) {
    this.#d = deps;
    controls.set(this, {
      connected: () => this.#setState('connected'),
      adopt: (dc) => void this.#adopt(dc),
      fail: (error) => this.#fail(error),
    });
    const pc = deps.pc as RTCPeerConnection & { ondatachannel: ((e: RTCDataChannelEvent) => void) | null };
    pc.ondatachannel = (e) => this.#adopt(e.channel);
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
    return [...this.#channels.keys()];
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
    if (typeof label !== 'string' || label.length === 0 || label.length > LABEL_MAX_CHARS) {
      throw new PeerError('InvalidArgument', `"label" expected 1 to ${LABEL_MAX_CHARS} characters, got ${JSON.stringify(label)}`);
    }
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
    dc.binaryType = 'arraybuffer';
    const reader = new ChannelReader(
      dc.label,
      {
        roomId: this.#d.roomId,
        senderId: this.#d.userId,
        senderPublicKey: () => this.#d.peerPublicKey(),
        epochKey: (epoch) => this.#d.epochKey(epoch),
        opened: (stream: IncomingDirectStream) => {
          // Until the app listens (it may add its listener after accept() resolves), streams wait
          // here; each holds at most one credit window, and a channel at most DIRECT_STREAMS_MAX.
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
      () => this.#events.emit('channel', { label: dc.label }),
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

  /** Waits (bounded) for the reader's receipt and checks it against its key in the verified room. */
  async #delivery(
    id: string,
    streamId: Uint8Array,
    contentHash: Uint8Array,
    contentBytes: number,
    credit: OutgoingCredit,
    timeoutMs: number,
  ): Promise<SendResult> {
    const userId = this.#d.userId;
    const deadline = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]);
    while (credit.receipt === undefined && !deadline.aborted) await credit.next(deadline);
    const receipt = credit.receipt;
    if (receipt === undefined) return { id, delivered: [], failed: [{ userId, reason: 'no_receipt' }] };
    const publicKey = await this.#d.peerPublicKey();
    const fields = { roomId: this.#d.roomId, streamId, contentHash, contentBytes, senderId: this.#d.selfId, receiverId: userId, at: receipt.at };
    const valid = publicKey !== undefined && (await verifyReceipt(fields, toBase64(receipt.signature), publicKey));
    return valid ? { id, delivered: [{ userId, at: receipt.at }], failed: [] } : { id, delivered: [], failed: [{ userId, reason: 'invalid_receipt' }] };
  }

  async #transfer(data: SendData, o: PeerSendOptions): Promise<{ source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> }> {
    const progress = progressFeed<TransferProgress>();
    const run = async (): Promise<SendResult> => {
      const label = await this.open(o.label ?? DEFAULT_CHANNEL);
      const channel = this.#channels.get(label)!;
      const text = typeof data === 'string';
      const source = await openSource(text ? utf8(data) : data);
      const key = this.#d.currentKey();
      const head = await this.#d.head();
      if (key === undefined || head === undefined) throw new PeerError('NotMember', `no key for room "${this.#d.roomId}"`);
      const common = {
        v: STREAM_HEADER_VERSION,
        topic: label,
        mimeType: text ? 'text/plain' : 'application/octet-stream',
        attributes: o.info ?? {},
        timestamp: Date.now(),
        sender: this.#d.selfId,
        roomId: this.#d.roomId,
        roomVersion: head.version,
        headHash: head.hash,
        ...(source.size === undefined ? {} : { size: source.size }),
        ...(o.receipts === false ? {} : { receipts: true as const }),
      } as const;
      const header: StreamHeader = text ? { kind: 'text', ...common } : { kind: 'bytes', name: o.name ?? source.name ?? 'unnamed', ...common };
      const streamId = backend().randomBytes(16);
      const key64 = toBase64(streamId);
      const id = base64ToUrl(key64);
      const credit = new OutgoingCredit();
      this.#credits.set(key64, credit);
      const signal = o.signal === undefined ? this.#stop.signal : AbortSignal.any([this.#stop.signal, o.signal]);
      let step: TransferProgress = { id, label, topic: label, current: 0, total: source.size, done: false };
      progress.report(step);
      try {
        const { contentBytes: sent, contentHash } = await sendStream(
          {
            channel: channel.dc as unknown as ChannelLike,
            header,
            headerBytes: encodeHeader(header),
            epoch: key.epoch,
            epochKey: key.key,
            senderId: this.#d.selfId,
            sign: this.#d.sign,
            source: source.blocks(),
            signal,
            onProgress: (current) => {
              step = { ...step, current };
              progress.report(step);
            },
          },
          credit,
          streamId,
        );
        progress.report({ ...step, current: sent, total: sent, done: true });
        if (o.receipts === false) return { id, delivered: [], failed: [] };
        return await this.#delivery(id, streamId, contentHash, sent, credit, o.receiptTimeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS);
      } catch (error) {
        source.cancel();
        throw this.#error ?? error;
      } finally {
        this.#credits.delete(key64);
      }
    };
    const result = run();
    result.catch((error: unknown) => progress.fail(error));
    return { source: progress.source, result };
  }
}
