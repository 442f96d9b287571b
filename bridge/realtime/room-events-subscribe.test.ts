/**
 * What a `subscribe` costs the Bridge (bridge/realtime/room-events.ts): every query is parsed before
 * any store read, and each selector is checked once however many queries name it. Before, each query
 * was checked as it came, two store reads per context query, so a request of 64 queries whose last was
 * malformed cost 126 reads and kept nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSubscriptionQuery, ROOM_EVENT_TYPES } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { TestClient } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
let alice: TestClient;
/** Context reads the store served since the test began. */
let contextReads = 0;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice']);
  alice = await TestClient.connect(t.bridge.url, await login(t.bridge.url, tenant.solutionId, tenant.users.alice!));
  const store = t.bridge.store;
  const getContext = store.getContext.bind(store);
  store.getContext = (...args) => {
    contextReads++;
    return getContext(...args);
  };
});
afterAll(async () => {
  await alice?.close();
  await t?.close();
});

describe('subscribe', () => {
  it('reads nothing for a request with a malformed query, wherever it sits', async () => {
    const good = buildSubscriptionQuery('streamRoomUpdated', 'contextId', tenant.contextId);
    const before = contextReads;
    expect(await alice.failure('subscribe', { queries: [...Array<string>(63).fill(good), 'stream/nope'] })).toBe('VALIDATION_FAILED');
    expect(contextReads - before).toBe(0);
  });

  it('checks a context named by many queries once', async () => {
    const queries = ROOM_EVENT_TYPES.map((type) => buildSubscriptionQuery(type, 'contextId', tenant.contextId));
    const before = contextReads;
    const { subscriptionIds } = await alice.request('subscribe', { queries: [...queries, ...queries] });
    expect(subscriptionIds).toHaveLength(6);
    expect(contextReads - before).toBe(1);
  });
});
