import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../../test/harness.ts';
import type { PeerSignal } from '../../../protocol/ws.ts';
import { createRoom, TestClient } from '../test-client.ts';
import { PEER_SIGNALS_PER_SECOND, PEER_SIGNALS_TO_ONE_PER_SECOND } from './peer-signals.ts';

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'dave']);
  for (const id of ['alice', 'bob', 'dave']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

async function connect(id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}
const u = (id: string) => tenant.users[id]!;
const bye: PeerSignal = { type: 'bye', sessionId: 'AAAAAAAAAAAAAAAAAAAAAA==', reason: 'closed' };

describe('relay: direct peer signals', () => {
  it('passes a signal between two joined members, naming the sender; refuses everyone else with a code', async () => {
    const roomId = (await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')])).record.roomId;
    const [alice, bob, dave] = await Promise.all([connect('alice'), connect('bob'), connect('dave')]);
    // Not joined yet: neither side.
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: bye })).toBe('NOT_JOINED');
    await alice.request('join', { roomId });
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: bye })).toBe('PEER_NOT_JOINED');
    // dave is connected but not a member: he cannot be reached, nor reach anyone.
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: dave.connectionId, signal: bye })).toBe('PEER_NOT_JOINED');
    expect(await dave.failure('peerSignal', { roomId, toConnectionId: alice.connectionId, signal: bye })).toBe('NOT_JOINED');
    await bob.request('join', { roomId });
    await alice.request('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: bye });
    const got = await bob.event('peerSignal');
    expect(got).toEqual({ type: 'peerSignal', roomId, fromUserId: 'alice', fromConnectionId: alice.connectionId, signal: bye });
    // To itself: refused.
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: alice.connectionId, signal: bye })).toBe('PEER_NOT_JOINED');
  });

  it('validates the signal (size, shape) and rate-limits each connection', async () => {
    const roomId = (await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')])).record.roomId;
    const [alice, bob] = await Promise.all([connect('alice'), connect('bob')]);
    await alice.request('join', { roomId });
    await bob.request('join', { roomId });
    const huge = {
      type: 'offer',
      sessionId: bye.sessionId,
      nonce: bye.sessionId,
      at: 1,
      sdp: 'x'.repeat(16 * 1024 + 1),
      fingerprints: [`sha-256 ${Array(32).fill('AB').join(':')}`],
      signature: `${'A'.repeat(86)}==`,
      metadata: '',
    };
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: huge as PeerSignal })).toBe('VALIDATION_FAILED');
    const badFingerprint = { ...huge, sdp: 'v=0', fingerprints: ['sha-256 nothex'] };
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: badFingerprint as PeerSignal })).toBe('VALIDATION_FAILED');
    const codes = await Promise.all(
      Array.from({ length: PEER_SIGNALS_PER_SECOND + 5 }, () =>
        alice.request('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: bye }).then(
          () => 'ok',
          (e: { code?: string }) => e.code ?? 'error',
        ),
      ),
    );
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(5);
  });

  it('rate-limits what one connection is sent, from all senders together: several connections of one user cannot flood it', async () => {
    const roomId = (await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')])).record.roomId;
    const alice = await connect('alice');
    const bobs = await Promise.all([connect('bob'), connect('bob'), connect('bob')]);
    for (const c of [alice, ...bobs]) await c.request('join', { roomId });
    const each = PEER_SIGNALS_PER_SECOND - 5; // under each sender's own limit
    const outcomes = await Promise.all(
      bobs.flatMap((bob) =>
        Array.from({ length: each }, () =>
          bob.request('peerSignal', { roomId, toConnectionId: alice.connectionId, signal: bye }).then(
            () => 'ok',
            (e: { code?: string; message?: string }) => (e.message?.includes('to one connection') === true ? 'to-one' : (e.code ?? 'error')),
          ),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(PEER_SIGNALS_TO_ONE_PER_SECOND);
    expect(outcomes.filter((o) => o === 'to-one')).toHaveLength(3 * each - PEER_SIGNALS_TO_ONE_PER_SECOND);
  });
});
