/** UTF-8 boundaries, so a text stream never puts part of a multi-byte sequence in a chunk. */

/** True for a UTF-8 continuation byte (0b10xxxxxx): a character does not start here. */
function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/**
 * The end of the next piece of `bytes` from `start`: at most `maxBytes` long, and on a character
 * boundary (a sequence is at most 4 bytes, so `maxBytes` >= 4 always makes progress). For valid UTF-8.
 * @example utf8PieceEnd(utf8('a€'), 0, 2) // 1: the euro sign's 3 bytes are not split
 */
export function utf8PieceEnd(bytes: Uint8Array, start: number, maxBytes: number): number {
  let end = Math.min(bytes.length, start + maxBytes);
  if (end === bytes.length) return end;
  while (end > start && isContinuation(bytes[end]!)) end--;
  // Only invalid input (a run of continuation bytes) gets here; cut it anywhere rather than loop.
  return end === start ? Math.min(bytes.length, start + maxBytes) : end;
}

/** The end of the next piece of plain bytes: `maxBytes` long, or what is left. */
export function bytePieceEnd(bytes: Uint8Array, start: number, maxBytes: number): number {
  return Math.min(bytes.length, start + maxBytes);
}
