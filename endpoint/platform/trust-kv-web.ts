/**
 * Browsers: trust entries in IndexedDB (database `sealroom-trust`, store `entries`, key
 * `<namespace>/<key>`). Each write is one readwrite transaction, which IndexedDB commits all or
 * nothing. Where IndexedDB is missing, every call fails (`TrustStoreFailed` above it): pass a
 * `trustStore` (a `MemoryTrustStore`, knowingly) instead.
 *
 * The hold is a Web Lock (`sealroom-trust/<namespace>`), shared by every tab, window and worker of the
 * origin and released by the browser when its holder goes away (a closed or crashed tab).
 */
import type { OpenTrustKv, TrustKv } from './trust-kv.ts';

const DB_NAME = 'sealroom-trust';
const STORE = 'entries';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function openDatabase(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new Error('IndexedDB is not available in this runtime'));
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
  };
  return request(req);
}

export const openTrustKv: OpenTrustKv = ({ namespace }) => {
  let db: Promise<IDBDatabase> | undefined;
  const database = () => {
    db ??= openDatabase().catch((error: unknown) => {
      db = undefined;
      throw error;
    });
    return db;
  };
  const run = async <T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest<T>, durable = false): Promise<T> => {
    const tx = (await database()).transaction(STORE, mode, { durability: durable ? 'strict' : 'default' });
    const result = request(body(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  };
  const id = (key: string) => `${namespace}/${key}`;
  const kv: TrustKv = {
    id: `indexeddb:${DB_NAME}/${namespace}`,
    async read(key) {
      const value = await run('readonly', (store) => store.get(id(key)) as IDBRequest<unknown>);
      return typeof value === 'string' ? value : undefined;
    },
    async write(key, value, durable) {
      await run('readwrite', (store) => store.put(value, id(key)), durable);
    },
    async remove(key) {
      await run('readwrite', (store) => store.delete(id(key)));
    },
    hold(onLost) {
      const locks = (globalThis.navigator as Navigator | undefined)?.locks;
      if (locks === undefined) return Promise.reject(new Error('Web Locks are not available in this runtime'));
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      return new Promise((resolve, reject) => {
        let taken = false;
        locks
          .request(`sealroom-trust/${namespace}`, { ifAvailable: true }, async (lock) => {
            if (lock === null) {
              reject(Object.assign(new Error('held by another tab, window or worker'), { code: 'ELOCKED' }));
              return;
            }
            taken = true;
            resolve({
              release: async () => {
                release();
              },
            });
            await released;
          })
          .catch((error: unknown) => {
            // Before the lock: the request failed. After: the lock was taken from us (`steal`).
            if (taken) onLost(error instanceof Error ? error : new Error(String(error)));
            else reject(error);
          });
      });
    },
  };
  return kv;
};
