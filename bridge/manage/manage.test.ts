import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, mistype } from '../../test/identities.ts';
import { startBridge, type TestBridge } from '../../test/harness.ts';
import { main } from '../cli/main.ts';
import { ManageClient, ManageError } from './client.ts';

let t: TestBridge;
beforeAll(async () => {
  t = await startBridge();
});
afterAll(() => t.close());

async function refusal(promise: Promise<unknown>): Promise<ManageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ManageError) return error;
    throw error;
  }
  throw new Error('expected a ManageError');
}

describe('management API', () => {
  it('creates, lists and deletes solutions and contexts', async () => {
    const m = t.bridge.manage;
    const solution = await m.createSolution('acme');
    const context = await m.createContext(solution.solutionId, 'support');
    expect(await m.listContexts(solution.solutionId)).toEqual([context]);
    expect(await m.getContext(context.contextId)).toEqual(context);
    await m.deleteContext(context.contextId);
    expect((await refusal(m.getContext(context.contextId))).code).toBe('CONTEXT_NOT_FOUND');
    await m.deleteSolution(solution.solutionId);
    expect((await refusal(m.getSolution(solution.solutionId))).code).toBe('SOLUTION_NOT_FOUND');
    expect((await refusal(m.createContext(solution.solutionId, 'x'))).status).toBe(404);
  });

  it('adds users with public keys; one user id per key within a solution', async () => {
    const m = t.bridge.manage;
    const { solutionId } = await m.createSolution('users');
    const a = await m.createContext(solutionId, 'a');
    const b = await m.createContext(solutionId, 'b');
    const alice = await makeUser('alice');
    const mallory = await makeUser('mallory');
    await m.addContextUser(a.contextId, 'alice', alice.publicKey);
    await m.addContextUser(a.contextId, 'alice', alice.publicKey); // idempotent
    await m.addContextUser(b.contextId, 'alice', alice.publicKey); // same pair, another context
    expect((await m.listContextUsers(a.contextId)).map((u) => u.userId)).toEqual(['alice']);
    const otherKey = await refusal(m.addContextUser(b.contextId, 'alice', mallory.publicKey));
    expect(otherKey).toMatchObject({ status: 409, code: 'USER_CONFLICT', details: { reason: 'user_has_other_key' } });
    const otherUser = await refusal(m.addContextUser(b.contextId, 'alias', alice.publicKey));
    expect(otherUser.details).toEqual({ reason: 'key_has_other_user' });
    const badKey = await refusal(m.addContextUser(a.contextId, 'bob', mistype(alice.publicKey)));
    expect(badKey).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    const badId = await refusal(m.addContextUser(a.contextId, 'not valid!', alice.publicKey));
    expect(badId.code).toBe('VALIDATION_FAILED');
    await m.removeContextUser(a.contextId, 'alice');
    expect((await refusal(m.removeContextUser(a.contextId, 'alice'))).code).toBe('USER_NOT_FOUND');
  });

  it('answers an add racing the delete of its context with 404, never a server error', async () => {
    const m = t.bridge.manage;
    const { solutionId } = await m.createSolution('race');
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => makeUser(`racer${i}`)));
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const { contextId } = await m.createContext(solutionId, `race-${i}`);
      // Adds on either side of the delete: some land in the turn the context goes.
      const adds = users.map((u) => m.addContextUser(contextId, u.userId, u.publicKey));
      const [, ...added] = await Promise.allSettled([m.deleteContext(contextId), ...adds]);
      for (const a of added) {
        const o = a.status === 'fulfilled' ? 'added' : `${(a.reason as ManageError).status} ${(a.reason as ManageError).code}`;
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }
    }
    expect([...outcomes.keys()].filter((o) => o !== 'added' && o !== '404 CONTEXT_NOT_FOUND')).toEqual([]);
  });

  it("lists a context's users a page at a time, in user-id order, and the client reads every page", async () => {
    const m = t.bridge.manage;
    const { solutionId } = await m.createSolution('paged');
    const { contextId } = await m.createContext(solutionId, 'many');
    const ids = Array.from({ length: 7 }, (_, i) => `u${i}`);
    for (const id of ids) await m.addContextUser(contextId, id, (await makeUser(id)).publicKey);
    const first = await m.listContextUsersPage(contextId, { limit: 3 });
    expect(first.users.map((u) => u.userId)).toEqual(['u0', 'u1', 'u2']);
    expect(first.next).toBe('u2');
    const last = await m.listContextUsersPage(contextId, { after: 'u5', limit: 3 });
    expect(last).toEqual({ users: [expect.objectContaining({ userId: 'u6' })] });
    // Before, one answer held every user of the context, however many. The client reads every page.
    expect((await m.listContextUsers(contextId, undefined, 3)).map((u) => u.userId)).toEqual(ids);
    expect((await m.listContextUsers(contextId)).map((u) => u.userId)).toEqual(ids);
    expect((await refusal(m.listContextUsersPage(contextId, { limit: 1001 }))).code).toBe('VALIDATION_FAILED');
  });

  it('creates and revokes API keys, stores only hashes, and never revokes the last one', async () => {
    const m = t.bridge.manage;
    const created = await m.createApiKey('ci');
    expect(created.key).toMatch(/^srk_/);
    const ci = new ManageClient(t.bridge.url, created.key);
    expect(await ci.listSolutions()).toBeInstanceOf(Array);
    const keys = await m.listApiKeys();
    expect(keys.map((k) => k.name)).toEqual(['operator (first start)', 'ci']);
    expect(JSON.stringify(keys)).not.toContain(created.key);
    await m.revokeApiKey(created.id);
    expect((await refusal(ci.listSolutions())).status).toBe(401);
    const first = keys[0]!;
    expect((await refusal(m.revokeApiKey(first.id))).code).toBe('LAST_API_KEY');
    expect((await refusal(m.revokeApiKey('key_AAAAAAAAAAAAAAAAAAAAAA'))).code).toBe('API_KEY_NOT_FOUND');
  });

  it('refuses a missing or wrong API key and a user session token', async () => {
    expect((await refusal(new ManageClient(t.bridge.url, 'srk_wrong').listSolutions())).code).toBe('UNAUTHENTICATED');
    const response = await fetch(`${t.bridge.url}/manage/v1/solutions`);
    expect(response.status).toBe(401);
  });

  it('oversized management bodies are refused', async () => {
    const error = await refusal(t.bridge.manage.createSolution('x'.repeat(70_000)));
    expect(error).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' });
  });
});

