/**
 * Delivery receipts (docs/protocol/receipts.md): a receiver that read a byte stream to its verified end
 * sends a receipt it signed with its own key; the Bridge relays it to the stream's sender and nothing
 * else. It cannot forge one (it has no member's key) and it never reads one: it only checks who may
 * send it, and bounds how many.
 *
 * When a stream's last chunk passes, the Bridge remembers, for `RECEIPT_WINDOW_MS`, which connections
 * were still its receivers: only those may send a receipt for it, once each, and only to its sender.
 * A connection that was never a receiver, was cut before the end, or sends a second receipt gets a
 * coded error (`NOT_A_RECEIVER`, `RECEIPT_EXISTS`). What is remembered is bounded: at most
 * `RECEIPT_STREAMS_PER_CONNECTION` ended streams per sending connection (the oldest is forgotten
 * first), each with the ids of its receivers, and all of it goes when the sender disconnects.
 */
import type { ClientRequest } from '../../../protocol/ws.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';
import { monotonicMs, type ByteStream, type Participant, type RelayCounters } from './state.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;

/** How long after a stream's end its receivers may still send receipts. Milliseconds. */
export const RECEIPT_WINDOW_MS = 120_000;
/** Ended streams per sending connection whose receipts are still relayed; past it the oldest is dropped. */
export const RECEIPT_STREAMS_PER_CONNECTION = 256;

interface Slot {
  readonly streamNo: number;
  readonly streamId: string;
  readonly sender: Participant;
  /** Monotonic ms after which no receipt is relayed. */
  readonly until: number;
  /** Receiving connections at the end, by connection id: true once it sent its receipt. */
  readonly receivers: Map<string, boolean>;
  /** Receivers that have not sent theirs yet. */
  waiting: number;
}

export class ReceiptsRelay {
  private readonly slots = new Map<number, Slot>();
  /** Slots by sending connection id, oldest first. */
  private readonly bySender = new Map<string, number[]>();

  /** `counters`: the relay's receipt totals, for /metrics. */
  constructor(private readonly counters: RelayCounters['receipts'] = { relayed: 0, refused: {} }) {}

  /** A stream's last chunk was forwarded: its receivers at this moment may send receipts. */
  ended(bs: ByteStream): void {
    if (bs.receivers.size === 0) return;
    const receivers = new Map<string, boolean>();
    for (const p of bs.receivers.keys()) receivers.set(p.conn.id, false);
    const senderId = bs.sender.conn.id;
    const list = this.bySender.get(senderId) ?? [];
    const now = monotonicMs();
    // Expired and overflowing slots go first; the list is in end order, so expired ones lead.
    while (list.length > 0 && (list.length >= RECEIPT_STREAMS_PER_CONNECTION || (this.slots.get(list[0]!)?.until ?? 0) < now)) {
      this.slots.delete(list.shift()!);
    }
    list.push(bs.streamNo);
    this.bySender.set(senderId, list);
    this.slots.set(bs.streamNo, {
      streamNo: bs.streamNo,
      streamId: bs.streamId,
      sender: bs.sender,
      until: now + RECEIPT_WINDOW_MS,
      receivers,
      waiting: receivers.size,
    });
  }

  /** A streamNo that still takes receipts is not handed out again (numbers.ts wraps after 2^32). */
  has(streamNo: number): boolean {
    return this.slots.has(streamNo);
  }

  /** Ended streams whose receipts are still relayed (for stats and tests). */
  get size(): number {
    return this.slots.size;
  }

  /** A receiver's receipt: relayed to the stream's sender as it came, with the receiver's user id. */
  receipt(conn: Pick<RealtimeConnection, 'id' | 'userId'>, req: Req<'byteStreamReceipt'>): void {
    const slot = this.slots.get(req.streamNo);
    const sent = slot === undefined || slot.streamId !== req.streamId || slot.until < monotonicMs() ? undefined : slot.receivers.get(conn.id);
    if (slot === undefined || sent === undefined) {
      this.#refused('NOT_A_RECEIVER');
      throw new BridgeError(
        'NOT_A_RECEIVER',
        `expected a receipt for a stream this connection received to its end within the last ${RECEIPT_WINDOW_MS} ms, got streamNo ${req.streamNo}`,
      );
    }
    if (sent) {
      this.#refused('RECEIPT_EXISTS');
      throw BridgeError.conflict('RECEIPT_EXISTS', `expected one receipt per receiving connection, streamNo ${req.streamNo} already has this connection's`);
    }
    slot.receivers.set(conn.id, true);
    slot.waiting--;
    slot.sender.conn.event({
      type: 'byteStreamReceipt',
      streamNo: slot.streamNo,
      streamId: slot.streamId,
      userId: conn.userId,
      at: req.at,
      signature: req.signature,
    });
    this.counters.relayed++;
    if (slot.waiting === 0) this.drop(slot);
  }

  #refused(code: string): void {
    this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
  }

  /** The sending connection is gone: nobody is left to relay its receipts to. */
  senderGone(connectionId: string): void {
    for (const streamNo of this.bySender.get(connectionId) ?? []) this.slots.delete(streamNo);
    this.bySender.delete(connectionId);
  }

  private drop(slot: Slot): void {
    this.slots.delete(slot.streamNo);
    const list = this.bySender.get(slot.sender.conn.id);
    if (list === undefined) return;
    const at = list.indexOf(slot.streamNo);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.bySender.delete(slot.sender.conn.id);
  }
}
