/** Assertions on crypto errors shared by the crypto tests (not part of the library). */
import { expect } from 'vitest';
import { CryptoError, DECRYPT_FAILED_MESSAGE } from './errors.ts';

/** Awaits a promise that must reject with the one integrity error: `DecryptFailed`, its one message. */
export async function expectDecryptFailed(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CryptoError);
  expect(error).toMatchObject({ reason: 'DecryptFailed', message: DECRYPT_FAILED_MESSAGE });
}
