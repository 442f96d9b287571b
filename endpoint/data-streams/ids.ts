/** Stream ids: 16 random bytes, base64 on the wire (protocol/ws.ts) and base64url in `info.id`. */
import { toBase64 } from '../../crypto/bytes.ts';

/** base64 (with padding) to base64url (without). */
export function base64ToUrl(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function streamIdToUrl(streamId: Uint8Array): string {
  return base64ToUrl(toBase64(streamId));
}
