/**
 * The sending side of a RemotePeer (remote-peer.ts): one sealed, signed stream out on an open channel
 * (./direct-stream.ts) and, when it asked for one, the reader's signed receipt, checked against the
 * reader's key in the verified room.
 */
import { toBase64 } from '../../crypto/bytes.ts';
import { encodeHeader, STREAM_HEADER_VERSION, type StreamHeader } from '../data-streams/header.ts';
import { base64ToUrl } from '../data-streams/ids.ts';
import { verifyReceipt } from '../data-streams/receipts/receipt.ts';
import type { StreamRecipients } from '../data-streams/stream-crypto.ts';
import type { SendResult } from '../data-streams/web-streams/types.ts';
import { OutgoingCredit, sendStream, type ChannelLike } from './direct-stream.ts';
import { PeerError } from './errors.ts';
import type { RemotePeerDeps } from './remote-peer.ts';

/**
 * The channel that carries StreamApi streams sent with a direct path (`send`, `sendFile`, `streamBytes`;
 * docs/protocol/peer-signalling.md, "Path selection"): the receiver hands them to its byte-stream
 * handlers by topic, as if they came off the relay. Labels with the `sealroom:` prefix are reserved.
 */
export const STREAMS_CHANNEL = 'sealroom:streams';
/** How long `send` waits for the reader's signed receipt after the end, by default. Milliseconds. */
export const DEFAULT_RECEIPT_TIMEOUT_MS = 10_000;

/** One StreamApi stream on STREAMS_CHANNEL (the sender's side of a direct path). */
export interface AppStreamParams {
  /** 16 random bytes, picked by the caller so that it knows the id before the first byte. */
  streamId: Uint8Array;
  topic: string;
  name: string;
  mimeType: string;
  attributes: Record<string, string>;
  size: number | undefined;
  receipts: boolean;
  receiptTimeoutMs: number | undefined;
  source: AsyncIterable<Uint8Array>;
  signal: AbortSignal | undefined;
  onProgress(sent: number): void;
}

/** A stream under way: `ended` once its signed end (or abort) is out, `rejected` if the reader has no handler for it. */
export interface StreamSending {
  ended: Promise<'ended' | 'rejected'>;
  result: Promise<SendResult>;
}

/** What a PeerSender needs from its RemotePeer. */
export interface PeerSenderDeps {
  peer: Pick<RemotePeerDeps, 'roomId' | 'userId' | 'selfId' | 'sign' | 'currentKey' | 'head' | 'peerPublicKey'>;
  /** The credit of each stream under way, by its base64 id; the peer's channel readers feed it. */
  credits: Map<string, OutgoingCredit>;
  /** Aborted when the peer ends. */
  stop: AbortSignal;
  /** The channel of `label`, if the peer has it. */
  channel(label: string): RTCDataChannel | undefined;
  /** Why the peer ended, once it has. */
  error(): PeerError | undefined;
}

export class PeerSender {
  readonly #d: PeerSenderDeps;
  readonly #peer: PeerSenderDeps['peer'];

  constructor(deps: PeerSenderDeps) {
    this.#d = deps;
    this.#peer = deps.peer;
  }

