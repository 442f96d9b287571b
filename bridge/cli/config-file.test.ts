/** `sealroom start --config <file>`: the options without flags (limits, realtime, ...) from a JSON file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startBridgeProcess } from '../../test/cli.ts';
import { mergeOptions } from './config-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealroom-cli-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sealroom start --config', () => {
  it('applies the limits in the file', async () => {
    const config = join(dir, 'bridge.json');
    writeFileSync(config, JSON.stringify({ limits: { authBodyBytes: 100 }, realtime: { maxSocketsPerUser: 4 } }));
    const bridge = await startBridgeProcess(join(dir, 'data'), ['--config', config]);
    try {
      const reply = await fetch(`${bridge.url}/v1/auth/challenge`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ solutionId: 'sol_x', publicKey: 'x'.repeat(200) }),
      });
      expect(reply.status).toBe(413);
      expect(((await reply.json()) as { error: { details: { limit: number } } }).error.details.limit).toBe(100);
    } finally {
      bridge.child.kill('SIGTERM');
      await bridge.exited;
    }
  });

  it('refuses a file that is missing, not JSON, or names an unknown option, with a clear message', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    const unknown = join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ limits: { noSuchLimit: 1 } }));
    // Past what Endpoints take (protocol/ws.ts STREAM_WINDOW_MAX_BYTES): refused at start, not at readers.
    const window = join(dir, 'window.json');
    writeFileSync(window, JSON.stringify({ realtime: { streamWindowMaxBytes: 64 * 1024 * 1024 } }));
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.json'), /cannot read .*ENOENT/],
      [bad, /is not valid JSON/],
      [unknown, /option "limits"/],
      [window, /streamWindowMaxBytes/],
    ];
    for (const [file, message] of cases) {
      const result = await runCli(['start', '--data-dir', join(dir, 'data2'), '--port', '0', '--config', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
    }
  });

  it('flags win over the file; the file wins over defaults', () => {
    expect(mergeOptions({ port: 1, limits: { bodyBytes: 5, authBodyBytes: 6 } as never }, { port: 2, limits: { bodyBytes: 7 } as never })).toEqual({
      port: 2,
      limits: { bodyBytes: 7, authBodyBytes: 6 },
    });
  });
});
