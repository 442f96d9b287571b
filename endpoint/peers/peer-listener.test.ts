/**
 * An async `remotePeer` listener (`await request.accept()`, as README shows) whose promise rejects is
 * logged by the Endpoint, not left as an unhandled rejection that ends the app's process (vitest fails
 * a run on one). Real Bridge, real werift peers on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardLoopbackUdp } from '../../bridge/media/test-peer.ts';
import { type Client, type Kit, startKit, until } from '../data-streams/test-kit.ts';
import type { Logger } from '../logger.ts';
import { loopbackPeers, sawEachOther } from './test-kit.ts';

const udp = guardLoopbackUdp();
let kit: Kit;
let alice: Client;
let bob: Client;
const errors: Array<{ message: string; fields: Record<string, unknown> }> = [];
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (fields: Record<string, unknown> | string, message?: string) => {
    if (typeof fields === 'string') errors.push({ message: fields, fields: {} });
    else errors.push({ message: message ?? '', fields });
  },
};

beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
  alice = await kit.connect('alice', { streamApi: { peers: loopbackPeers() } });
  bob = await kit.connect('bob', { connect: { logger }, streamApi: { peers: loopbackPeers() } });
});
afterAll(async () => {
  await kit?.close();
  udp.restore();
});

describe('an async remotePeer listener', () => {
  it('that fails after accepting is logged, and the connection it accepted stands', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    for (const c of [alice, bob]) await c.streamApi.joinStreamRoom(roomId);
    await sawEachOther(roomId, [alice, bob]);
    bob.streamApi.addRemotePeerListener(async (request) => {
      await request.accept();
      throw new Error('the app failed after accepting');
    });
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => errors.some((e) => e.message === 'a remotePeer listener failed'), 'the failure logged');
    expect(errors.find((e) => e.message === 'a remotePeer listener failed')?.fields.error).toContain('the app failed after accepting');
    expect(peer.connectionState).toBe('connected');
    peer.close();
  });
});
