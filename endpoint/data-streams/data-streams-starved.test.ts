/**
 * Starved is not stalled (docs/protocol/byte-streams.md, "Cuts"): a reader process short of CPU (a
 * synchronous busy-wait of 50 ms every 100 ms) still takes what the Bridge sends, so several streams
 * that end together reach it whole and it is never cut; a reader process that is stopped (SIGSTOP)
 * takes nothing, and the Bridge cuts it as TooSlow within its stuck timeout, holding a bounded amount
 * for it meanwhile. Real Bridge (this process), real Endpoints, the readers in their own processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { Peer } from '../../test/procs/stream-peer-process.ts';
import type { PeerConfig } from '../../test/procs/stream-peer.ts';
import { stats } from '../../bridge/realtime/test-client.ts';
import { pub } from '../realtime/test-kit.ts';
import { pattern, sha256, startKit, until, type Client, type Kit } from './test-kit.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Eight streams' windows are more than the kernel's socket buffers take: the rest waits at the Bridge. */
const WINDOW = 1 * MiB;
const STREAMS = 8;
const READ_PAUSE = 256 * KiB;
const STUCK_MS = 2000;
const USERS = ['alice', 'bob', 'carol'];

let kit: Kit;
let alice: Client;
let roomId: string;
const peers: Peer[] = [];

beforeAll(async () => {
  kit = await startKit(USERS, { realtime: { streamWindowBytes: WINDOW, readPauseBytes: READ_PAUSE, stuckReceiverTimeoutMs: STUCK_MS } });
  alice = await kit.connect('alice');
  const members = USERS.map((id) => pub(kit.tenant.users[id]!));
  roomId = await alice.streamApi.createStreamRoom(kit.tenant.contextId, members, [members[0]!], utf8('{}'), utf8('starved'));
  await alice.streamApi.joinStreamRoom(roomId);
});
afterAll(async () => {
  for (const p of peers) p.child.kill('SIGKILL');
  await kit.close();
});

function peer(user: string, config: Omit<PeerConfig, 'url' | 'solutionId' | 'privateKey' | 'roomId' | 'role'>): Peer {
  const p = new Peer({
    url: kit.t.bridge.url,
    solutionId: kit.tenant.solutionId,
    privateKey: kit.tenant.users[user]!.privateKey,
    roomId,
    role: 'receive',
    ...config,
  });
  peers.push(p);
  return p;
}

const tooSlowCuts = () => {
  const cut = (kit.t.bridge.realtime.relay as unknown as { counters: { receiversCut: Record<string, number> } }).counters.receiversCut;
  return Object.entries(cut).reduce((n, [cause, v]) => (cause.startsWith('too_slow') ? n + v : n), 0);
};
/** What the Bridge holds for `user`'s connection (its socket's buffer and bulk lane), in bytes. */
const heldFor = (user: string) => stats(kit.t.bridge).connections.find((c) => c.userId === user)?.bufferedBytes ?? 0;

describe('byte streams to a reader short of CPU, and to one that is stopped', () => {
  it('a busy reader (50 ms of every 100 ms busy) gets eight 4 MiB streams that end together, whole, and is never cut', async () => {
    const bob = peer('bob', { topic: 'busy', streams: STREAMS, busyMs: 50, busyEveryMs: 100 });
    await bob.next('ready');
    const cutsBefore = tooSlowCuts();
    const data = Array.from({ length: STREAMS }, (_, i) => pattern(4 * MiB, i + 1));
    const writers = await Promise.all(
      data.map((_, i) => alice.streamApi.streamBytes({ roomId, topic: 'busy', name: `b${i}`, destinationIdentities: ['bob'] })),
    );
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, heldFor('bob'))), 20);
    const started = performance.now();
    try {
      for (let at = 0; at < data[0]!.length; at += MiB) await Promise.all(writers.map((w, i) => w.write(data[i]!.subarray(at, at + MiB))));
      await Promise.all(writers.map((w) => w.close()));
      // Each ends read whole or failed (before the accounting fix: TooSlow, 3 runs of 3).
      const settled = (id: string) => bob.messages.find((m) => (m.event === 'received' || m.event === 'error') && m.id === id);
      await until(() => writers.every((w) => settled(w.info.id) !== undefined), 'every stream read or failed', 120_000);
      expect(writers.map((w) => settled(w.info.id)!.sha256 ?? settled(w.info.id)!.reason)).toEqual(data.map(sha256));
    } finally {
      clearInterval(sampler);
    }
    expect(bob.messages.filter((m) => m.event === 'error')).toEqual([]);
    expect(tooSlowCuts()).toBe(cutsBefore);
    // For the record (docs/protocol/byte-streams.md, "Cuts"): how far behind the reader ran.
    console.info(`busy reader: ${STREAMS * 4} MiB in ${Math.round(performance.now() - started)} ms, the Bridge held up to ${peak} bytes for it`);
  }, 180_000);

  it('a stopped reader (SIGSTOP) is cut from each stream as TooSlow within the stuck timeout; the Bridge holds at most its fixed budget and the windows for it', async () => {
    const carol = peer('carol', { topic: 'stopped', streams: STREAMS });
    await carol.next('ready');
    const cutsBefore = tooSlowCuts();
    carol.child.kill('SIGSTOP');
    const writers = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => alice.streamApi.streamBytes({ roomId, topic: 'stopped', name: `s${i}`, destinationIdentities: ['carol'] })),
    );
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, heldFor('carol'))), 10);
    const started = performance.now();
    let cutAfterMs = Number.POSITIVE_INFINITY;
    const cut = (async () => {
      while (tooSlowCuts() < cutsBefore + STREAMS) await new Promise((resolve) => setTimeout(resolve, 20));
      cutAfterMs = performance.now() - started;
    })();
    try {
      // Each held at one window until carol is cut from it; then nobody is left to wait for.
      for (let i = 0; i < 4; i++) await Promise.all(writers.map((w, j) => w.write(pattern(MiB, 10 * j + i + 1))));
      await Promise.all(writers.map((w) => w.close()));
      await cut;
    } finally {
      clearInterval(sampler);
      carol.child.kill('SIGCONT');
    }
    // The sender reached its limit within a few hundred ms; then the timeout; slack for a loaded machine.
    expect(cutAfterMs).toBeGreaterThanOrEqual(STUCK_MS);
    expect(cutAfterMs).toBeLessThan(STUCK_MS + 4000);
    expect(peak).toBeLessThanOrEqual(READ_PAUSE + STREAMS * WINDOW + 64 * KiB);
    await carol.exited;
    const errors = carol.messages.filter((m) => m.event === 'error');
    expect(errors.map((e) => e.reason)).toEqual(writers.map(() => 'TooSlow'));
    console.info(`stopped reader: cut after ${Math.round(cutAfterMs)} ms, the Bridge held up to ${peak} bytes for it`);
  }, 120_000);
});
