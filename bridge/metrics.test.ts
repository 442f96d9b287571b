/** `GET /metrics`: Prometheus text behind the operator API key, with the numbers operators need. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../test/harness.ts';
import { createRoom, TestClient } from './realtime/test-client.ts';

let t: TestBridge;
let tenant: Tenant;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
});
afterAll(() => t.close());

const scrape = async (key?: string) => {
  const response = await fetch(`${t.bridge.url}/metrics`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};
/** The value of one sample line, e.g. `sealroom_logins_total{outcome="success"}`. */
const sample = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((line) => line.startsWith(`${series} `))
      ?.split(' ')[1] ?? NaN,
  );

describe('GET /metrics', () => {
  it('needs an operator API key', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('srk_wrong')).status).toBe(401);
  });

  it('reports connections, relayed frames, logins, refusals, route latency and event-loop lag', async () => {
    const alice = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    const bob = await login(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    await rest(t.bridge.url).post('/v1/auth/session', {
      solutionId: tenant.solutionId,
      publicKey: tenant.users.bob!.publicKey,
      nonce: `${'A'.repeat(43)}=`,
      timestamp: Date.now(),
      bridgeUrl: t.bridge.url,
      signature: `${'A'.repeat(86)}==`,
    });
    expect((await rest(t.bridge.url, alice).get('/v1/me')).status).toBe(200);
    const { record } = await createRoom(t.bridge, tenant, alice, tenant.users.alice!, [tenant.users.alice!, tenant.users.bob!], [tenant.users.alice!]);
    const a = await TestClient.connect(t.bridge.url, alice);
    const b = await TestClient.connect(t.bridge.url, bob);
    for (const c of [a, b]) await c.request('join', { roomId: record.roomId });
    const { stream } = await a.request('publish', { roomId: record.roomId, streamId: 's', tracks: [{ trackId: 'd', kind: 'data' }] });
    await b.request('subscribeStreams', { roomId: record.roomId, add: [{ streamId: 's' }], remove: [] });
    for (let i = 0; i < 5; i++) a.sendData(stream.tracks[0]!.trackNo, new Uint8Array(100));
    await b.until(() => b.dataFrames().length === 5, 'the frames');

    const { status, type, text } = await scrape(t.bridge.initialApiKey);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain/);
    expect(sample(text, 'sealroom_connections')).toBe(2);
    expect(sample(text, 'sealroom_joined_rooms')).toBe(1);
    expect(sample(text, 'sealroom_relayed_frames_total{kind="data"}')).toBe(5);
    expect(sample(text, 'sealroom_deliveries_total{kind="data"}')).toBe(5);
    expect(sample(text, 'sealroom_logins_total{outcome="success"}')).toBe(2);
    expect(sample(text, 'sealroom_logins_total{outcome="failure"}')).toBe(1);
    expect(text).toMatch(/sealroom_http_request_duration_seconds_count\{method="GET",route="\/v1\/me",status="2xx"\} 1/);
    expect(text).toMatch(/sealroom_nodejs_eventloop_lag_seconds \d/);
    expect(text).not.toContain(alice); // never a token
    await a.close();
    await b.close();
  });
});
