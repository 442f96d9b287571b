/**
 * A delivery receipt (docs/protocol/receipts.md): the receiver's Ed25519 signature over
 *
 *   lengthPrefixed(DOMAIN.streamReceipt, roomId, streamId (16 bytes), contentHash (32 bytes),
 *                  u64be(contentBytes), senderId, receiverId, u64be(at))
 *
 * made only after the receiver read the stream to its end and checked the sender's final signature,
 * which covers the same content hash and length (crypto/stream/format.ts). So a valid receipt proves
 * that this receiver, holding its own key, got exactly the content the sender signed. The sender
 * builds the same message from what it sent and checks the signature against the receiver's key in
 * the verified room; the Bridge, which relays receipts, has no member's key and cannot make one.
 */
import { backend } from '../../../crypto/backend/index.ts';
import { fromBase64, lengthPrefixed, toBase64, u64be, utf8 } from '../../../crypto/bytes.ts';
import { DOMAIN } from '../../../crypto/domains.ts';
import type { Connection } from '../../connection.ts';
import { connectionInternals } from '../../internal.ts';

export interface ReceiptFields {
  roomId: string;
  streamId: Uint8Array;
  contentHash: Uint8Array;
  contentBytes: number;
  senderId: string;
  receiverId: string;
  /** When the receiver signed it, ms since the Unix epoch (the receiver's clock). */
  at: number;
}

/** The signed message; both sides build it from their own view of the stream. */
export function receiptMessage(r: ReceiptFields): Uint8Array {
  return lengthPrefixed(
    utf8(DOMAIN.streamReceipt),
    utf8(r.roomId),
    r.streamId,
    r.contentHash,
    u64be(r.contentBytes),
    utf8(r.senderId),
    utf8(r.receiverId),
    u64be(r.at),
  );
}

/**
 * Receiver side: signs a receipt for a stream read to its verified end and hands it to the Bridge for
 * the stream's sender. A refusal (the sender is gone, the stream is too old) is logged, not thrown:
 * the stream itself was delivered whole either way.
 */
export async function sendReceipt(connection: Connection, streamNo: number, fields: Omit<ReceiptFields, 'receiverId' | 'at'>): Promise<void> {
  const at = Date.now();
  try {
    const signature = await connectionInternals(connection).signer.sign(receiptMessage({ ...fields, receiverId: connection.userId, at }));
    await connection.request('byteStreamReceipt', { streamNo, streamId: toBase64(fields.streamId), at, signature: toBase64(signature) });
  } catch (error) {
    connection.log.debug({ streamNo, error: String(error) }, 'a delivery receipt was not sent');
  }
}

/** Sender side: whether `signature` (base64) is `receiverId`'s over the receipt; false for any malformed input. */
export async function verifyReceipt(fields: ReceiptFields, signature: string, receiverPublicKey: Uint8Array): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(signature);
  } catch {
    return false;
  }
  if (bytes.length !== 64) return false;
  return backend().ed25519Verify(bytes, receiptMessage(fields), receiverPublicKey);
}
