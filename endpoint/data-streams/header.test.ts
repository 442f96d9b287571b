/** The encrypted stream header: strict parsing, the sender and room checks, and its size limit. */
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { DataStreamError } from './errors.ts';
import { decodeHeader, encodeHeader, type StreamHeader } from './header.ts';
import { STREAM_HEADER_MAX_BYTES } from './limits.ts';

const ROOM = 'room_0123456789abcdef';
const HEAD_HASH = Buffer.alloc(32, 7).toString('base64');
const header: StreamHeader = {
  v: 2,
  kind: 'bytes',
  topic: 'files',
  name: 'report.pdf',
  mimeType: 'application/pdf',
  size: 1234,
  attributes: { a: 'b' },
  timestamp: 1_700_000_000_000,
  sender: 'alice',
  roomId: ROOM,
  roomVersion: 3,
  headHash: HEAD_HASH,
};
const alice = { senderId: 'alice', roomId: ROOM };

function refusal(fn: () => unknown): DataStreamError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DataStreamError) return error;
    throw error;
  }
  throw new Error('expected a DataStreamError');
}

describe('stream header', () => {
  it('round-trips bytes and text headers', () => {
    expect(decodeHeader(encodeHeader(header), alice)).toEqual(header);
    const text: StreamHeader = {
      v: 2,
      kind: 'text',
      topic: 'chat',
      mimeType: 'text/plain',
      attributes: {},
      timestamp: 1,
      sender: 'bob',
      roomId: ROOM,
      roomVersion: 1,
      headHash: HEAD_HASH,
    };
    expect(decodeHeader(encodeHeader(text), { senderId: 'bob', roomId: ROOM })).toEqual(text);
  });

  it('refuses a header that names another sender or room than the Bridge does', () => {
    const error = refusal(() => decodeHeader(encodeHeader(header), { ...alice, senderId: 'mallory' }));
    expect(error.reason).toBe('Integrity');
    expect(error.code).toBe('ERR_DATA_STREAM_INTEGRITY');
    expect(refusal(() => decodeHeader(encodeHeader(header), { ...alice, roomId: 'room_fedcba9876543210' })).reason).toBe('Integrity');
  });

  it.each([
    ['another version', { ...header, v: 1 }],
    ['no room view', { ...header, roomVersion: undefined, headHash: undefined }],
    ['a room version of 0', { ...header, roomVersion: 0 }],
    ['a head hash of 31 bytes', { ...header, headHash: Buffer.alloc(31).toString('base64') }],
    ['an unknown key', { ...header, extra: 1 }],
    ['a text header with a name', { ...header, kind: 'text' }],
    ['an unknown kind', { ...header, kind: 'video' }],
    ['an empty topic', { ...header, topic: '' }],
    ['a negative size', { ...header, size: -1 }],
    ['a fractional size', { ...header, size: 1.5 }],
    ['a non-string attribute', { ...header, attributes: { a: 1 } }],
    ['65 attributes', { ...header, attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }],
    ['a name over 255 UTF-8 bytes', { ...header, name: 'é'.repeat(128) }],
    ['a bad sender id', { ...header, sender: 'al ice' }],
  ])('refuses %s as Malformed', (_what, value) => {
    const error = refusal(() => decodeHeader(utf8(JSON.stringify(value)), alice));
    expect(error.reason).toBe('Malformed');
  });

  it('refuses bytes that are not UTF-8 JSON', () => {
    expect(refusal(() => decodeHeader(utf8('{"v":2'), alice)).reason).toBe('Malformed');
    expect(refusal(() => decodeHeader(Uint8Array.of(0xff, 0xfe), alice)).reason).toBe('Malformed');
  });

  it(`limits the header to ${STREAM_HEADER_MAX_BYTES} bytes on both sides`, () => {
    const big = { ...header, attributes: { blob: 'x'.repeat(STREAM_HEADER_MAX_BYTES) } };
    const sending = refusal(() => encodeHeader(big));
    expect(sending.reason).toBe('LengthExceeded');
    const receiving = refusal(() => decodeHeader(utf8(JSON.stringify(big)), alice));
    expect(receiving.reason).toBe('Malformed');
    expect(receiving.message).toContain(`at most ${STREAM_HEADER_MAX_BYTES} bytes`);
    // Just under the limit is fine.
    const room = STREAM_HEADER_MAX_BYTES - encodeHeader({ ...header, attributes: { blob: '' } }).length;
    const fits = { ...header, attributes: { blob: 'x'.repeat(room) } };
    expect(encodeHeader(fits).length).toBe(STREAM_HEADER_MAX_BYTES);
    expect(decodeHeader(encodeHeader(fits), alice)).toEqual(fits);
  });
});
