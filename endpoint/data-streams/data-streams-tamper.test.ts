/**
 * Issue 5: a relay that alters, drops or reorders chunks makes the reader error (`Integrity`), never
 * deliver wrong or missing data; and a dropped local connection ends every open reader and writer
 * (`ConnectionLost`) at once. A WebSocket man in the middle (test/procs/ws-mitm.ts) sits between bob
 * and the Bridge; a TCP proxy (test/tcp-proxy.ts) sits between carol and the Bridge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.ts';
import { startWsMitm, type Tamper, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { joinedRoom, pattern, receiveBytes, sha256, startKit, streamFailure, until, type Client, type Kit } from './test-kit.ts';
import { streamApiInternals } from '../internal.ts';

let kit: Kit;
let mitm: WsMitm;
let proxy: TcpProxy;
let alice: Client;
let bob: Client;
let roomId: string;
/** The tamper of the current test. */
let tamper: Tamper = () => 'pass';

beforeAll(async () => {
  // Logins through the relays sign the relays' URLs, so the Bridge is told they are names of it.
  mitm = await startWsMitm(
    () => kit.t.bridge.url,
    (frame, nth) => tamper(frame, nth),
  );
  proxy = await startTcpProxy(() => kit.t.bridge.url);
  kit = await startKit(['alice', 'bob', 'carol'], { loginUrls: [mitm.url, proxy.url] });
  alice = await kit.connect('alice');
  bob = await kit.connect('bob', { url: mitm.url });
  roomId = await joinedRoom(kit, alice, [alice, bob]);
});
afterAll(async () => {
  await kit.close();
  await mitm.close();
  await proxy.close();
});

/** alice sends 1 MiB (16 data chunks) to bob with `how` applied to chunk `nth`; returns bob's reader outcome. */
async function tampered(topic: string, how: Tamper) {
  const atBob = receiveBytes(bob, topic);
  tamper = how;
  const before = mitm.tampered();
  const writer = await alice.streamApi.streamBytes({ roomId, topic, name: 'x.bin', destinationIdentities: ['bob'] });
  await writer.write(pattern(1024 * 1024));
  await writer.close();
  await until(() => atBob.length === 1, 'the handler');
  const error = await streamFailure(atBob[0]!.done);
  expect(mitm.tampered()).toBeGreaterThan(before);
  tamper = () => 'pass';
  bob.streamApi.unregisterByteStreamHandler(topic);
  return error;
}

describe('a relay that tampers with chunks', () => {
  it('flipping a bit of a data chunk: Integrity', async () => {
    const error = await tampered('flip', (_f, nth) => (nth === 3 ? 'flip' : 'pass'));
    expect(error.reason).toBe('Integrity');
    expect(error.code).toBe('ERR_DATA_STREAM_INTEGRITY');
  });

  it('dropping a data chunk (a gap): Integrity', async () => {
    expect((await tampered('drop', (_f, nth) => (nth === 5 ? 'drop' : 'pass'))).reason).toBe('Integrity');
  });

  it('swapping two data chunks: Integrity', async () => {
    expect((await tampered('swap', (_f, nth) => (nth === 2 ? 'swapWithNext' : 'pass'))).reason).toBe('Integrity');
  });

  it('dropping the last data chunk before the signed end (truncation): Integrity', async () => {
    expect((await tampered('truncate', (f, nth) => (nth === 16 && !f.last ? 'drop' : 'pass'))).reason).toBe('Integrity');
  });

  it('flipping a bit of the final chunk (the signature): Integrity', async () => {
    expect((await tampered('final', (f) => (f.last ? 'flip' : 'pass'))).reason).toBe('Integrity');
  });

  it('an untouched stream still arrives whole through the same relay', async () => {
    const atBob = receiveBytes(bob, 'clean');
    const data = pattern(1024 * 1024, 9);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'clean', name: 'x.bin' });
    await writer.write(data);
    await writer.close();
    await until(() => atBob.length === 1, 'the handler');
    expect(sha256(await atBob[0]!.done)).toBe(sha256(data));
  });
});

describe('the local connection drops', () => {
  it('errors open readers and writers at once with ConnectionLost', async () => {
    const carol = await kit.connect('carol', { url: proxy.url, connect: { reconnect: false } });
    const dropRoom = await joinedRoom(kit, alice, [alice, bob, carol]);
    // carol reads nothing of alice's stream yet, and writes to bob, who never reads, so her write waits.
    let carolReader: Promise<unknown> | undefined;
    carol.streamApi.registerByteStreamHandler('drop-in', (reader) => {
      carolReader = reader.readAll();
      carolReader.catch(() => undefined);
    });
    bob.streamApi.registerByteStreamHandler('drop-out', () => undefined);
    const toCarol = await alice.streamApi.streamBytes({ roomId: dropRoom, topic: 'drop-in', name: 'in', destinationIdentities: ['carol'] });
    await toCarol.write(pattern(1000));
    const fromCarol = await carol.streamApi.streamBytes({ roomId: dropRoom, topic: 'drop-out', name: 'out', destinationIdentities: ['bob'] });
    const writing = fromCarol.write(pattern(8 * 1024 * 1024));
    writing.catch(() => undefined);
    await until(() => carolReader !== undefined, 'carol reading');

    proxy.cutAll();
    const [readError, writeError] = await Promise.all([streamFailure(carolReader!), streamFailure(writing)]);
    expect(readError.reason).toBe('ConnectionLost');
    expect(writeError.reason).toBe('ConnectionLost');
    expect((await streamFailure(fromCarol.close())).reason).toBe('ConnectionLost');
    expect((await streamFailure(fromCarol.write(pattern(1)))).reason).toBe('ConnectionLost');
    expect(streamApiInternals(carol.streamApi).dataStreams.stats()).toMatchObject({ sending: 0, receiving: 0 });
    // alice's stream lost its only receiver; alice goes on to its end.
    await toCarol.write(pattern(1000));
    await toCarol.close();
    bob.streamApi.unregisterByteStreamHandler('drop-out');
  });
});
