/** Text streams never split a character: pieces end on UTF-8 boundaries, whatever the text. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { utf8PieceEnd } from './utf8.ts';

const fatal = new TextDecoder('utf-8', { fatal: true });

function pieces(bytes: Uint8Array, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = utf8PieceEnd(bytes, start, max);
    out.push(bytes.subarray(start, end));
    start = end;
  }
  return out;
}

describe('utf8PieceEnd', () => {
  it('keeps emoji, CJK and combining marks whole at every cut size', () => {
    const text = 'a€😀漢字e\u0301👩‍👩‍👧🇫🇷z'.repeat(20);
    const bytes = utf8(text);
    for (let max = 4; max <= 40; max++) {
      const parts = pieces(bytes, max);
      expect(parts.every((p) => p.length <= max && p.length > 0)).toBe(true);
      expect(parts.map((p) => fatal.decode(p)).join('')).toBe(text);
    }
  });

  it('holds for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 4, max: 64 }), (text, max) => {
        const parts = pieces(utf8(text), max);
        return parts.map((p) => fatal.decode(p)).join('') === text;
      }),
    );
  });
});
