/**
 * Bridges on PostgreSQL (docs/operations/postgres.md): a slice of the Bridge's own scenarios (rooms,
 * logins and sessions, quotas, the directory) through two Bridges on one database, A and B, over REST
 * with real signatures. Real-time traffic between them is in bridge/cluster/ (NATS, docs/operations/cluster.md).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManageClient } from '../manage/client.ts';
import { startBridgeProcess } from '../../test/cli.ts';
import { verifyGenesis } from '../../protocol/room-chain.ts';
import { login, rest, setupTenant, signedLogin, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { genesis, successor, verifiedHead } from '../../test/rooms.ts';

/** A name both Bridges accept in a login, as behind one load balancer. */
const CLUSTER_URL = 'http://cluster.test';
const ROOMS_PER_CONTEXT = 4;
const VERSIONS_PER_ROOM = 5;

let server: TestPostgres;
let a: TestBridge;
let b: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  server = await startPostgres();
  const store = await server.createDatabase();
  const options = {
    store,
    loginUrls: [CLUSTER_URL],
    limits: { roomsPerContext: ROOMS_PER_CONTEXT, versionsPerRoom: VERSIONS_PER_ROOM, writesPerUserPerMinute: 1000 } as never,
  };
  a = await startBridge(options);
  b = await startBridge({ ...options, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, ['alice', 'bob', 'carol']);
  tokens.alice = await login(a.bridge.url, tenant.solutionId, tenant.users.alice!);
  tokens.bob = await login(b.bridge.url, tenant.solutionId, tenant.users.bob!);
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await server?.destroy();
});

const users = () => tenant.users as Record<'alice' | 'bob' | 'carol', NonNullable<Tenant['users'][string]>>;

describe('two Bridges on one PostgreSQL', () => {
  it('share the operator key, the directory and one challenge secret: a login challenged at A completes at B', async () => {
    expect(b.bridge.initialApiKey).toBeUndefined();
    expect((await b.bridge.manage.listSolutions()).map((s) => s.solutionId)).toContain(tenant.solutionId);
    const signed = await signedLogin(a.bridge.url, tenant.solutionId, users().carol, { bridgeUrl: CLUSTER_URL });
    const first = await rest(b.bridge.url).post('/v1/auth/session', signed);
    expect(first.status).toBe(201);
    // The nonce was used at B: A refuses it (single use across Bridges).
    const replay = await rest(a.bridge.url).post('/v1/auth/session', signed);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('AUTH_FAILED');
    expect((await rest(a.bridge.url, first.body.token).get('/v1/me')).status).toBe(200);
  });

  it('end a session at both once it is ended at one', async () => {
    const token = await login(a.bridge.url, tenant.solutionId, users().carol);
    expect((await rest(b.bridge.url, token).get('/v1/me')).status).toBe(200);
    expect((await rest(a.bridge.url, token).post('/v1/auth/logout')).status).toBeLessThan(300);
    // B cached the session; on a shared store it reads it again within a second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await rest(b.bridge.url, token).get('/v1/me')).status).toBe(401);
  });

  it('serve a room created at A from B, with a chain that verifies', async () => {
    const built = await genesis(tenant.contextId, users().alice, { users: [users().alice, users().bob], managers: [users().alice, users().bob] });
    expect((await rest(a.bridge.url, tokens.alice).post('/v1/rooms', built.request)).status).toBe(201);
    const head = await verifiedHead(b.bridge.url, tokens.bob!, built.record.roomId);
    expect(head.record.version).toBe(1);
    expect((await rest(b.bridge.url, tokens.alice).post('/v1/rooms', built.request)).body.error.code).toBe('ROOM_EXISTS');
  });

  it('let exactly one of two updates of one version win, through A and B at once; the chain stays valid', async () => {
    const { alice, bob } = users();
    const built = await genesis(tenant.contextId, alice, { users: [alice, bob], managers: [alice, bob] });
    const roomId = built.record.roomId;
    expect((await rest(a.bridge.url, tokens.alice).post('/v1/rooms', built.request)).status).toBe(201);
    let head = await verifyGenesis(built.request);
    for (let version = 1; version < VERSIONS_PER_ROOM; version++) {
      const byAlice = await successor(head, built.epochKey, alice, { users: [alice, bob], managers: [alice, bob], publicMeta: { by: 'alice', version } });
      const byBob = await successor(head, built.epochKey, bob, { users: [alice, bob], managers: [alice, bob], publicMeta: { by: 'bob', version } });
      const replies = await Promise.all([
        rest(a.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...byAlice.request, version }),
        rest(b.bridge.url, tokens.bob).put(`/v1/rooms/${roomId}`, { ...byBob.request, version }),
      ]);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(replies.find((r) => r.status === 409)!.body.error.code).toBe('VERSION_CONFLICT');
      head = await verifiedHead(a.bridge.url, tokens.alice!, roomId);
      expect(head.record.version).toBe(version + 1);
      const winner = replies[0]!.status === 200 ? 'alice' : 'bob';
      expect(head.record.author).toBe(winner);
    }
    // The versions-per-room quota holds across both.
    const past = await successor(head, built.epochKey, alice, { users: [alice, bob], managers: [alice, bob] });
    const refused = await rest(b.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...past.request, version: VERSIONS_PER_ROOM });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ROOM_VERSION_QUOTA');
  });

  it('hold the rooms-per-context quota against creates racing through both', async () => {
    const { solutionId } = await b.bridge.manage.createSolution('quota');
    const { contextId } = await b.bridge.manage.createContext(solutionId, 'quota-context');
    await a.bridge.manage.addContextUser(contextId, 'alice', users().alice.publicKey);
    const token = await login(a.bridge.url, solutionId, users().alice);
    const creates = await Promise.all(
      Array.from({ length: ROOMS_PER_CONTEXT + 4 }, async (_, i) => {
        const built = await genesis(contextId, users().alice, { users: [users().alice], managers: [users().alice] });
        return rest((i % 2 === 0 ? a : b).bridge.url, token).post('/v1/rooms', built.request);
      }),
    );
    expect(creates.filter((r) => r.status === 201)).toHaveLength(ROOMS_PER_CONTEXT);
    expect(creates.filter((r) => r.status === 409).map((r) => r.body.error.code)).toEqual(Array(4).fill('CONTEXT_ROOM_QUOTA'));
  });

  it('refuse at B a user removed through A, and keep its data after both restart', async () => {
    const token = await login(b.bridge.url, tenant.solutionId, users().carol);
    expect((await rest(b.bridge.url, token).get('/v1/me')).status).toBe(200);
    await a.bridge.manage.removeContextUser(tenant.contextId, 'carol');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await rest(b.bridge.url, token).get('/v1/me')).status).toBe(401);
    await a.restart();
    await b.restart();
    expect((await rest(b.bridge.url, tokens.bob).get('/v1/me')).status).toBe(200);
    expect((await b.bridge.manage.listContextUsers(tenant.contextId)).map((u) => u.userId)).toEqual(['alice', 'bob']);
  });
});