  /**
   * Sends one sealed, signed stream on an open channel (./direct-stream.ts) and, when it asked for one,
   * waits for the reader's signed receipt. A REJECT (the reader has no handler) ends it as `rejected`.
   */
  async stream(
    label: string,
    streamId: Uint8Array,
    header: (common: Omit<StreamHeader, 'kind' | 'name'>) => StreamHeader,
    p: Omit<AppStreamParams, 'streamId' | 'name'>,
  ): Promise<StreamSending> {
    const channel = this.#d.channel(label);
    const key = this.#peer.currentKey();
    const head = await this.#peer.head();
    if (channel === undefined) throw this.#d.error() ?? new PeerError('ConnectionFailed', `the "${label}" channel is not open`);
    if (key === undefined || head === undefined) throw new PeerError('NotMember', `no key for room "${this.#peer.roomId}"`);
    // StreamApi streams go to exactly this member: private, as over the relay (a random key wrapped to
    // its key in the verified room; docs/protocol/peer-signalling.md). Channels of `peer.send`: the room's key.
    let keying: { epochKey: Uint8Array } | { recipients: StreamRecipients } = { epochKey: key.key };
    if (label === STREAMS_CHANNEL) {
      const recipientPublicKey = await this.#peer.peerPublicKey();
      if (recipientPublicKey === undefined) throw new PeerError('NotMember', `"${this.#peer.userId}" is not a member of room "${this.#peer.roomId}"`);
      keying = { recipients: { roomId: this.#peer.roomId, list: [{ recipientId: this.#peer.userId, recipientPublicKey }] } };
    }
    const h = header({
      v: STREAM_HEADER_VERSION,
      topic: p.topic,
      mimeType: p.mimeType,
      attributes: p.attributes,
      timestamp: Date.now(),
      sender: this.#peer.selfId,
      roomId: this.#peer.roomId,
      roomVersion: head.version,
      headHash: head.hash,
      ...(p.size === undefined ? {} : { size: p.size }),
      ...(p.receipts ? { receipts: true as const } : {}),
    });
    const headerBytes = encodeHeader(h);
    const key64 = toBase64(streamId);
    const id = base64ToUrl(key64);
    const credit = new OutgoingCredit();
    this.#d.credits.set(key64, credit);
    const signal = p.signal === undefined ? this.#d.stop : AbortSignal.any([this.#d.stop, p.signal]);
    const sent = sendStream(
      {
        channel: channel as unknown as ChannelLike,
        header: h,
        headerBytes,
        epoch: key.epoch,
        keying,
        senderId: this.#peer.selfId,
        sign: this.#peer.sign,
        source: p.source,
        signal,
        onProgress: p.onProgress,
      },
      credit,
      streamId,
    ).catch((error: unknown) => {
      if (credit.rejected && this.#d.error() === undefined && p.signal?.aborted !== true) return 'rejected' as const;
      throw this.#d.error() ?? error;
    });
    const ended = sent.then((r) => (r === 'rejected' ? r : ('ended' as const)));
    const userId = this.#peer.userId;
    const result = sent
      .then((r): SendResult | Promise<SendResult> => {
        if (r === 'rejected') return { id, delivered: [], failed: [{ userId, reason: 'rejected' }] };
        if (!p.receipts) return { id, delivered: [], failed: [] };
        return this.#delivery(id, streamId, r.contentHash, r.contentBytes, credit, p.receiptTimeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS);
      })
      .finally(() => this.#d.credits.delete(key64));
    ended.catch(() => undefined);
    result.catch(() => undefined);
    return { ended, result };
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
    const userId = this.#peer.userId;
    const deadline = AbortSignal.any([this.#d.stop, AbortSignal.timeout(timeoutMs)]);
    while (credit.receipt === undefined && !credit.rejected && !deadline.aborted) await credit.next(deadline);
    const receipt = credit.receipt;
    // REJECT after the end: the reader has no handler for it (as `rejected` on the relay).
    if (receipt === undefined && credit.rejected) return { id, delivered: [], failed: [{ userId, reason: 'rejected' }] };
    if (receipt === undefined) return { id, delivered: [], failed: [{ userId, reason: 'no_receipt' }] };
    const publicKey = await this.#peer.peerPublicKey();
    const fields = { roomId: this.#peer.roomId, streamId, contentHash, contentBytes, senderId: this.#peer.selfId, receiverId: userId, at: receipt.at };
    const valid = publicKey !== undefined && (await verifyReceipt(fields, toBase64(receipt.signature), publicKey));
    return valid ? { id, delivered: [{ userId, at: receipt.at }], failed: [] } : { id, delivered: [], failed: [{ userId, reason: 'invalid_receipt' }] };
  }
}
