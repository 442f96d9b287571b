/**
 * The Bridge as an adversary, for the answers to requests (protocol/ws-results.ts;
 * docs/security/bridge-adversary.md): alice's traffic passes a WebSocket man in the middle
 * (test/procs/ws-mitm.ts) that rewrites the Bridge's answers, with real Endpoints on a real Bridge. An
 * answer of the wrong shape fails its request with `BridgeRefused` / `BAD_RESPONSE`, naming the field,
 * and the connection goes on working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWsMitm, type WsMitm } from '../test/procs/ws-mitm.ts';
import { pattern, receiveBytes, sha256, startKit, type Client, type Kit } from './data-streams/test-kit.ts';
import { refusal } from './realtime/test-kit.ts';

let kit: Kit;
let toAlice: WsMitm;
let alice: Client;
let bob: Client;
let roomId: string;
/** Rewrites the `result` of the Bridge's next answers that have `field`. */
let rewrite: { field: string; value: unknown } | undefined;
let cases = 0;

beforeAll(async () => {
  toAlice = await startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
    {
      downText(text) {
        if (rewrite === undefined) return text;
        const message = JSON.parse(text) as { kind: string; result?: Record<string, unknown> };
        if (message.kind !== 'result' || message.result === undefined || !(rewrite.field in message.result)) return text;
        message.result[rewrite.field] = rewrite.value;
        return JSON.stringify(message);
      },
    },
  );
  kit = await startKit(['alice', 'bob'], { loginUrls: [toAlice.url] });
  alice = await kit.connect('alice', { url: toAlice.url });
  bob = await kit.connect('bob');
  roomId = await kit.room(alice, [alice, bob]);
  await bob.streamApi.joinStreamRoom(roomId);
});
afterAll(async () => {
  await kit.close();
  await toAlice.close();
});

describe('answers of the wrong shape', () => {
  it('a join whose participants are not a list fails with BAD_RESPONSE, and a later join works', async () => {
    rewrite = { field: 'participants', value: 'everyone' };
    const error = await refusal(alice.streamApi.joinStreamRoom(roomId));
    rewrite = undefined;
    expect(error.reason).toBe('BridgeRefused');
    expect(error.bridgeCode).toBe('BAD_RESPONSE');
    expect(error.message).toMatch(/^join: the Bridge's answer is invalid \(participants: /);
    await alice.streamApi.joinStreamRoom(roomId);
  });

  it.each([
    ['window', 'as much as you like'],
    ['window', 1e12],
    ['streamNo', -1],
    ['allowed', 1.5],
    ['receiverIds', [42]],
  ])('a byte-stream open whose %s is %j fails with BAD_RESPONSE, and the next stream arrives whole', async (field, value) => {
    const topic = `bad-${++cases}`;
    const got = receiveBytes(bob, topic);
    rewrite = { field, value };
    const error = await refusal(alice.streamApi.streamBytes({ roomId, topic, name: 'x.bin', path: 'relay' }));
    rewrite = undefined;
    expect(error.bridgeCode).toBe('BAD_RESPONSE');
    expect(error.message).toContain(`byteStreamOpen: the Bridge's answer is invalid (${field}`);

    const content = pattern(300 * 1024, 7);
    const writer = await alice.streamApi.streamBytes({ roomId, topic, name: 'y.bin', path: 'relay' });
    await writer.write(content);
    await writer.close();
    await expect.poll(() => got.length).toBeGreaterThan(0);
    expect(sha256(await got.at(-1)!.done)).toBe(sha256(content));
  });
});
