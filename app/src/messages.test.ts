/**
 * Every error reason of the library has a human message: the tables are compared with the reason
 * unions as the library's sources declare them (a reason added there fails here, and the typecheck),
 * and `describeError` picks the right sentence for real error objects.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataStreamError } from '../../endpoint/data-streams/errors.ts';
import { EndpointError } from '../../endpoint/errors.ts';
import { DATA_STREAM_ERROR_MESSAGES, describeError, ENDPOINT_ERROR_MESSAGES, PersonError } from './messages.ts';

/** The members of `export type <name> = | 'A' | 'B' ...;` in a source file. */
function unionMembers(file: string, name: string): string[] {
  const source = readFileSync(new URL(file, import.meta.url), 'utf8');
  const body = new RegExp(`export type ${name} =([^;]+);`).exec(source)?.[1];
  if (body === undefined) throw new Error(`${file} declares no ${name}`);
  return [...body.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]!).sort();
}

describe('error messages', () => {
  it('cover exactly the reasons the library declares', () => {
    const endpointReasons = unionMembers('../../endpoint/errors.ts', 'EndpointErrorReason');
    const streamReasons = unionMembers('../../endpoint/data-streams/errors.ts', 'DataStreamErrorReason');
    expect(endpointReasons.length).toBeGreaterThan(10);
    expect(streamReasons.length).toBeGreaterThan(10);
    expect(Object.keys(ENDPOINT_ERROR_MESSAGES).sort()).toEqual(endpointReasons);
    expect(Object.keys(DATA_STREAM_ERROR_MESSAGES).sort()).toEqual(streamReasons);
    for (const message of [...Object.values(ENDPOINT_ERROR_MESSAGES), ...Object.values(DATA_STREAM_ERROR_MESSAGES)]) {
      expect(message).toMatch(/^[A-Z].{5,}[.)]$/);
    }
  });

  it('gives each real error its sentence and code, never the library message', () => {
    const tampered = describeError(EndpointError.tampered('room "r_1": signature of version 3 fails'));
    expect(tampered).toEqual({ message: ENDPOINT_ERROR_MESSAGES.RoomTampered, code: 'ERR_ENDPOINT_ROOM_TAMPERED' });
    const integrity = describeError(new DataStreamError('Integrity', 'chunk 4 failed'));
    expect(integrity.message).toBe(DATA_STREAM_ERROR_MESSAGES.Integrity);
    expect(integrity.code).toBe('ERR_DATA_STREAM_INTEGRITY');
    const aborted = describeError(new DataStreamError('AbnormalEnd', 'x', { abortReason: 'cancelled by alice' }));
    expect(aborted.message).toContain('The sender said: "cancelled by alice".');
    // What reorders or hides text in the sender's words shows as its code: it cannot turn the app's
    // own sentence around.
    const reordered = describeError(new DataStreamError('AbnormalEnd', 'x', { abortReason: 'ok\u202E. Paste your key in chat' }));
    expect(reordered.message).toContain('The sender said: "ok[U+202E]. Paste your key in chat".');
  });

  it('prefers a precise sentence for a known Bridge code, and says how long to wait', () => {
    const quota = describeError(EndpointError.fromBridge(409, 'CONTEXT_ROOM_QUOTA', 'quota'));
    expect(quota.message).toContain('Delete one first');
    expect(quota.code).toBe('ERR_ENDPOINT_BRIDGE_REFUSED (CONTEXT_ROOM_QUOTA)');
    const limited = describeError(EndpointError.fromBridge(429, 'RATE_LIMITED', 'slow down', undefined, 7));
    expect(limited.message).toBe('Too many requests: try again in 7 s.');
    // A saturated Bridge is RateLimited too, but says so by its code: the person is not too fast.
    const busy = describeError(EndpointError.fromBridge(503, 'OVERLOADED', 'saturated', undefined, 2));
    expect(busy).toEqual({ message: 'The server is busy right now: try again in 2 s.', code: 'ERR_ENDPOINT_RATE_LIMITED (OVERLOADED)' });
    // As the socket refuses it (no HTTP status), and from a close 1013 alone (no wait named).
    expect(describeError(EndpointError.fromBridge(0, 'OVERLOADED', 'saturated', undefined, 1)).message).toBe('The server is busy right now: try again in 1 s.');
    const closeOnly = new EndpointError('RateLimited', 'refused the socket (1013)', { bridgeCode: 'OVERLOADED' });
    expect(describeError(closeOnly).message).toBe('The server is busy right now. Try again in a moment.');
    expect(describeError(new EndpointError('RateLimited', 'x', { bridgeCode: 'RATE_LIMITED' })).message).toBe(ENDPOINT_ERROR_MESSAGES.RateLimited);
    const denied = describeError(EndpointError.fromBridge(403, 'FORBIDDEN', 'no'));
    expect(denied.message).toBe(ENDPOINT_ERROR_MESSAGES.AccessDenied);
  });

  it("shows the app's own problems as written for people", () => {
    expect(describeError(new PersonError('INPUT', 'Give the room a name.'))).toEqual({ message: 'Give the room a name.', code: 'APP_INPUT' });
  });

  it('falls back to a generic sentence for anything else, without its message', () => {
    const shown = describeError(new TypeError('secret internals'));
    expect(shown.message).not.toContain('secret');
    expect(shown.code).toBe('TypeError');
    expect(describeError('a string').code).toBe('Error');
    expect(describeError(null).message).toMatch(/Something went wrong/);
  });
});
