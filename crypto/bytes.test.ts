/** Byte helpers: base64 through Node's Buffer equals the JavaScript encoding browsers use, and decodes strictly back. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toBase64Js } from './bytes.ts';

describe('toBase64', () => {
  it("gives Node's Buffer encoding the JavaScript one's bytes, for every length and for views into larger buffers", () => {
    for (let length = 0; length <= 100; length++) {
      const whole = new Uint8Array(randomBytes(length + 7));
      const view = whole.subarray(3, 3 + length);
      expect(toBase64(view)).toBe(toBase64Js(view));
      expect([...fromBase64(toBase64(view))]).toEqual([...view]);
    }
    expect(toBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
  });
});
