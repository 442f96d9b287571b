/**
 * Sender side of delivery receipts (docs/protocol/receipts.md): for one stream, who it was for, which
 * of them proved delivery with a valid signed receipt, and why each of the others did not.
 *
 * Every intended recipient (the destinations, else the verified room's members but the sender) ends
 * in exactly one of `delivered` or `failed`:
 * - `delivered`: a receipt whose signature verifies with that user's key in the verified room, over
 *   this stream's room, id, content hash and length, this sender and that user;
 * - `failed`, with why: `not_connected` (no connection of the user received the stream), the Bridge's
 *   reason for cutting every connection of the user (`too_slow`, `rejected`, `disconnected`, `removed`,
 *   `left`), `invalid_receipt` (only receipts that did not verify came: a Bridge that edits or invents
 *   them), `no_receipt` (nothing came within the wait) or `stream_failed` (the stream did not end).
 * A receipt that does not verify is never counted, and is logged; a valid one from the same user
 * still counts. The Bridge's claims can make a recipient fail, never make one delivered.
 */
import { decodePublicKey } from '../../../crypto/identity.ts';
import { membersOf } from '../../../protocol/room-chain.ts';
import type { ServerEvent } from '../../../protocol/ws.ts';
import type { Logger } from '../../logger.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import { base64ToUrl, streamIdToUrl } from '../ids.ts';
import type { OutgoingStream } from '../outgoing/outgoing-stream.ts';
import type { DeliveryFailure, DeliveryReport } from '../types.ts';
import { verifyReceipt } from './receipt.ts';

type ReceiptEvent = Extract<ServerEvent, { type: 'byteStreamReceipt' }>;
type DroppedReason = Extract<ServerEvent, { type: 'byteStreamReceiverDropped' }>['reason'];

interface Recipient {
  /** Connections of this user that receive the stream, and how many of them the Bridge cut. */
  connections: number;
  cut: number;
  lastCut: DroppedReason | undefined;
  invalid: boolean;
  outcome: { at: number } | { reason: DeliveryFailure } | undefined;
}

export interface CollectorDeps {
  rooms: RoomApi;
  log: Logger;
  roomId: string;
  streamId: Uint8Array;
  senderId: string;
  /** Who the stream is for. */
  intended: string[];
  stream: OutgoingStream;
}

export class ReceiptCollector {
  private readonly recipients = new Map<string, Recipient>();
  private done: ((report: DeliveryReport) => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private settled = false;

  constructor(private readonly d: CollectorDeps) {
    const counts = new Map<string, number>();
    for (const id of d.stream.receiverIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const userId of d.intended) {
      const connections = counts.get(userId) ?? 0;
      this.recipients.set(userId, {
        connections,
        cut: 0,
        lastCut: undefined,
        invalid: false,
        outcome: connections === 0 ? { reason: 'not_connected' } : undefined,
      });
    }
  }

  /** The Bridge cut one receiving connection of `userId`: the user failed once all of them are cut. */
  dropped(userId: string, reason: DroppedReason): void {
    const r = this.recipients.get(userId);
    if (r === undefined || r.outcome !== undefined) return;
    r.cut++;
    r.lastCut = reason;
    if (r.cut >= r.connections) r.outcome = { reason };
    this.check();
  }

  /** A receipt the Bridge relayed: counted only once its signature verifies. */
  async receipt(event: ReceiptEvent): Promise<void> {
    const r = this.recipients.get(event.userId);
    if (r === undefined) {
      this.d.log.debug({ userId: event.userId }, 'a receipt from a user the stream was not for; ignored');
      return;
    }
    if (this.settled || (r.outcome !== undefined && 'at' in r.outcome)) {
      // Nothing it could change: not verified again, so a Bridge that repeats receipts costs no signature checks.
      this.d.log.debug({ userId: event.userId }, 'a receipt for a recipient already delivered, or a report already made; ignored');
      return;
    }
    if (await this.verifies(event)) {
      if (r.outcome === undefined || !('at' in r.outcome)) r.outcome = { at: event.at };
    } else {
      r.invalid = true;
      this.d.log.warn({ userId: event.userId, streamId: base64ToUrl(event.streamId) }, 'a delivery receipt did not verify; not counted');
    }
    this.check();
  }

  /**
   * The stream ended (its signed end is out): resolves once every intended recipient has an outcome,
   * or after `timeoutMs`, when those still waiting fail with `no_receipt` (or `invalid_receipt`).
   */
  report(timeoutMs: number): Promise<DeliveryReport> {
    const promise = new Promise<DeliveryReport>((resolve) => (this.done = resolve));
    this.timer = setTimeout(() => this.finish('no_receipt'), timeoutMs);
    (this.timer as { unref?: () => void }).unref?.();
    this.check();
    return promise;
  }

  /** The stream failed before its end: every recipient still waiting fails with `stream_failed`. */
  failed(): DeliveryReport {
    return this.finish('stream_failed');
  }

  private async verifies(event: ReceiptEvent): Promise<boolean> {
    const { stream, roomId, streamId, senderId } = this.d;
    if (stream.contentHash === undefined || base64ToUrl(event.streamId) !== streamIdToUrl(streamId)) return false;
    const publicKey = await this.keyOf(event.userId);
    if (publicKey === undefined) return false;
    const fields = { roomId, streamId, contentHash: stream.contentHash, contentBytes: stream.contentBytes, senderId, receiverId: event.userId, at: event.at };
    return verifyReceipt(fields, event.signature, publicKey);
  }

  /** The user's key in the verified room (read again once, if it is not there yet). */
  private async keyOf(userId: string): Promise<Uint8Array | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const head = await this.d.rooms.trustedHead(this.d.roomId).catch(() => undefined);
      const key = head === undefined ? undefined : membersOf(head.record).get(userId);
      if (key !== undefined) return decodePublicKey(key);
      if (attempt === 0) await this.d.rooms.getStreamRoom(this.d.roomId).catch(() => undefined);
    }
    return undefined;
  }

  private check(): void {
    if (this.done !== undefined && [...this.recipients.values()].every((r) => r.outcome !== undefined)) this.finish('no_receipt');
  }

  private finish(waiting: 'no_receipt' | 'stream_failed'): DeliveryReport {
    clearTimeout(this.timer);
    const report: DeliveryReport = { streamId: streamIdToUrl(this.d.streamId), delivered: [], failed: [] };
    for (const [userId, r] of this.recipients) {
      const outcome = r.outcome ?? { reason: waiting === 'no_receipt' && r.invalid ? 'invalid_receipt' : waiting };
      if ('at' in outcome) report.delivered.push({ userId, at: outcome.at });
      else report.failed.push({ userId, reason: outcome.reason });
    }
    if (!this.settled) {
      this.settled = true;
      this.done?.(report);
    }
    return report;
  }
}
