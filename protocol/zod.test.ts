/**
 * protocol/zod.ts: the schemas the Endpoint bundles are zod/mini, which sets no locale. This file imports
 * no classic zod (which would set English itself), so the messages below come from protocol/zod.ts.
 */
import { describe, expect, it } from 'vitest';
import { nameSchema, sessionRequestSchema } from './api.ts';
import { clientMessageSchema } from './ws.ts';

function firstIssue(result: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) {
  expect(result.success).toBe(false);
  const issue = result.error!.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

describe('protocol schemas (zod/mini)', () => {
  it("give zod's English messages, not zod/mini's bare 'Invalid input'", () => {
    expect(firstIssue(nameSchema.safeParse('   '))).toBe(': Too small: expected string to have >=1 characters');
    expect(firstIssue(nameSchema.safeParse(7))).toBe(': Invalid input: expected string, received number');
    expect(firstIssue(clientMessageSchema.safeParse({ kind: 'ping', id: 1.5 }))).toBe('id: Invalid input: expected int, received number');
    expect(firstIssue(clientMessageSchema.safeParse({ kind: 'ping', id: 1, extra: true }))).toBe(': Unrecognized key: "extra"');
    expect(firstIssue(clientMessageSchema.safeParse({ kind: 'subscribe', id: 1, queries: [] }))).toBe('queries: Too small: expected array to have >=1 items');
  });

  it('keep custom messages and transforms', () => {
    expect(nameSchema.parse('  room  ')).toBe('room');
    const bad = sessionRequestSchema.safeParse({ solutionId: 'bad id!' });
    expect(firstIssue(bad)).toBe('solutionId: expected 1-64 characters of [A-Za-z0-9_-]');
  });
});
