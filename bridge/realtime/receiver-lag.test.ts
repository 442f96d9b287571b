/** ReceiverLag (./receiver-lag.ts): probes, their answers, and the lag they measure. */
import { describe, expect, it } from 'vitest';
import { LAG_PROBE_INTERVAL_MS, ReceiverLag } from './receiver-lag.ts';

/** What the connection does with each real-time message: a probe after it when one is due. */
function send(lag: ReceiverLag, now: number): void {
  if (lag.due(now)) lag.probe(now);
}

class FakeSocket {
  readonly pings: Buffer[] = [];
  ping(data: Buffer): void {
    this.pings.push(data);
  }
}

describe('ReceiverLag', () => {
  it('probes while frames go out, one at a time, and measures a late answer against the quickest round trip', () => {
    const socket = new FakeSocket();
    const lag = new ReceiverLag(socket);
    send(lag, 0);
    send(lag, 1);
    expect(socket.pings).toHaveLength(1); // one out at a time
    // No round trip known yet: no lag, however long the first probe is out.
    expect(lag.lagMs(500)).toBe(0);
    lag.pong(Buffer.alloc(0), 501); // a heartbeat's pong: not the probe's
    expect(lag.lagMs(501)).toBe(0);
    lag.pong(socket.pings[0]!, 2); // answered after 2 ms
    expect(lag.lagMs(3)).toBe(0);
    send(lag, 2 + LAG_PROBE_INTERVAL_MS - 1);
    expect(socket.pings).toHaveLength(1); // too soon after the answer
    const sentAt = 2 + LAG_PROBE_INTERVAL_MS;
    send(lag, sentAt);
    expect(socket.pings).toHaveLength(2);
    // Out for 302 ms against a quickest round trip of 2: 300 ms behind.
    expect(lag.lagMs(sentAt + 302)).toBe(300);
    const stale = Buffer.from(socket.pings[0]!);
    lag.pong(stale, sentAt + 303); // an old probe's payload does not answer the one out
    expect(lag.lagMs(sentAt + 303)).toBe(301);
    lag.pong(socket.pings[1]!, sentAt + 304);
    expect(lag.lagMs(sentAt + 305)).toBe(0);
  });

  it('a pong to a heartbeat ping sent after the probe answers it (a peer may answer only the latest ping)', () => {
    const socket = new FakeSocket();
    const lag = new ReceiverLag(socket);
    send(lag, 0);
    lag.pong(socket.pings[0]!, 1); // the round trip is known: 1 ms
    const probeAt = 1 + LAG_PROBE_INTERVAL_MS;
    send(lag, probeAt);
    expect(socket.pings).toHaveLength(2);
    // The heartbeat's ping went before the probe: its pong says nothing about what came after.
    lag.pong(Buffer.alloc(0), probeAt + 50, probeAt - 10);
    expect(lag.lagMs(probeAt + 51)).toBe(50);
    // It went after: the reader has read past the probe.
    lag.pong(Buffer.alloc(0), probeAt + 80, probeAt + 20);
    expect(lag.lagMs(probeAt + 81)).toBe(0);
    send(lag, probeAt + 80 + LAG_PROBE_INTERVAL_MS);
    expect(socket.pings).toHaveLength(3);
  });

  it('gives a probe up after a minute, so one lost answer cannot hold a reader behind for good', () => {
    const socket = new FakeSocket();
    const lag = new ReceiverLag(socket);
    send(lag, 0);
    lag.pong(socket.pings[0]!, 1);
    send(lag, 300);
    expect(lag.lagMs(30_300)).toBe(29_999);
    send(lag, 60_301);
    expect(socket.pings).toHaveLength(3);
    expect(lag.lagMs(60_302)).toBe(0);
  });
});
