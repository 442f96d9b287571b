/** The default trust store in Node: files under a folder, atomic writes, nothing silently forgotten. */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTrustKv } from '../platform/trust-kv-node.ts';
import { ABSENT_ROOMS_CACHED, PersistentTrustStore, trustNamespace } from './persistent-trust-store.ts';
import type { TrustedRoom, UserPin } from './trust.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-store-'));
  dirs.push(dir);
  return dir;
}

const store = (directory: string, namespace = 'n1') => new PersistentTrustStore(openTrustKv({ directory, namespace }));

const room = (version: number): TrustedRoom => ({
  roomId: 'room_0123456789abcdef',
  contextId: 'ctx',
  head: { version, hash: 'aGFzaA==', signed: { record: `{"v":${version}}`, signature: 'c2ln' } },
  createDate: 1,
  creator: 'alice',
  keySets: [{ version: 1, epoch: 1, root: 'cm9vdA==', size: 2 }],
});

const pin = (userId: string, publicKey: string, verified = false): UserPin => ({
  contextId: 'ctx',
  userId,
  publicKey,
  pinnedAt: 5,
  verified,
  former: [{ publicKey: 'srpk1old', from: null, until: 4 }],
});

describe('PersistentTrustStore over files', () => {
  it('keeps rooms and pins across instances (a restart)', async () => {
    const dir = folder();
    const a = store(dir);
    await a.set(room(1).roomId, room(3));
    await a.setPins([pin('bob', 'srpk1bob'), pin('carol', 'srpk1carol', true)]);
    const b = store(dir);
    expect(await b.get(room(1).roomId)).toEqual(room(3));
    expect(await b.getPin('ctx', 'bob')).toEqual(pin('bob', 'srpk1bob'));
    expect(await b.getPin('ctx', 'carol')).toEqual(pin('carol', 'srpk1carol', true));
    expect(await b.getPin('ctx', 'dave')).toBeUndefined();
    expect(await b.getPin('other', 'bob')).toBeUndefined();
    await b.delete(room(1).roomId);
    expect(await store(dir).get(room(1).roomId)).toBeUndefined();
  });

  it('writes each entry atomically: the newest of many quick writes wins, no temporary file is left', async () => {
    const dir = folder();
    const s = store(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.set(room(1).roomId, room(i + 1))));
    expect((await store(dir).get(room(1).roomId))?.head.version).toBe(50);
    const files = readdirSync(join(dir, 'n1'));
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files).toHaveLength(1);
    // Private: a 0700 folder, 0600 files (POSIX).
    expect(statSync(join(dir, 'n1')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'n1', files[0]!)).mode & 0o777).toBe(0o600);
    // No id in a file name.
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.json$/);
  });

  it(`remembers at most ${ABSENT_ROOMS_CACHED} rooms as absent: a Bridge that names endless room ids does not grow it`, async () => {
    const dir = folder();
    const a = store(dir);
    const first = room(1).roomId;
    expect(await a.get(first)).toBeUndefined();
    // Written behind a's back (as a test can): a still remembers the room as absent...
    await store(dir).set(first, room(2));
    expect(await a.get(first)).toBeUndefined();
    // ...until as many other absent rooms pushed it out; then it is read again.
    for (let i = 0; i < ABSENT_ROOMS_CACHED; i++) expect(await a.get(`room_absent_${String(i).padStart(8, '0')}`)).toBeUndefined();
    expect(await a.get(first)).toEqual(room(2));
  });

  it('separates identities that share a folder', async () => {
    const dir = folder();
    await store(dir, trustNamespace('sol', 'srpk1a')).setPins([pin('bob', 'srpk1bob')]);
    expect(await store(dir, trustNamespace('sol', 'srpk1b')).getPin('ctx', 'bob')).toBeUndefined();
    expect(await store(dir, trustNamespace('sol', 'srpk1a')).getPin('ctx', 'bob')).toEqual(pin('bob', 'srpk1bob'));
  });

  it('fails with TrustStoreFailed on a damaged entry rather than treating it as absent (which would re-pin)', async () => {
    const dir = folder();
    await store(dir).setPins([pin('bob', 'srpk1bob')]);
    const [file] = readdirSync(join(dir, 'n1'));
    const path = join(dir, 'n1', file!);
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 20));
    await expect(store(dir).getPin('ctx', 'bob')).rejects.toMatchObject({ reason: 'TrustStoreFailed', code: 'ERR_ENDPOINT_TRUST_STORE_FAILED' });
    writeFileSync(path, JSON.stringify({ format: 1, contextId: 'ctx', users: { bob: { userId: 'bob' } } }));
    await expect(store(dir).getPin('ctx', 'bob')).rejects.toMatchObject({ reason: 'TrustStoreFailed' });
  });

  it.skipIf(process.getuid?.() === 0)('fails with TrustStoreFailed when the folder cannot be written', async () => {
    const dir = folder();
    mkdirSync(join(dir, 'n1'));
    chmodSync(join(dir, 'n1'), 0o500);
    await expect(store(dir).set(room(1).roomId, room(1))).rejects.toMatchObject({ reason: 'TrustStoreFailed' });
  });

  it('fails with TrustStoreFailed when the folder is a file', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'n1'), 'not a folder');
    await expect(store(dir).set(room(1).roomId, room(1))).rejects.toMatchObject({ reason: 'TrustStoreFailed' });
    await expect(store(dir).get(room(1).roomId)).rejects.toMatchObject({ reason: 'TrustStoreFailed' });
  });
});
