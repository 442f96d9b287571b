/**
 * The heartbeat's rules (heartbeat.ts), with a ping that is answered or not and a send queue that moves
 * or not. The real thing, a hung Bridge noticed and left, is in failover.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../test/endpoint.ts';
import { EndpointError } from './errors.ts';
import { Heartbeat } from './heartbeat.ts';

const INTERVAL_MS = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A ping the Bridge answers after `answerMs`, or never (it then times out as a request does). */
const pinger = (answerMs: number | undefined, sent: number[]) => (timeoutMs: number) => {
  sent.push(performance.now());
  return new Promise<void>((resolve, reject) => {
    if (answerMs !== undefined && answerMs < timeoutMs) setTimeout(resolve, answerMs);
    else setTimeout(() => reject(EndpointError.timeout('ping', timeoutMs)), timeoutMs);
  });
};

let running: Heartbeat | undefined;
afterEach(() => running?.stop());

describe('Heartbeat', () => {
  it('sends no ping while messages arrive', async () => {
    const sent: number[] = [];
    let dead = 0;
    running = new Heartbeat({ intervalMs: INTERVAL_MS, ping: pinger(5, sent), bufferedAmount: () => 0, dead: () => dead++ });
    for (let i = 0; i < 10; i++) {
      running.heard();
      await sleep(INTERVAL_MS / 3);
    }
    expect(sent).toEqual([]);
    expect(dead).toBe(0);
  });

  it('pings a silent Bridge, and an answer keeps the socket', async () => {
    const sent: number[] = [];
    let dead = 0;
    running = new Heartbeat({ intervalMs: INTERVAL_MS, ping: pinger(5, sent), bufferedAmount: () => 0, dead: () => dead++ });
    await until(() => sent.length >= 3, 'three pings');
    expect(dead).toBe(0);
  });

  it('declares the socket dead when a ping goes unanswered, once', async () => {
    let dead = 0;
    running = new Heartbeat({ intervalMs: INTERVAL_MS, ping: pinger(undefined, []), bufferedAmount: () => 0, dead: () => dead++ });
    await until(() => dead === 1, 'the verdict');
    await sleep(INTERVAL_MS * 5); // it stopped itself: no second verdict on the same socket
    expect(dead).toBe(1);
  });

  it('keeps a socket whose send queue shrinks, though its ping is late (a large upload on a slow link)', async () => {
    let queued = 1_000_000;
    let dead = 0;
    const sent: number[] = [];
    running = new Heartbeat({ intervalMs: INTERVAL_MS, ping: pinger(undefined, sent), bufferedAmount: () => (queued -= 1000), dead: () => dead++ });
    await until(() => sent.length >= 3, 'three pings, the first two unanswered');
    expect(dead).toBe(0);
  });
});
