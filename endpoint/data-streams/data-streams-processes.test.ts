/**
 * Issue 5 with real processes (test/procs/stream-peer.ts), the Bridge in this process: a 200 MB file
 * from one sender process arrives byte-identical at three receiver processes (each through
 * `writeToFile`), and a sender process killed mid-stream (SIGKILL) gives its receivers `AbnormalEnd`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import type { PeerConfig } from '../../test/procs/stream-peer.ts';
import { Peer } from '../../test/procs/stream-peer-process.ts';
import { pub } from '../realtime/test-kit.ts';
import { startKit, type Kit } from './test-kit.ts';

const FILE_BYTES = 200 * 1024 * 1024;

let kit: Kit;
let roomId: string;
let work: string;
const peers: Peer[] = [];
const USERS = ['alice', 'bob', 'carol', 'dave'];

beforeAll(async () => {
  kit = await startKit(USERS);
  const owner = await kit.connect('alice');
  const members = USERS.map((id) => pub(kit.tenant.users[id]!));
  roomId = await owner.streamApi.createStreamRoom(kit.tenant.contextId, members, [members[0]!], utf8('{}'), utf8('files'));
  work = mkdtempSync(join(tmpdir(), 'sealroom-procs-'));
});
afterAll(async () => {
  for (const p of peers) p.child.kill('SIGKILL');
  await kit.close();
  rmSync(work, { recursive: true, force: true });
});

function peer(user: string, config: Omit<PeerConfig, 'url' | 'solutionId' | 'privateKey' | 'roomId'>): Peer {
  const p = new Peer({ url: kit.t.bridge.url, solutionId: kit.tenant.solutionId, privateKey: kit.tenant.users[user]!.privateKey, roomId, ...config });
  peers.push(p);
  return p;
}

/** Writes `bytes` random bytes to `path`; returns their sha256. */
function randomFile(path: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let left = bytes; left > 0; left -= 4 * 1024 * 1024) {
    const block = randomBytes(Math.min(left, 4 * 1024 * 1024));
    hash.update(block);
    writeSync(fd, block);
  }
  closeSync(fd);
  return hash.digest('hex');
}

describe('byte streams between processes', () => {
  it('a 200 MB file arrives byte-identical (sha256) at 3 receiver processes', async () => {
    const source = join(work, 'big.bin');
    const expected = randomFile(source, FILE_BYTES);
    const receivers = ['bob', 'carol', 'dave'].map((user) => {
      const dir = join(work, user);
      mkdirSync(dir);
      return peer(user, { role: 'receive', topic: 'files', dir });
    });
    await Promise.all(receivers.map((r) => r.next('ready')));
    const sender = peer('alice', { role: 'send', topic: 'files', file: source });
    const sent = await sender.next('sent', undefined, 240_000);
    const received = await Promise.all(receivers.map((r) => r.next('received', undefined, 240_000)));
    for (const [i, r] of received.entries()) {
      expect(r).toMatchObject({ id: sent.id, sha256: expected, path: join(work, ['bob', 'carol', 'dave'][i]!, 'big.bin') });
    }
    expect(receivers.map((r) => r.messages.find((m) => m.event === 'opened'))).toEqual(
      receivers.map(() => ({ event: 'opened', id: sent.id, name: 'big.bin', size: FILE_BYTES, from: 'alice' })),
    );
    expect(await sender.exited).toBe(0);
    await Promise.all(receivers.map((r) => r.exited));
  }, 300_000);

  it('a sender process killed mid-stream (SIGKILL) gives its receivers AbnormalEnd', async () => {
    const receiver = peer('bob', { role: 'receive', topic: 'endless' });
    await receiver.next('ready');
    const sender = peer('alice', { role: 'stream', topic: 'endless' });
    await sender.next('writing', (m) => (m.bytes as number) >= 4 * 1024 * 1024);
    await receiver.next('opened');
    sender.child.kill('SIGKILL');
    const error = await receiver.next('error', undefined, 30_000);
    expect(error).toMatchObject({ reason: 'AbnormalEnd', code: 'ERR_DATA_STREAM_ABNORMAL_END' });
    expect(error.message).toContain('disconnected');
    expect(receiver.messages.some((m) => m.event === 'received')).toBe(false);
  }, 120_000);
});
