/** A Bridge's rate limit reaches the app as `RateLimited` with the time to wait (`retryAfterMs`). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pub } from '../test/endpoint.ts';
import { EndpointError } from './errors.ts';
import { startKit, type Kit } from './realtime/test-kit.ts';

let kit: Kit;
beforeAll(async () => {
  kit = await startKit(['alice'], { limits: { writesPerUserPerMinute: 1 } as never });
});
afterAll(() => kit.close());

describe('RateLimited', () => {
  it('carries retryAfterMs from the Bridge', async () => {
    const alice = await kit.connect('alice');
    const me = [pub(alice.user)];
    const meta = new TextEncoder().encode('{}');
    await alice.streamApi.createStreamRoom(kit.tenant.contextId, me, me, meta, meta);
    const error = await alice.streamApi.createStreamRoom(kit.tenant.contextId, me, me, meta, meta).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EndpointError);
    expect((error as EndpointError).reason).toBe('RateLimited');
    expect((error as EndpointError).bridgeCode).toBe('RATE_LIMITED');
    expect((error as EndpointError).retryAfterMs).toBeGreaterThan(0);
    expect((error as EndpointError).retryAfterMs).toBeLessThanOrEqual(60_000);
  });
});
