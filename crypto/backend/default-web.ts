import type { CryptoBackend } from './types.ts';

export { webBackend as defaultBackend } from './web.ts';

/** Browsers have no bulk thread (WebCrypto already runs AES-GCM off the main thread). */
export const bulkBackend: CryptoBackend | undefined = undefined;
