/** Private meta sealing for rooms, on crypto/meta.ts (AES-256-GCM under HKDF(epochKey, "meta")). */
import { openMeta, sealMeta } from '../../crypto/meta.ts';

export interface MetaBinding {
  roomId: string;
  version: number;
  epoch: number;
  epochKey: Uint8Array;
}

export function sealPrivateMeta(binding: MetaBinding, plaintext: Uint8Array): Promise<Uint8Array> {
  return sealMeta({ ...binding, plaintext });
}

export function openPrivateMeta(binding: MetaBinding, sealed: Uint8Array): Promise<Uint8Array> {
  return openMeta({ ...binding, sealed });
}
