/**
 * Which failures `connect` passes over to the next Bridge of its list, and which refusal it throws when
 * none admits (docs/operations/failover.md, "Connecting"). The errors are built as the transports build
 * them (`EndpointError.fromBridge` for REST and socket errors); the whole path with real Bridges is in
 * failover-overload.test.ts, which cannot make a real Bridge refuse a login: logins are answered while
 * it is saturated, so the 503 case is checked here.
 */
import { describe, expect, it } from 'vitest';
import { passOver, soonestRetry } from './bridge-urls.ts';
import { EndpointError } from './errors.ts';

describe('passOver', () => {
  it('passes over an unreachable or saturated Bridge, and no other refusal', () => {
    expect(passOver(EndpointError.connectionLost())).toBe(true);
    expect(passOver(EndpointError.timeout('login', 10))).toBe(true);
    // A login answered 503 + Retry-After, and a socket's refusal (status 0).
    expect(passOver(EndpointError.fromBridge(503, 'OVERLOADED', 'saturated', undefined, 2))).toBe(true);
    expect(passOver(EndpointError.fromBridge(0, 'OVERLOADED', 'saturated', undefined, 2))).toBe(true);
    // A Bridge draining for a restart answers 503 SHUTTING_DOWN: another one of the list may take it.
    expect(passOver(EndpointError.fromBridge(503, 'SHUTTING_DOWN', 'the Bridge is shutting down', undefined, 5))).toBe(true);
    // This client's own rate limit is the cluster's answer, as are a refused key and other refusals.
    expect(passOver(EndpointError.fromBridge(429, 'RATE_LIMITED', 'slow down', undefined, 2))).toBe(false);
    expect(passOver(EndpointError.fromBridge(401, 'AUTH_FAILED', 'no'))).toBe(false);
    expect(passOver(new Error('not ours'))).toBe(false);
  });
});

describe('soonestRetry', () => {
  it('picks the shortest wait; a refusal naming none counts as the longest', () => {
    const wait = (s?: number) => EndpointError.fromBridge(503, 'OVERLOADED', 'saturated', undefined, s);
    expect(soonestRetry([])).toBeUndefined();
    expect(soonestRetry([wait(3), wait(1), wait(2)])?.retryAfterMs).toBe(1000);
    expect(soonestRetry([wait(), wait(5)])?.retryAfterMs).toBe(5000);
    const none = wait();
    expect(soonestRetry([none])).toBe(none);
  });
});
