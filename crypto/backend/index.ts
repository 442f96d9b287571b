/**
 * Picks the backend for this runtime. `#crypto-backend` resolves through the `imports` map in
 * package.json: the Node build gets node:crypto, everything else (browsers, bundlers) gets WebCrypto.
 * Callers may pass another backend explicitly, which is how tests cross-check all three.
 */
import { bulkBackend, defaultBackend } from '#crypto-backend';
import type { CryptoBackend } from './types.ts';

export type { AeadKey, BulkCrypto, BulkStream, CryptoBackend, HashName, IncrementalHash, X25519KeyPair } from './types.ts';
// jsBackend and webBackend are exported by crypto/index.ts, not here: every module that asks for the
// active backend imports this file, and loading @noble/ciphers (whose AES builds its tables as it
// loads) or the WebCrypto backend in Node would cost each process's start for a backend it does not use.

let active: CryptoBackend = defaultBackend;

/** The backend that sealroom's crypto uses when a call does not name one. */
export function backend(): CryptoBackend {
  return active;
}

/** Replaces the default backend (for example, `jsBackend` in a runtime without WebCrypto). */
export function setBackend(next: CryptoBackend): void {
  active = next;
}

/**
 * The backend with byte-stream chunk work on the bulk thread (Node: bulk-thread.ts), while the
 * default is in use; undefined where there is none (browsers) or another backend was set.
 */
export function threadedBackend(): CryptoBackend | undefined {
  return active === defaultBackend ? bulkBackend : undefined;
}
