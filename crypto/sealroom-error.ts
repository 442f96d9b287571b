/**
 * The one error base of sealroom (crypto is the bottom layer, so it lives here; protocol/errors.ts
 * re-exports it). Every error thrown by the crypto module, the Endpoint library and
 * the Bridge extends it, carries a stable string `code` that callers and tests match on, and may carry
 * a `cause`. Messages say what was expected and what arrived; they never contain a key, a token or
 * plaintext (STYLE.md, rule 2).
 */
export class SealroomError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Turns a reason such as `DecryptFailed` into the stable code suffix `DECRYPT_FAILED`. */
export function reasonToCode(prefix: string, reason: string): string {
  return `${prefix}_${reason.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}