describe('sealroom CLI', () => {
  async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('keygen prints a checksummed pair', async () => {
    const { code, out } = await run('keygen', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ privateKey: expect.stringMatching(/^srsk1/), publicKey: expect.stringMatching(/^srpk1/) });
  });

  it('runs operator tasks against a Bridge and reports refusals with their code', async () => {
    const auth = ['--url', t.bridge.url, '--api-key', t.bridge.initialApiKey!];
    const created = await run('solution', 'create', 'cli-co', ...auth);
    expect(created.code).toBe(0);
    const { solutionId } = JSON.parse(created.out) as { solutionId: string };
    const context = JSON.parse((await run('context', 'create', solutionId, 'room', ...auth)).out) as { contextId: string };
    const pair = JSON.parse((await run('keygen', '--json')).out) as { publicKey: string };
    expect((await run('user', 'add', context.contextId, 'zoe', pair.publicKey, ...auth)).code).toBe(0);
    expect(JSON.parse((await run('user', 'list', context.contextId, ...auth)).out)).toHaveLength(1);
    const missing = await run('context', 'delete', 'ctx_missing', ...auth);
    expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/CONTEXT_NOT_FOUND/) });
    const noKey = await run('solution', 'list', '--url', t.bridge.url, '--api-key', '');
    expect(noKey.code).toBe(1);
    expect(noKey.err).toMatch(/API key is required/);
  });
});
