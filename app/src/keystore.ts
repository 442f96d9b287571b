/**
 * Identities kept in this browser (docs/app.md, "How your key is stored"). IndexedDB database
 * `sealroom-app`: store `identities` holds one record per identity (user id, public key, solution,
 * and the private key encrypted with AES-256-GCM); store `wrapping` holds the one wrapping key, a
 * WebCrypto key created non-extractable, which IndexedDB stores as the browser's own object.
 *
 * What that protects against: the private key is never in IndexedDB as text, so a copy of the
 * records (an export, a sync, a devtools dump) does not reveal it, and no script can read the
 * wrapping key's bytes (`exportKey` refuses). What it does not: a script running in this origin can
 * still ask WebCrypto to decrypt (the CSP, no inline or third-party script, is the defence there),
 * and someone with this browser profile's files can take both. The key is never sent anywhere:
 * the Endpoint signs the login challenge with it in this page.
 */
const DB_NAME = 'sealroom-app';
const DB_VERSION = 1;
const IDENTITIES = 'identities';
const WRAPPING = 'wrapping';
const WRAPPING_KEY_ID = 'aes-gcm-256';
/** AES-GCM nonce length, in bytes (NIST SP 800-38D's recommended 96 bits). */
const IV_BYTES = 12;

export interface StoredIdentity {
  /** The public key, `srpk1...`: one record per key. */
  id: string;
  userId: string;
  /** The solution this identity signs in to (set once known: dev mode, or typed by the person). */
  solutionId: string | undefined;
  createdAt: number;
}

interface IdentityRecord extends StoredIdentity {
  iv: Uint8Array<ArrayBuffer>;
  /** AES-256-GCM of the private key text, with the public key as additional data. */
  sealed: ArrayBuffer;
}

export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new KeyStoreError('IndexedDB request failed'));
  });
}

let opened: Promise<IDBDatabase> | undefined;
function database(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new KeyStoreError('this browser has no IndexedDB (private browsing?)'));
  opened ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(IDENTITIES)) db.createObjectStore(IDENTITIES, { keyPath: 'id' });
      if (!db.objectStoreNames.contains(WRAPPING)) db.createObjectStore(WRAPPING);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new KeyStoreError('IndexedDB could not be opened'));
  }).catch((error: unknown) => {
    opened = undefined;
    throw error;
  });
  return opened;
}

async function run<T>(storeName: string, mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const tx = (await database()).transaction(storeName, mode);
  const result = request(body(tx.objectStore(storeName)));
  await new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new KeyStoreError('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new KeyStoreError('IndexedDB transaction aborted'));
  });
  return result;
}

/** The wrapping key: created once, non-extractable, kept in IndexedDB as a CryptoKey object. */
async function wrappingKey(): Promise<CryptoKey> {
  const existing = await run<CryptoKey | undefined>(WRAPPING, 'readonly', (s) => s.get(WRAPPING_KEY_ID) as IDBRequest<CryptoKey | undefined>);
  if (existing !== undefined) return existing;
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  // `add`, not `put`: if another tab created one meanwhile, keep theirs (its records use it).
  try {
    await run(WRAPPING, 'readwrite', (s) => s.add(key, WRAPPING_KEY_ID));
    return key;
  } catch {
    const theirs = await run<CryptoKey | undefined>(WRAPPING, 'readonly', (s) => s.get(WRAPPING_KEY_ID) as IDBRequest<CryptoKey | undefined>);
    if (theirs === undefined) throw new KeyStoreError('the wrapping key could not be stored');
    return theirs;
  }
}

const additionalData = (publicKey: string) => new TextEncoder().encode(`sealroom-app identity v1 ${publicKey}`);

/** Saves (or replaces) an identity; the private key is encrypted before it is written. */
export async function saveIdentity(identity: StoredIdentity, privateKey: string): Promise<void> {
  const key = await wrappingKey();
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: additionalData(identity.id) }, key, new TextEncoder().encode(privateKey));
  const record: IdentityRecord = { ...identity, iv, sealed };
  await run(IDENTITIES, 'readwrite', (s) => s.put(record));
}

export async function listIdentities(): Promise<StoredIdentity[]> {
  const records = await run<IdentityRecord[]>(IDENTITIES, 'readonly', (s) => s.getAll() as IDBRequest<IdentityRecord[]>);
  return records.map(({ id, userId, solutionId, createdAt }) => ({ id, userId, solutionId, createdAt })).sort((a, b) => a.createdAt - b.createdAt);
}

/** The private key of a stored identity, decrypted in this page for `Endpoint.connect`. */
export async function loadPrivateKey(id: string): Promise<string> {
  const record = await run<IdentityRecord | undefined>(IDENTITIES, 'readonly', (s) => s.get(id) as IDBRequest<IdentityRecord | undefined>);
  if (record === undefined) throw new KeyStoreError('no such identity in this browser');
  const key = await wrappingKey();
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv, additionalData: additionalData(record.id) }, key, record.sealed);
    return new TextDecoder().decode(plain);
  } catch {
    throw new KeyStoreError('the stored key could not be decrypted (the browser storage was changed or partly cleared)');
  }
}

export async function setSolution(id: string, solutionId: string): Promise<void> {
  const record = await run<IdentityRecord | undefined>(IDENTITIES, 'readonly', (s) => s.get(id) as IDBRequest<IdentityRecord | undefined>);
  if (record === undefined) throw new KeyStoreError('no such identity in this browser');
  await run(IDENTITIES, 'readwrite', (s) => s.put({ ...record, solutionId }));
}

export async function deleteIdentity(id: string): Promise<void> {
  await run(IDENTITIES, 'readwrite', (s) => s.delete(id));
}
