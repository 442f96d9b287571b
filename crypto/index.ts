/**
 * `sealroom/crypto`: the primitives and formats of sealroom's security contract (docs/design.md). No I/O;
 * runs in Node 20 and in browsers. Bulk paths use native crypto (node:crypto, WebCrypto) through the
 * backend; @noble is the pure-JS reference.
 */
export { backend, setBackend, type AeadKey, type CryptoBackend, type HashName } from './backend/index.ts';
export { jsBackend } from './backend/js.ts';
export { webBackend } from './backend/web.ts';
export { CryptoError, DECRYPT_FAILED_MESSAGE, type CryptoErrorReason } from './errors.ts';
export { DOMAIN } from './domains.ts';
export {
  decodePrivateKey,
  decodePublicKey,
  encodePrivateKey,
  encodePublicKey,
  generateKeyPair,
  publicKeyOf,
  sign,
  verify,
  x25519PublicFromEd25519,
  x25519SecretFromEd25519,
  type KeyPair,
} from './identity.ts';
export { hkdf, hkdfExpand, hkdfExtract } from './hkdf.ts';
export {
  openBase,
  sealBase,
  setupBaseRecipient,
  setupBaseSender,
  type HpkeAead,
  type HpkeRecipientContext,
  type HpkeRecipientOptions,
  type HpkeSenderContext,
  type HpkeSenderOptions,
} from './hpke.ts';
export {
  decodeWrappedKey,
  encodeWrappedKey,
  unwrapEpochKey,
  wrapEpochKey,
  wrapEpochKeyForMany,
  DEFAULT_WRAP_SUITE,
  EPOCH_KEY_LENGTH_BYTES,
  type WrapSuite,
  type WrappedKey,
  type WrappedEpochKey,
} from './key-wrap.ts';
export { buildKeySet, keySetRoot, leafHash, verifyInclusion, type InclusionProof, type KeySetEntry } from './key-set.ts';
export * from './sframe/index.ts';
