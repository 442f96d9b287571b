/**
 * The receipt message and its check (docs/protocol/receipts.md), with real Ed25519: a receipt
 * verifies only for the exact (room, stream, content hash, length, sender, receiver, time) it was
 * signed over, under the receiver's key, and only as a receipt (its domain tag).
 */
import { describe, expect, it } from 'vitest';
import { backend } from '../../../crypto/backend/index.ts';
import { lengthPrefixed, toBase64, u64be, utf8 } from '../../../crypto/bytes.ts';
import { DOMAIN } from '../../../crypto/domains.ts';
import { receiptMessage, verifyReceipt, type ReceiptFields } from './receipt.ts';

const b = backend();
const fields: ReceiptFields = {
  roomId: 'room_1',
  streamId: new Uint8Array(16).fill(7),
  contentHash: b.hash('sha256', utf8('content')),
  contentBytes: 7,
  senderId: 'alice',
  receiverId: 'bob',
  at: 1_733_400_000_000,
};

async function signed(f: ReceiptFields = fields) {
  const seed = b.randomBytes(32);
  const publicKey = await b.ed25519PublicKey(seed);
  return { publicKey, signature: toBase64(await b.ed25519Sign(seed, receiptMessage(f))) };
}

describe('receipt message', () => {
  it('is the length-prefixed tuple under its own domain tag', () => {
    expect(receiptMessage(fields)).toEqual(
      lengthPrefixed(utf8(DOMAIN.streamReceipt), utf8('room_1'), fields.streamId, fields.contentHash, u64be(7), utf8('alice'), utf8('bob'), u64be(fields.at)),
    );
    expect(DOMAIN.streamReceipt).toBe('sealroom/v1/stream-receipt');
  });

  it('verifies for exactly what was signed, under the receiver key', async () => {
    const { publicKey, signature } = await signed();
    expect(await verifyReceipt(fields, signature, publicKey)).toBe(true);
    const changed: Array<Partial<ReceiptFields>> = [
      { roomId: 'room_2' },
      { streamId: new Uint8Array(16).fill(8) },
      { contentHash: b.hash('sha256', utf8('other')) },
      { contentBytes: 8 },
      { senderId: 'carol' },
      { receiverId: 'carol' },
      { at: fields.at + 1 },
    ];
    for (const change of changed) expect(await verifyReceipt({ ...fields, ...change }, signature, publicKey), JSON.stringify(Object.keys(change))).toBe(false);
    const other = await signed();
    expect(await verifyReceipt(fields, signature, other.publicKey)).toBe(false);
  });

  it('refuses malformed signatures without throwing', async () => {
    const { publicKey, signature } = await signed();
    const bytes = Uint8Array.from(atob(signature), (c) => c.charCodeAt(0));
    expect(await verifyReceipt(fields, toBase64(bytes.subarray(0, 63)), publicKey)).toBe(false);
    expect(await verifyReceipt(fields, '!!not base64!!', publicKey)).toBe(false);
    expect(await verifyReceipt(fields, '', publicKey)).toBe(false);
  });

  it('a signature over another domain does not pass as a receipt', async () => {
    const seed = b.randomBytes(32);
    const publicKey = await b.ed25519PublicKey(seed);
    const message = receiptMessage(fields);
    const tag = utf8(DOMAIN.streamReceipt);
    // The same bytes under the stream-signature tag (same length): refused.
    const swapped = message.slice();
    swapped.set(utf8(DOMAIN.streamSignature.padEnd(tag.length, '/')).subarray(0, tag.length), 4);
    const signature = toBase64(await b.ed25519Sign(seed, swapped));
    expect(await verifyReceipt(fields, signature, publicKey)).toBe(false);
  });
});
