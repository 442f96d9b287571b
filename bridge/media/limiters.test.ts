import { describe, expect, it } from 'vitest';
import { BitrateBucket, KeyframeThrottle } from './limiters.ts';

describe('KeyframeThrottle', () => {
  it('lets one request through per interval and counts the rest', () => {
    let now = 0;
    const throttle = new KeyframeThrottle(1000, () => now);
    const passed: number[] = [];
    for (now = 0; now < 3000; now += 25) if (throttle.request()) passed.push(now);
    expect(passed).toEqual([0, 1000, 2000]);
    expect(throttle).toMatchObject({ received: 120, forwarded: 3, suppressed: 117 });
  });
});

describe('BitrateBucket', () => {
  it('holds one second of the rate and refills with time', () => {
    let now = 0;
    const bucket = new BitrateBucket(80_000, Number.POSITIVE_INFINITY, () => now); // 10,000 bytes per second
    let sent = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(1000)) sent++;
    expect(sent).toBe(10);
    expect(bucket.dropped).toBe(10);
    now = 500; // half a second: 5,000 bytes more
    sent = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(1000)) sent++;
    expect(sent).toBe(5);
    now = 60_000; // never more than one second's worth
    sent = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(1000)) sent++;
    expect(sent).toBe(10);
  });

  it('charges a packet at least the rate over maxPacketsPerSecond: tiny payloads cannot multiply the packet rate', () => {
    let now = 0;
    // 10,000 bytes a second and 100 packets a second at most: each packet costs at least 100 bytes.
    const bucket = new BitrateBucket(80_000, 100, () => now);
    let sent = 0;
    for (let i = 0; i < 1000; i++) if (bucket.take(1)) sent++;
    expect(sent).toBe(100);
    now = 100; // a tenth of a second: ten packets more
    sent = 0;
    for (let i = 0; i < 1000; i++) if (bucket.take(1)) sent++;
    expect(sent).toBe(10);
    // Packets above the minimum are charged as before.
    now = 60_000;
    sent = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(1000)) sent++;
    expect(sent).toBe(10);
  });
});