/** `sealroom start` on a database that has its operator key already: resolves with the URL it prints. */
function startAgain(store: string): Promise<{ url: string; stop: () => Promise<unknown> }> {
  const bin = fileURLToPath(new URL('../../bin/sealroom.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'start', '--port', '0', '--log-level', 'warn', '--no-app'], {
    env: { ...process.env, SEALROOM_STORE: store },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const stop = () => {
    child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /sealroom Bridge on (\S+)/.exec(stderr)?.[1];
      if (url !== undefined) resolve({ url, stop });
    });
    void exited.then(() => reject(new Error(`sealroom start ended: ${stderr}`)));
  });
}

describe('embedded Bridges on one PostgreSQL', () => {
  it("keep each other's ephemeral client keys: starting or closing one leaves the other's manage client working", async () => {
    const store = await server.createDatabase();
    const first = await startBridge({ store });
    const c = await startBridge({ store });
    const d = await startBridge({ store });
    try {
      expect(c.bridge.initialApiKey).toBeUndefined();
      await c.bridge.manage.createSolution('from-c');
      await d.close();
      expect((await c.bridge.manage.listSolutions()).map((s) => s.name)).toEqual(['from-c']);
    } finally {
      await c.close();
      await first.close();
    }
  });
});

describe('sealroom start --store', () => {
  it('starts two Bridge processes on one database; the second uses the operator key the first printed', async () => {
    const store = await server.createDatabase();
    const first = await startBridgeProcess('unused-with-store', ['--store', store, '--no-app']);
    try {
      const second = await startAgain(store);
      try {
        expect((await rest(second.url).get('/healthz')).body).toEqual({ status: 'ok' });
        const { solutionId } = await new ManageClient(first.url, first.apiKey).createSolution('from-first');
        expect((await new ManageClient(second.url, first.apiKey).listSolutions()).map((s) => s.solutionId)).toEqual([solutionId]);
      } finally {
        await second.stop();
      }
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });
});
